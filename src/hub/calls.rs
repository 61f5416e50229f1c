//! The hub's table of live calls: what AMI said of each (its channel, its
//! caller's number, its queue), by Uniqueid. A generator's greeting comes
//! from it, and once the answer to `CoreShowChannels` is complete, a
//! Uniqueid missing from it is a call that is over. A hub that has just
//! started (a restart under calls in progress) greets nobody until it has
//! both lists, `CoreShowChannels` and `QueueStatus`: a generator coming
//! back must learn its channel and its queue again.

use super::protocol::Known;
use crate::ami::codec::Message;
use std::sync::{Arc, Mutex};

/// What AMI said of a live call.
#[derive(Default, Clone)]
pub(super) struct Call {
    pub channel: String,
    pub caller: String,
    /// The queue it waits in (`QueueCallerJoin`, `QueueEntry`).
    pub queue: String,
}

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
}

pub(super) type SharedCalls = Arc<Mutex<Calls>>;

const MAX_CALLS: usize = 100_000;

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
        let (Some(uid), Some(channel)) = (m.get("Uniqueid"), m.get("Channel")) else {
            return;
        };
        if m.is("Hangup") {
            self.by_uniqueid.remove(uid);
            return;
        }
        if self.by_uniqueid.len() >= MAX_CALLS && !self.by_uniqueid.contains_key(uid) {
            self.by_uniqueid.clear();
        }
        let e = self.by_uniqueid.entry(uid.to_string()).or_default();
        e.channel = channel.to_string();
        if let Some(num) = m
            .get("CallerIDNum")
            .filter(|n| !n.is_empty() && *n != "<unknown>")
        {
            e.caller = num.to_string();
        }
        if m.is("QueueCallerJoin") || m.is("QueueEntry") {
            e.queue = m.get("Queue").unwrap_or("").to_string();
        } else if m.is("QueueCallerLeave") || m.is("QueueCallerAbandon") {
            e.queue.clear();
        }
    }
}

impl Calls {
    /// What the table says of `uniqueid`, for a generator's greeting.
    pub fn lookup(&self, uniqueid: &str) -> (Call, Known) {
        match self.by_uniqueid.get(uniqueid) {
            Some(call) => (call.clone(), Known::Yes),
            None if self.complete && !uniqueid.is_empty() => (Call::default(), Known::No),
            None => (Call::default(), Known::Unsure),
        }
    }
}
