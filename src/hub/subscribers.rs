//! The generators subscribed to the hub, and the fan-out that hands each
//! AMI message to the ones it concerns: events naming a generator's
//! channel or Uniqueid, and queue-wide events (`QueueCallerLeave`,
//! `QueueParams`) of the queue its caller joined. Writes are non-blocking:
//! a generator that does not keep up is dropped (it then opens a session
//! of its own), never waited for.

use crate::ami::codec::Message;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

pub(super) struct Subscriber {
    /// Shared with the thread reading its commands: one descriptor.
    pub stream: Arc<UnixStream>,
    pub id: u64,
    pub channel: String,
    pub uniqueid: String,
    /// The queue its caller joined (learned from `QueueCallerJoin`).
    pub queue: Option<String>,
}

pub(super) type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

/// Hands `m` to the generators it concerns; drops the ones that are gone
/// or do not keep up.
pub(super) fn fan_out(m: &Message, subs: &Subscribers) {
    let Ok(mut list) = subs.lock() else { return };
    let channel = m.get("Channel");
    let uniqueid = m.get("Uniqueid");
    let queue = m.get("Queue");
    let queue_wide = m.is("QueueCallerLeave") || m.is("QueueParams");
    let mut wire: Option<Vec<u8>> = None;
    list.retain_mut(|s| {
        let mine = (!s.channel.is_empty() && channel == Some(s.channel.as_str()))
            || (!s.uniqueid.is_empty() && uniqueid == Some(s.uniqueid.as_str()));
        if mine && m.is("QueueCallerJoin") {
            s.queue = queue.map(str::to_string);
        }
        let in_queue = queue_wide && queue.is_some() && s.queue.as_deref() == queue;
        if !(mine || in_queue) {
            return true;
        }
        let bytes = wire.get_or_insert_with(|| m.to_wire());
        match (&*s.stream).write(bytes) {
            Ok(n) if n == bytes.len() => true,
            _ => {
                // Shut down, not just forgotten: the generator sees the end
                // (and opens a session of its own) instead of half a message.
                tracing::debug!(channel = %s.channel, "generator gone or too slow: dropped");
                s.stream.shutdown(std::net::Shutdown::Both).ok();
                false
            }
        }
    });
}
