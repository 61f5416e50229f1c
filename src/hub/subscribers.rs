//! The generators subscribed to the hub, and the fan-out that hands each
//! AMI message to the ones it concerns: events naming a generator's
//! Uniqueid, and queue-wide events (`QueueCallerLeave`, `QueueParams`) of
//! the queue its caller joined. Another caller's `QueueCallerLeave` goes
//! out stripped to what a position needs (queue, position, count): no
//! caller's channel, number or name reaches another call. Writes are
//! non-blocking: a generator that does not keep up is dropped (it then
//! comes back, or opens a session of its own), never waited for.
//!
//! A call the hub hosts (`hub --audio`) subscribes in-process
//! ([`super::local`]): the same messages, stripped the same way, go to a
//! function of its own instead of a socket.

use crate::ami::codec::Message;
use crate::control::Target;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a hosted call's subscription does with a message meant for it
/// (false: the call is over, forget it). Called under the list's lock, on
/// the AMI session's thread: it must not block.
pub(super) type Deliver = Box<dyn FnMut(&Message) -> bool + Send>;

/// Where a subscriber's messages go.
pub(super) enum Sink {
    /// A generator's socket, shared with the thread reading its commands
    /// (one descriptor).
    Socket(Arc<UnixStream>),
    /// A call this hub hosts, in-process.
    Local {
        deliver: Deliver,
        /// Its control target, once the call streams (the hub's control
        /// socket asks it directly, not over a relay).
        control: Option<Arc<dyn Target>>,
    },
}

pub(super) struct Subscriber {
    pub sink: Sink,
    /// Unique among subscribers of either kind ([`next_id`]).
    pub id: u64,
    pub uniqueid: String,
    /// The queue its caller joined (learned from `QueueCallerJoin`).
    pub queue: Option<String>,
}

pub(super) type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

/// A subscriber's number, never reused in the hub's life.
pub(super) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Hands `m` to the generators in `list` it concerns; drops the ones that
/// are gone or do not keep up. The caller holds the list's lock (the AMI
/// session holds it while the call table learns `m` too: see `accept`).
pub(super) fn fan_out(m: &Message, list: &mut Vec<Subscriber>) {
    let uniqueid = m.get("Uniqueid");
    let queue = m.get("Queue");
    let queue_wide = m.is("QueueCallerLeave") || m.is("QueueParams");
    let mut wire: Option<Vec<u8>> = None;
    let mut stripped: Option<Vec<u8>> = None;
    let mut stripped_msg: Option<Message> = None;
    list.retain_mut(|s| {
        let mine = !s.uniqueid.is_empty() && uniqueid == Some(s.uniqueid.as_str());
        if mine && m.is("QueueCallerJoin") {
            s.queue = queue.map(str::to_string);
        }
        let in_queue = queue_wide && queue.is_some() && s.queue.as_deref() == queue;
        if !(mine || in_queue) {
            return true;
        }
        let stream = match &mut s.sink {
            Sink::Socket(stream) => stream,
            Sink::Local { deliver, .. } => {
                let kept = if mine {
                    deliver(m)
                } else {
                    deliver(stripped_msg.get_or_insert_with(|| queue_only(m)))
                };
                if !kept {
                    tracing::debug!(uniqueid = %s.uniqueid, "hosted call over: unsubscribed");
                }
                return kept;
            }
        };
        let bytes = if mine {
            wire.get_or_insert_with(|| m.to_wire())
        } else {
            stripped.get_or_insert_with(|| queue_only(m).to_wire())
        };
        match (&**stream).write(bytes) {
            Ok(n) if n == bytes.len() => true,
            _ => {
                // Shut down, not just forgotten: the generator sees the end
                // (and opens a session of its own) instead of half a message.
                tracing::debug!(uniqueid = %s.uniqueid, "generator gone or too slow: dropped");
                stream.shutdown(std::net::Shutdown::Both).ok();
                false
            }
        }
    });
}

/// Another call's queue-wide event, with only what concerns the queue.
fn queue_only(m: &Message) -> Message {
    const KEEP: [&str; 8] = [
        "Event",
        "Privilege",
        "Queue",
        "Position",
        "Count",
        "Holdtime",
        "Calls",
        "Max",
    ];
    Message {
        fields: m
            .fields
            .iter()
            .filter(|(k, _)| KEEP.iter().any(|keep| k.eq_ignore_ascii_case(keep)))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(fields: &[(&str, &str)]) -> Message {
        Message::of(fields)
    }

    /// Alice leaving the queue, as Asterisk says it (her channel, number, name).
    fn alices_leave() -> Message {
        msg(&[
            ("Event", "QueueCallerLeave"),
            ("Channel", "Local/200@test-00000000;2"),
            ("CallerIDNum", "79001112233"),
            ("CallerIDName", "Alice"),
            ("Uniqueid", "1795452414.1"),
            ("Queue", "holdq"),
            ("Position", "1"),
            ("Count", "1"),
        ])
    }

    #[test]
    fn another_callers_leave_reaches_the_queue_without_who_left() {
        let q = queue_only(&alices_leave());
        let keys: Vec<&str> = q.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["Event", "Queue", "Position", "Count"]);
    }

    /// A hosted call's in-process subscriber that keeps what it is handed.
    fn hosted(id: u64, uniqueid: &str, got: &Arc<Mutex<Vec<Message>>>, keep: bool) -> Subscriber {
        let got = got.clone();
        Subscriber {
            sink: Sink::Local {
                deliver: Box::new(move |m: &Message| {
                    got.lock().unwrap().push(m.clone());
                    keep
                }),
                control: None,
            },
            id,
            uniqueid: uniqueid.into(),
            queue: None,
        }
    }

    #[test]
    fn hosted_calls_get_their_own_events_whole_and_another_callers_stripped() {
        let (alice, bob) = (Arc::default(), Arc::default());
        let mut list = vec![
            hosted(1, "1795452414.1", &alice, true),
            hosted(2, "1795452415.3", &bob, true),
        ];
        let join = |uid: &str, pos: &str| {
            msg(&[
                ("Event", "QueueCallerJoin"),
                ("Channel", "PJSIP/x"),
                ("CallerIDNum", "79001112233"),
                ("Uniqueid", uid),
                ("Queue", "holdq"),
                ("Position", pos),
                ("Count", pos),
            ])
        };
        fan_out(&join("1795452414.1", "1"), &mut list);
        fan_out(&join("1795452415.3", "2"), &mut list);
        let leave = alices_leave();
        fan_out(&leave, &mut list);
        // Another queue's and another call's own events reach nobody else.
        fan_out(
            &msg(&[("Event", "DTMFEnd"), ("Uniqueid", "1795452414.1"), ("Digit", "5")]),
            &mut list,
        );
        let alice = alice.lock().unwrap();
        let bob = bob.lock().unwrap();
        assert_eq!(alice.len(), 3, "her join, her leave, her key");
        assert_eq!(alice[1], leave, "her own leave whole");
        assert_eq!(bob.len(), 2, "his join, her leave");
        let keys: Vec<&str> = bob[1].fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["Event", "Queue", "Position", "Count"],
            "no number, name or channel of hers"
        );
    }

    #[test]
    fn a_hosted_call_that_is_over_is_unsubscribed_at_its_next_event() {
        let got = Arc::default();
        let mut list = vec![hosted(1, "1795452414.1", &got, false)];
        fan_out(
            &msg(&[("Event", "Newstate"), ("Uniqueid", "1795452414.1")]),
            &mut list,
        );
        assert!(list.is_empty());
        assert_ne!(next_id(), next_id());
    }
}
