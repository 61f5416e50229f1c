//! The generators subscribed to the hub, and the fan-out that hands each
//! AMI message to the ones it concerns: events naming a generator's
//! Uniqueid, and queue-wide events (`QueueCallerLeave`, `QueueParams`) of
//! the queue its caller joined. Another caller's `QueueCallerLeave` goes
//! out stripped to what a position needs (queue, position, count): no
//! caller's channel, number or name reaches another call. Writes are
//! non-blocking: a generator that does not keep up is dropped (it then
//! comes back, or opens a session of its own), never waited for.

use crate::ami::codec::Message;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

pub(super) struct Subscriber {
    /// Shared with the thread reading its commands: one descriptor.
    pub stream: Arc<UnixStream>,
    pub id: u64,
    pub uniqueid: String,
    /// The queue its caller joined (learned from `QueueCallerJoin`).
    pub queue: Option<String>,
}

pub(super) type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

/// Hands `m` to the generators in `list` it concerns; drops the ones that
/// are gone or do not keep up. The caller holds the list's lock (the AMI
/// session holds it while the call table learns `m` too: see `accept`).
pub(super) fn fan_out(m: &Message, list: &mut Vec<Subscriber>) {
    let uniqueid = m.get("Uniqueid");
    let queue = m.get("Queue");
    let queue_wide = m.is("QueueCallerLeave") || m.is("QueueParams");
    let mut wire: Option<Vec<u8>> = None;
    let mut stripped: Option<Vec<u8>> = None;
    list.retain_mut(|s| {
        let mine = !s.uniqueid.is_empty() && uniqueid == Some(s.uniqueid.as_str());
        if mine && m.is("QueueCallerJoin") {
            s.queue = queue.map(str::to_string);
        }
        let in_queue = queue_wide && queue.is_some() && s.queue.as_deref() == queue;
        if !(mine || in_queue) {
            return true;
        }
        let bytes = if mine {
            wire.get_or_insert_with(|| m.to_wire())
        } else {
            stripped.get_or_insert_with(|| queue_only(m).to_wire())
        };
        match (&*s.stream).write(bytes) {
            Ok(n) if n == bytes.len() => true,
            _ => {
                // Shut down, not just forgotten: the generator sees the end
                // (and opens a session of its own) instead of half a message.
                tracing::debug!(uniqueid = %s.uniqueid, "generator gone or too slow: dropped");
                s.stream.shutdown(std::net::Shutdown::Both).ok();
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

    #[test]
    fn another_callers_leave_reaches_the_queue_without_who_left() {
        let m = Message {
            fields: [
                ("Event", "QueueCallerLeave"),
                ("Channel", "Local/200@test-00000000;2"),
                ("CallerIDNum", "79001112233"),
                ("CallerIDName", "Alice"),
                ("Uniqueid", "1795452414.1"),
                ("Queue", "holdq"),
                ("Position", "1"),
                ("Count", "1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let q = queue_only(&m);
        let keys: Vec<&str> = q.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["Event", "Queue", "Position", "Count"]);
    }
}
