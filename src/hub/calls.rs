//! The hub's table of live calls: what AMI said of each (its channel, its
//! caller's number, its queue and place in it), by Uniqueid. A generator's
//! greeting comes from it, and once the answer to `CoreShowChannels` is
//! complete, a Uniqueid missing from it is a call that is over. A hub that
//! has just started (a restart under calls in progress) greets nobody until
//! it has both lists, `CoreShowChannels` and `QueueStatus`: a generator
//! coming back must learn its channel and its queue again.
//!
//! The place in the queue is kept because app_queue sends a caller's
//! `QueueCallerJoin` before it starts hold music, so before that call's
//! generator exists: without the hub's memory of it the generator would
//! wait for the next `QueueStatus` (up to 10 s) to learn its position. It
//! follows the queue as the generator's own view does (a caller ahead
//! leaving moves it up one place; a `QueueEntry` states it outright) and is
//! forgotten at the call's `QueueCallerLeave` or `Hangup`.

use super::protocol::{Greeting, Known};
use crate::ami::codec::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What AMI said of a live call.
#[derive(Default, Clone)]
pub(super) struct Call {
    pub channel: String,
    pub caller: String,
    /// The queue it waits in (`QueueCallerJoin`, `QueueEntry`).
    pub queue: String,
    /// Its place in that queue, as last heard.
    pub position: Option<u32>,
    /// Dialplan context and extension, language and account code as last
    /// heard, and the extension of the first event heard (the DID): what
    /// a routes file's conditions look at (`routes::Facts`).
    pub context: String,
    pub exten: String,
    pub did: String,
    pub language: String,
    pub accountcode: String,
    /// On hold now: a `MusicOnHoldStart` without its stop yet.
    pub on_hold: bool,
    /// What the dialplan said the call is known by across channels
    /// (`UserEvent(HoldmixCall,CallKey: ...)`, e.g. its SIP Call-ID): a
    /// call held again on another channel goes on where it was.
    pub key: String,
}

impl Call {
    /// What a routes file's conditions look at.
    pub fn facts(&self) -> crate::routes::Facts {
        crate::routes::Facts {
            queue: self.queue.clone(),
            context: self.context.clone(),
            exten: self.exten.clone(),
            did: self.did.clone(),
            language: self.language.clone(),
            accountcode: self.accountcode.clone(),
        }
    }

    /// The channel fields every channel event carries (`Newchannel`,
    /// `Newstate`, `QueueCallerJoin`, `CoreShowChannel`...), as they are now.
    fn learn_channel(&mut self, m: &Message) {
        let set = |field: &mut String, key: &str| {
            if let Some(v) = m.get(key) {
                // Bounded: AMI values are Asterisk's, but a hub keeps
                // 100,000 calls.
                *field = v.chars().take(FACT_LEN).collect();
            }
        };
        set(&mut self.context, "Context");
        set(&mut self.exten, "Exten");
        set(&mut self.language, "Language");
        set(&mut self.accountcode, "AccountCode");
        if self.did.is_empty() {
            self.did = self.exten.clone();
        }
    }

    /// A `CallKey` the dialplan gave: one the generator would refuse (too
    /// long, control characters) is not kept, so the call keys by its
    /// Uniqueid as without one.
    fn learn_key(&mut self, m: &Message) {
        match m.get("CallKey").map(crate::cli::parse_call_key) {
            Some(Ok(key)) => self.key = key,
            Some(Err(e)) => tracing::warn!(channel = %self.channel, "UserEvent HoldmixCall: CallKey: {e}"),
            None => tracing::warn!(channel = %self.channel, "UserEvent HoldmixCall without a CallKey"),
        }
    }
}

/// The dialplan's word on what a call is known by across channels:
/// `UserEvent(HoldmixCall,CallKey: <key>)` (AMI class `user`).
pub(super) const CALL_KEY_EVENT: &str = "HoldmixCall";

/// Longest fact kept of a call (Asterisk's own fields are at most 80).
const FACT_LEN: usize = 80;

/// What AMI said of each live call, by Uniqueid. Bounded: a hub that
/// missed hangups starts over rather than grow.
#[derive(Default)]
pub(super) struct Calls {
    pub by_uniqueid: std::collections::HashMap<String, Call>,
    /// The table holds every live call: logged in, and the answer to
    /// `CoreShowChannels` is complete. Only then does a Uniqueid missing
    /// from it mean the call is gone.
    pub complete: bool,
    /// The answer to the hub's `QueueStatus` is complete (each call's
    /// queue learned from its `QueueEntry`).
    pub queues_listed: bool,
    /// Both lists have been complete once since the hub started: it may
    /// greet generators.
    pub rebuilt: bool,
    /// Callers in each queue, as last heard (`Count` of a join or leave,
    /// `Calls` of `QueueParams`).
    counts: std::collections::HashMap<String, u32>,
    /// Calls in the table with `on_hold` set (kept as they change, for the
    /// metrics: a scrape does not walk 100,000 calls).
    held: usize,
    /// The route each call's realtime lookup picked (for `status` and
    /// `list` on the control socket), until its hangup. Apart from the
    /// table: a lookup does not make a call known.
    routes: std::collections::HashMap<String, std::sync::Arc<str>>,
}

pub(super) type SharedCalls = Arc<Mutex<Calls>>;

/// Calls remembered at most (each a few hundred bytes): a hub that
/// missed hangups starts over rather than grow.
pub(super) const MAX_CALLS: usize = 100_000;
/// Queues whose count is remembered at most (a PBX has tens).
const MAX_QUEUES: usize = 10_000;

/// The ActionID of the hub's `CoreShowChannels`: its list's end makes the
/// table complete.
pub(super) const CHANNELS_ID: &str = "channels";
/// The ActionID of the hub's `QueueStatus`.
pub(super) const STATUS_ID: &str = "status";

impl Calls {
    pub fn learn(&mut self, m: &Message) {
        if m.is("CoreShowChannelsComplete") && m.get("ActionID") == Some(CHANNELS_ID) {
            self.complete = true;
            self.rebuilt |= self.queues_listed;
            return;
        }
        if m.is("QueueStatusComplete") && m.get("ActionID") == Some(STATUS_ID) {
            self.queues_listed = true;
            self.rebuilt |= self.complete;
            return;
        }
        if m.is("QueueParams") {
            self.count(m.get("Queue"), number(m, "Calls"));
            return;
        }
        let (Some(uid), Some(channel)) = (m.get("Uniqueid"), m.get("Channel")) else {
            return;
        };
        if m.is("Hangup") {
            if self.by_uniqueid.remove(uid).is_some_and(|c| c.on_hold) {
                self.held -= 1;
            }
            self.routes.remove(uid);
            return;
        }
        if m.is("QueueCallerJoin") || m.is("QueueCallerLeave") {
            self.count(m.get("Queue"), number(m, "Count"));
        }
        if m.is("QueueCallerLeave") {
            self.left(m, uid);
        }
        if self.by_uniqueid.len() >= MAX_CALLS && !self.by_uniqueid.contains_key(uid) {
            self.by_uniqueid.clear();
            self.held = 0;
        }
        let e = self.by_uniqueid.entry(uid.to_string()).or_default();
        // A call's hold: counted once however many starts (a class change
        // restarts it), until its stop or its hangup.
        let hold = if m.is("MusicOnHoldStart") {
            Some(true)
        } else if m.is("MusicOnHoldStop") {
            Some(false)
        } else {
            None
        };
        if let Some(now) = hold.filter(|now| *now != e.on_hold) {
            e.on_hold = now;
            if now {
                self.held += 1;
            } else {
                self.held -= 1;
            }
        }
        e.channel = channel.to_string();
        if !m.is("QueueEntry") {
            e.learn_channel(m);
        }
        if let Some(num) = m
            .get("CallerIDNum")
            .filter(|n| !n.is_empty() && *n != "<unknown>")
        {
            e.caller = num.to_string();
        }
        if m.is("UserEvent") && m.get("UserEvent") == Some(CALL_KEY_EVENT) {
            e.learn_key(m);
        }
        if m.is("QueueCallerJoin") || m.is("QueueEntry") {
            e.queue = m.get("Queue").unwrap_or("").to_string();
            e.position = number(m, "Position");
        } else if m.is("QueueCallerLeave") || m.is("QueueCallerAbandon") {
            e.queue.clear();
            e.position = None;
        }
    }

    /// A queue's count, as last heard.
    fn count(&mut self, queue: Option<&str>, n: Option<u32>) {
        let (Some(queue), Some(n)) = (queue, n) else {
            return;
        };
        if self.counts.len() >= MAX_QUEUES && !self.counts.contains_key(queue) {
            self.counts.clear();
        }
        self.counts.insert(queue.to_string(), n);
    }

    /// Someone left `m`'s queue: the ones behind move up a place, as a
    /// generator's own view moves (`QueueCallerAbandon` is always followed
    /// by the leave, so only the leave counts). A walk over the table, at
    /// the pace callers leave queues.
    fn left(&mut self, m: &Message, uid: &str) {
        let (Some(queue), Some(left)) = (m.get("Queue"), number(m, "Position")) else {
            return;
        };
        for (other, call) in self.by_uniqueid.iter_mut() {
            if other != uid
                && call.queue == queue
                && let Some(p) = call.position.filter(|&p| p > left)
            {
                call.position = Some(p - 1);
            }
        }
    }

    /// What the table says of `uniqueid`, for a generator's greeting.
    pub fn lookup(&self, uniqueid: &str) -> (Call, Known) {
        match self.by_uniqueid.get(uniqueid) {
            Some(call) => (call.clone(), Known::Yes),
            None if self.complete && !uniqueid.is_empty() => (Call::default(), Known::No),
            None => (Call::default(), Known::Unsure),
        }
    }

    /// Calls on hold now, as AMI said (a hub started under calls already
    /// on hold counts them from their next `MusicOnHoldStart`).
    pub fn on_hold(&self) -> usize {
        self.held
    }

    /// Callers in `queue`, as last heard.
    pub fn count_of(&self, queue: &str) -> Option<u32> {
        self.counts.get(queue).copied()
    }

    /// The route a realtime lookup picked for `uniqueid`.
    pub fn routed(&mut self, uniqueid: &str, route: &str) {
        if self.routes.len() >= MAX_CALLS && !self.routes.contains_key(uniqueid) {
            self.routes.clear();
        }
        self.routes.insert(uniqueid.to_string(), route.into());
    }

    /// The route picked for `uniqueid`, if a lookup picked one.
    pub fn route_of(&self, uniqueid: &str) -> Option<&str> {
        self.routes.get(uniqueid).map(|r| &**r)
    }

    /// What a generator of `uniqueid` is greeted with (on the socket, or
    /// in-process for a hosted call: the same facts).
    pub fn greeting(&self, uniqueid: &str) -> Greeting {
        let (call, known) = self.lookup(uniqueid);
        Greeting {
            count: call.position.and_then(|_| self.count_of(&call.queue)),
            route: self.route_of(uniqueid).unwrap_or_default().to_string(),
            channel: call.channel,
            uniqueid: uniqueid.to_string(),
            caller: call.caller,
            position: call.position,
            queue: call.queue,
            language: call.language,
            call_key: call.key,
            known,
        }
    }
}

/// How long a hub that has just started holds greetings for its lists of
/// live calls and queue entries (Asterisk answers both in milliseconds;
/// one that does not answer must not keep generators waiting for ever).
const REBUILD_WAIT: Duration = Duration::from_secs(1);
/// How long the subscription of a call missing from the hub's complete
/// list of live calls waits for it to appear before the greeting says
/// `Known: no` (the call is over). Asterisk starts a call's generator right
/// after the events that name it, and the hub reads them on its own
/// thread: under load the generator can subscribe first. A generator of a
/// call that is really over (forked after its stop) exits this much later,
/// which nobody hears.
const UNKNOWN_WAIT: Duration = Duration::from_millis(500);

/// Holds the greeting of `uniqueid` (on the thread that greets: a
/// socket's, or a hosted call's preparation) until the hub's view of live
/// calls is rebuilt after its start, then while the complete list lacks
/// the call, for its events that may still be on their way. Bounded: an
/// Asterisk that does not answer gets `Unsure`, a missing call `Known: no`.
pub(super) fn hold_greeting(calls: &SharedCalls, started: Instant, uniqueid: &str) {
    wait_rebuilt(calls, started);
    let since = Instant::now();
    let missing = || {
        let c = calls.lock().unwrap_or_else(|e| e.into_inner());
        c.lookup(uniqueid).1 == Known::No
    };
    while since.elapsed() < UNKNOWN_WAIT && missing() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the hub's view of live calls is rebuilt after its start
/// (`started`), or [`REBUILD_WAIT`] from it: until greetings are held no
/// longer.
pub(super) fn wait_rebuilt(calls: &SharedCalls, started: Instant) {
    while started.elapsed() < REBUILD_WAIT && !calls.lock().map(|c| c.rebuilt).unwrap_or(true) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A whole number from AMI; anything else is not known.
fn number(m: &Message, key: &str) -> Option<u32> {
    m.get(key)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::codec::{Decoder, Item};

    const ALICE: &str = "1795452414.1";
    const BOB: &str = "1795452415.3";

    #[test]
    fn the_wait_for_the_rebuilt_view_ends_with_it_and_is_bounded() {
        // Rebuilt 200 ms in: the wait ends then, not before (a lower
        // bound, so a slow machine cannot fail it).
        let calls: SharedCalls = Arc::new(Mutex::new(Calls::default()));
        let started = Instant::now();
        let later = calls.clone();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            later.lock().unwrap().rebuilt = true;
        });
        wait_rebuilt(&calls, started);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(calls.lock().unwrap().rebuilt || started.elapsed() >= REBUILD_WAIT);
        setter.join().unwrap();
        // Never rebuilt (Asterisk does not answer): the bound.
        let never: SharedCalls = Arc::new(Mutex::new(Calls::default()));
        let started = Instant::now();
        wait_rebuilt(&never, started);
        assert!(started.elapsed() >= REBUILD_WAIT);
    }

    /// The messages of a byte-exact capture (tests/ami, from Asterisk 22.10.1).
    fn capture(name: &str) -> Vec<Message> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/ami")
            .join(name);
        let bytes = std::fs::read(path).expect("capture");
        let mut items = Vec::new();
        Decoder::new().feed(&bytes, &mut items);
        items
            .into_iter()
            .filter_map(|i| match i {
                Item::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn msg(fields: &[(&str, &str)]) -> Message {
        Message::of(fields)
    }

    /// The table after the capture's messages up to the first that `stop` matches.
    fn until(stop: impl Fn(&Message) -> bool) -> Calls {
        let mut calls = Calls::default();
        for m in capture("session-queue-dtmf.raw") {
            if stop(&m) {
                break;
            }
            calls.learn(&m);
        }
        calls
    }

    #[test]
    fn a_join_before_hold_music_is_remembered_for_the_greeting() {
        // Bob's join comes before his MusicOnHoldStart (app_queue's order):
        // at his hold start the hub has his place and the queue's count.
        let calls = until(|m| m.is("MusicOnHoldStart") && m.get("Uniqueid") == Some(BOB));
        assert_eq!(calls.on_hold(), 1, "Alice is on hold, Bob not yet");
        let (bob, known) = calls.lookup(BOB);
        assert_eq!(known, Known::Yes);
        assert_eq!((bob.queue.as_str(), bob.position), ("holdq", Some(2)));
        assert_eq!(calls.count_of("holdq"), Some(2));
        let (alice, _) = calls.lookup(ALICE);
        assert_eq!(alice.position, Some(1));
    }

    #[test]
    fn what_routes_look_at_is_known_before_the_class_lookup() {
        // Bob (session-queue-announce.raw, realtime class): everything up
        // to his first MusicOnHoldStart, which Asterisk sends after it has
        // looked up his class.
        const BOB: &str = "1795734134.39";
        let mut calls = Calls::default();
        for m in capture("session-queue-announce.raw") {
            if m.is("MusicOnHoldStart") && m.get("Uniqueid") == Some(BOB) {
                break;
            }
            calls.learn(&m);
        }
        let (bob, known) = calls.lookup(BOB);
        assert_eq!(known, Known::Yes);
        assert_eq!(
            bob.facts(),
            crate::routes::Facts {
                queue: "announceq".into(),
                context: "test".into(),
                exten: "401".into(),
                did: "401".into(),
                language: "en".into(),
                accountcode: String::new(),
            }
        );
    }

    #[test]
    fn a_caller_ahead_leaving_moves_the_place_and_a_leave_forgets_it() {
        // Alice hangs up: her abandon and leave (Position 1, Count 1) move
        // Bob to 1, as his generator's own view would; her place is gone.
        let calls = until(|m| m.is("Hangup") && m.get("Uniqueid") == Some(ALICE));
        let (bob, _) = calls.lookup(BOB);
        assert_eq!((bob.position, calls.count_of("holdq")), (Some(1), Some(1)));
        let (alice, _) = calls.lookup(ALICE);
        assert_eq!((alice.queue.as_str(), alice.position), ("", None));
        // The whole capture: both hung up, nothing of them is kept.
        let calls = until(|_| false);
        assert_eq!(calls.on_hold(), 0);
        assert!(
            calls.by_uniqueid.is_empty(),
            "{:?}",
            calls.by_uniqueid.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_dialplan_names_the_call_and_each_channel_keeps_its_key_until_hangup() {
        // session-callkey.raw: two channels, each announcing the same key
        // with `UserEvent(HoldmixCall,CallKey: ...)`, then hanging up.
        let key = "921b00e4-fec0-4a36-9397-a40ab74e1893@10.0.0.5";
        let mut calls = Calls::default();
        let mut seen = Vec::new();
        for m in capture("session-callkey.raw") {
            let uid = m.get("Uniqueid").unwrap_or("").to_string();
            let is_key = m.is("UserEvent");
            calls.learn(&m);
            if is_key {
                seen.push((uid.clone(), calls.lookup(&uid).0.key));
            }
        }
        assert_eq!(
            seen,
            [
                ("1796520591.1".to_string(), key.to_string()),
                ("1796520595.3".to_string(), key.to_string())
            ]
        );
        assert!(calls.by_uniqueid.is_empty(), "forgotten at their hangups");
        // Another UserEvent, or a key a generator would refuse, names nothing.
        let mut calls = Calls::default();
        for (name, value) in [
            ("Other", "k"),
            ("HoldmixCall", "bad\u{7}key"),
            ("HoldmixCall", ""),
        ] {
            calls.learn(&Message {
                fields: [
                    ("Event", "UserEvent"),
                    ("Channel", "PJSIP/a-1"),
                    ("Uniqueid", "1.1"),
                    ("UserEvent", name),
                    ("CallKey", value),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            });
        }
        assert_eq!(calls.lookup("1.1").0.key, "");
    }

    #[test]
    fn a_status_list_states_places_and_counts_for_a_restarted_hub() {
        // A hub started under calls in progress learns each place from its
        // QueueStatus (the capture's answer), the count from QueueParams.
        let mut calls = Calls::default();
        let list = capture("session-queue-dtmf.raw")
            .into_iter()
            .skip_while(|m| !m.is("QueueParams"))
            .take_while(|m| !m.is("QueueStatusComplete"));
        for m in list {
            calls.learn(&m);
        }
        let (alice, _) = calls.lookup(ALICE);
        let (bob, _) = calls.lookup(BOB);
        assert_eq!((alice.position, bob.position), (Some(1), Some(2)));
        assert_eq!(calls.count_of("holdq"), Some(2));
        assert_eq!(bob.queue, "holdq");
    }

    #[test]
    fn remembered_joins_are_bounded() {
        // A hub that missed every hangup (a lost AMI session) starts over
        // rather than grow: never more than MAX_CALLS calls remembered.
        let mut calls = Calls::default();
        for i in 0..MAX_CALLS + 10 {
            let uid = format!("1795450000.{i}");
            let chan = format!("Local/200@test-{i:08x};2");
            calls.learn(&msg(&[
                ("Event", "QueueCallerJoin"),
                ("Channel", &chan),
                ("Uniqueid", &uid),
                ("Queue", "holdq"),
                ("Position", "1"),
                ("Count", "1"),
            ]));
            assert!(calls.by_uniqueid.len() <= MAX_CALLS);
        }
        // The newest are there with their places.
        let (last, known) = calls.lookup(&format!("1795450000.{}", MAX_CALLS + 9));
        assert_eq!((known, last.position), (Known::Yes, Some(1)));
        // Garbage in a place is not a place.
        calls.learn(&msg(&[
            ("Event", "QueueCallerJoin"),
            ("Channel", "Local/1"),
            ("Uniqueid", "x.1"),
            ("Queue", "holdq"),
            ("Position", "-3"),
            ("Count", "lots"),
        ]));
        let (odd, _) = calls.lookup("x.1");
        assert_eq!(odd.position, None);
        // Counts are kept per queue, a bounded few.
        for i in 0..MAX_QUEUES + 10 {
            calls.count(Some(&format!("q{i}")), Some(3));
            assert!(calls.counts.len() <= MAX_QUEUES);
        }
    }
}
