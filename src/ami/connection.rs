//! One TCP connection to Asterisk's manager port, as both AMI users (a
//! generator's own session and the hub) need it: connect with a timeout,
//! log in, send actions tagged with an `ActionID`, and read what comes
//! back through the sans-IO [`Decoder`] (whose line and field limits bound
//! memory whatever the server sends).
//!
//! Blocking reads that tick every second rather than a task: each user has
//! one connection on a thread of its own and wakes to send its periodic
//! actions; [`Connection::read_or_wake`] also wakes when something is asked
//! of it (a redirect: sent at once, not at the tick). Waiting for a response keeps everything else read on the way
//! (events, garbage) in order, for the user's next [`Connection::read`] —
//! up to [`MAX_PENDING`] items and [`MAX_PENDING_BYTES`]: a server that
//! floods events before it answers costs a count of dropped items, not
//! memory (issue 18: 100 MB of events before a Login answer grew a
//! generator to 0.6 GB).

use super::codec::{Decoder, Item, Message};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a blocked read returns, so the user can send what is due.
pub const READ_TICK: Duration = Duration::from_secs(1);
/// How long Asterisk may take to answer a login.
const LOGIN_ANSWER: Duration = Duration::from_secs(5);
/// The event classes every holdmix session asks for: `user` carries the
/// dialplan's `UserEvent(HoldmixCall,CallKey: ...)` (a manager.conf user
/// without it gets the rest, and calls key by their Uniqueid).
const EVENTS: &str = "call,dtmf,agent,user";
const READ_BUF: usize = 16 * 1024;
/// Most items kept while waiting for a response (a queue's status answer
/// for a few hundred callers fits many times over).
pub const MAX_PENDING: usize = 4096;
/// Most bytes (as [`weight`] counts them) kept while waiting.
pub const MAX_PENDING_BYTES: usize = 2 << 20;

pub struct Connection {
    sock: TcpStream,
    decoder: Decoder,
    /// Items read while waiting for a response, handed on afterwards.
    pending: Pending,
    next_id: u64,
}

impl Connection {
    /// Connects to `addr` (`host:port`); reads then tick every [`READ_TICK`].
    pub fn open(addr: &str) -> Result<Connection, String> {
        let resolved = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let sock =
            TcpStream::connect_timeout(&resolved, CONNECT_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
        sock.set_read_timeout(Some(READ_TICK))
            .map_err(|e| e.to_string())?;
        sock.set_nodelay(true).ok();
        Ok(Connection {
            sock,
            decoder: Decoder::new(),
            pending: Pending::default(),
            next_id: 1,
        })
    }

    /// Logs in with `id` as the ActionID; an error says why (never with
    /// the secret).
    pub fn login(&mut self, user: &str, secret: &str, id: &str) -> Result<(), String> {
        self.send_as(
            "Login",
            &[("Username", user), ("Secret", secret), ("Events", EVENTS)],
            id,
        )?;
        let answer = self.response(id, LOGIN_ANSWER)?;
        if answer.get("Response") != Some("Success") {
            return Err(format!(
                "login refused: {}",
                answer.get("Message").unwrap_or("no reason given")
            ));
        }
        Ok(())
    }

    /// The next ActionID of the numbered series (1, 2, …).
    pub fn next_id(&mut self) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        id
    }

    /// Sends an action with the next numbered ActionID, returned.
    pub fn send(&mut self, action: &str, fields: &[(&str, &str)]) -> Result<String, String> {
        let id = self.next_id();
        self.send_as(action, fields, &id)?;
        Ok(id)
    }

    /// Sends an action with the ActionID `id` (last, after `fields`).
    pub fn send_as(&mut self, action: &str, fields: &[(&str, &str)], id: &str) -> Result<(), String> {
        let mut m = Message::action(action, fields);
        m.fields.push(("ActionID".into(), id.into()));
        self.sock
            .write_all(&m.to_wire())
            .map_err(|e| format!("send {action}: {e}"))
    }

    /// What was read since the last call: first what came while waiting
    /// for a response (it is older), then up to a second's worth of new
    /// bytes as items. `None` when the server closed.
    pub fn read(&mut self) -> Result<Option<Vec<Item>>, String> {
        let Some(fresh) = self.fill()? else {
            return Ok(None);
        };
        let (mut items, dropped) = self.pending.take();
        if dropped > 0 {
            tracing::warn!(
                "AMI: {dropped} messages dropped while waiting for a response \
                 (over {MAX_PENDING} messages or {} KiB)",
                MAX_PENDING_BYTES / 1024
            );
        }
        items.extend(fresh);
        Ok(Some(items))
    }

    /// Like [`Connection::read`], but it also returns (with what was kept,
    /// if anything) as soon as something is sent on `wake`: the caller
    /// then sends it at once instead of at the next tick.
    pub fn read_or_wake<T>(&mut self, wake: &super::wake::Receiver<T>) -> Result<Option<Vec<Item>>, String> {
        use std::os::fd::AsFd;
        if super::wake::wait(self.sock.as_fd(), wake, READ_TICK) {
            return self.read();
        }
        let (items, _) = self.pending.take();
        Ok(Some(items))
    }

    /// One read from the socket, decoded; empty at a tick.
    fn fill(&mut self) -> Result<Option<Vec<Item>>, String> {
        let mut buf = [0u8; READ_BUF];
        match self.sock.read(&mut buf) {
            Ok(0) => Ok(None),
            Ok(n) => {
                let mut out = Vec::new();
                self.decoder.feed(&buf[..n], &mut out);
                Ok(Some(out))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(Some(Vec::new()))
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Waits for the response carrying `id`; everything else read on the
    /// way (events, garbage, even what came in the same read after the
    /// response) is kept, in order and within bounds, for [`Connection::read`].
    pub fn response(&mut self, id: &str, limit: Duration) -> Result<Message, String> {
        let until = Instant::now() + limit;
        let mut found = None;
        while found.is_none() && Instant::now() < until {
            let Some(items) = self.fill()? else {
                return Err("connection closed".into());
            };
            sort_response(items, id, &mut found, &mut self.pending);
        }
        found.ok_or_else(|| "no response".into())
    }

    /// The events of the list answering action `id` (after its response),
    /// up to its `...Complete`. They are also kept for [`Connection::read`].
    /// A list longer than the pending bounds is an error, not a hazard.
    pub fn list(&mut self, id: &str, limit: Duration) -> Result<Vec<Message>, String> {
        self.response(id, limit)?;
        let until = Instant::now() + limit;
        let mut out = list_events(&self.pending.items, id);
        let mut size: usize = out.iter().map(message_weight).sum();
        while !list_complete(&out) && Instant::now() < until {
            let Some(items) = self.fill()? else {
                return Err("connection closed".into());
            };
            let more = list_events(&items, id);
            size += more.iter().map(message_weight).sum::<usize>();
            out.extend(more);
            if out.len() > MAX_PENDING || size > MAX_PENDING_BYTES {
                return Err("the list is too long".into());
            }
            for item in items {
                self.pending.push(item);
            }
        }
        if list_complete(&out) {
            Ok(out)
        } else {
            Err("the list never completed".into())
        }
    }
}

/// What was read while waiting for a response, bounded: past
/// [`MAX_PENDING`] items or [`MAX_PENDING_BYTES`], items are counted and
/// dropped (the newest: what was kept stays in order).
#[derive(Debug, Default)]
struct Pending {
    items: Vec<Item>,
    bytes: usize,
    dropped: usize,
}

impl Pending {
    fn push(&mut self, item: Item) {
        let w = weight(&item);
        if self.items.len() >= MAX_PENDING || self.bytes + w > MAX_PENDING_BYTES {
            self.dropped += 1;
        } else {
            self.bytes += w;
            self.items.push(item);
        }
    }

    /// The items kept and the count dropped; empties the store (and gives
    /// its memory back: the next wait starts from nothing).
    fn take(&mut self) -> (Vec<Item>, usize) {
        let Pending { items, dropped, .. } = std::mem::take(self);
        (items, dropped)
    }
}

/// What an item costs in memory, roughly: its text and a fixed overhead
/// per string and per item.
fn weight(item: &Item) -> usize {
    match item {
        Item::Message(m) => message_weight(m),
        Item::Banner(s) | Item::Garbage(s) => 64 + s.len(),
    }
}

fn message_weight(m: &Message) -> usize {
    64 + m
        .fields
        .iter()
        .map(|(k, v)| 64 + k.len() + v.len())
        .sum::<usize>()
}

/// Takes the first response to action `id` out of `items` into `found`
/// (unless one was found already); everything else goes to `rest`, in order.
fn sort_response(items: Vec<Item>, id: &str, found: &mut Option<Message>, rest: &mut Pending) {
    for item in items {
        match item {
            Item::Message(m)
                if found.is_none() && m.get("Response").is_some() && m.get("ActionID") == Some(id) =>
            {
                *found = Some(m);
            }
            other => rest.push(other),
        }
    }
}

/// The events among `items` that belong to the list answering action `id`.
fn list_events(items: &[Item], id: &str) -> Vec<Message> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Message(m) if m.get("ActionID") == Some(id) && m.event().is_some() => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn list_complete(events: &[Message]) -> bool {
    events.iter().any(|m| m.get("EventList") == Some("Complete"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(fields: &[(&str, &str)]) -> Item {
        Item::Message(Message {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    #[test]
    fn a_response_is_matched_by_its_action_id_and_the_rest_kept_in_order() {
        let items = vec![
            msg(&[("Event", "Newexten"), ("ActionID", "3")]),
            msg(&[("Response", "Success"), ("ActionID", "2")]),
            Item::Garbage("junk".into()),
            msg(&[
                ("Response", "Error"),
                ("ActionID", "3"),
                ("Message", "No such channel"),
            ]),
            msg(&[("Response", "Success"), ("ActionID", "3")]),
        ];
        let (mut found, mut rest) = (None, Pending::default());
        sort_response(items, "3", &mut found, &mut rest);
        let rest = rest.items;
        let found = found.expect("the response");
        assert_eq!(found.get("Message"), Some("No such channel"));
        assert_eq!(
            rest.len(),
            4,
            "the event, the other response, garbage, a second answer"
        );
        assert!(matches!(&rest[0], Item::Message(m) if m.is("Newexten")));
        assert!(matches!(&rest[1], Item::Message(m) if m.get("ActionID") == Some("2")));
        assert!(matches!(&rest[2], Item::Garbage(_)));
    }

    #[test]
    fn an_event_carrying_the_action_id_is_not_the_response() {
        let (mut found, mut rest) = (None, Pending::default());
        sort_response(
            vec![msg(&[("Event", "QueueEntry"), ("ActionID", "4")])],
            "4",
            &mut found,
            &mut rest,
        );
        assert!(found.is_none());
        assert_eq!(rest.items.len(), 1);
    }

    #[test]
    fn a_list_is_its_events_up_to_complete() {
        let items = vec![
            msg(&[("Response", "Success"), ("ActionID", "4"), ("EventList", "start")]),
            msg(&[("Event", "QueueParams"), ("ActionID", "4")]),
            msg(&[("Event", "Hangup")]),
            msg(&[("Event", "QueueEntry"), ("ActionID", "5")]),
            msg(&[("Event", "QueueEntry"), ("ActionID", "4")]),
        ];
        let events = list_events(&items, "4");
        assert_eq!(events.len(), 2);
        assert!(!list_complete(&events));
        let done = list_events(
            &[msg(&[
                ("Event", "QueueStatusComplete"),
                ("ActionID", "4"),
                ("EventList", "Complete"),
            ])],
            "4",
        );
        assert!(list_complete(&done));
    }

    #[test]
    fn what_is_kept_while_waiting_is_bounded_by_count_and_bytes() {
        let event = || msg(&[("Event", "Newexten"), ("Channel", "Local/900@flood-1;2")]);
        let mut p = Pending::default();
        for _ in 0..MAX_PENDING + 10 {
            p.push(event());
        }
        assert_eq!((p.items.len(), p.dropped), (MAX_PENDING, 10));
        let (kept, dropped) = p.take();
        assert_eq!((kept.len(), dropped), (MAX_PENDING, 10));
        assert_eq!((p.items.capacity(), p.bytes, p.dropped), (0, 0, 0), "emptied");
        let big = Item::Garbage("x".repeat(MAX_PENDING_BYTES / 4));
        for _ in 0..8 {
            p.push(big.clone());
        }
        assert_eq!(p.items.len(), 3, "three fit in the byte budget");
        assert!(p.bytes <= MAX_PENDING_BYTES);
        assert_eq!(p.dropped, 5);
        // A small item still fits where a big one did not.
        p.push(event());
        assert_eq!(p.items.len(), 4);
    }
}
