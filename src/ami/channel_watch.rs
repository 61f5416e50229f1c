//! One call's view of the AMI event stream: which events are about this
//! channel, and what they mean for the engine (keys, queue position, the
//! queue's hold time, the end of the call).
//!
//! Keys: `DTMFEnd` with `Direction: Received` (Asterisk 12+), or the legacy
//! `DTMF` event of 1.8/11 with `End: Yes` (it comes twice per press, begin
//! and end: act on the end only). Digits sent *to* the caller are ignored.
//!
//! Position: `QueueCallerJoin` gives it; a caller ahead in the same queue
//! leaving (`QueueCallerLeave`, which follows every `QueueCallerAbandon`,
//! so only the Leave counts) moves it up by one; a `QueueEntry` from
//! `QueueStatus` states it outright.
//!
//! Queue size: the `Count` of any caller's join or leave in the caller's
//! queue, and `Calls` of its `QueueParams`; it goes to the engine apart
//! from the message's own meaning ([`ChannelWatch::size_news`]), since a
//! join says both the caller's place and the queue's size.

use super::codec::Message;
use crate::engine::EventKind;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct ChannelWatch {
    channel: Option<String>,
    uniqueid: Option<String>,
    queue: Option<String>,
    position: Option<u32>,
    /// The queue's size as last heard, and whether the engine has it.
    size: Option<u32>,
    size_told: bool,
}

impl ChannelWatch {
    /// Watches the call known by its channel name and/or Uniqueid.
    pub fn new(channel: Option<&str>, uniqueid: Option<&str>) -> Self {
        ChannelWatch {
            channel: channel.map(str::to_string),
            uniqueid: uniqueid.map(str::to_string),
            ..ChannelWatch::default()
        }
    }

    /// The queue the call waits in, when known otherwise than from its
    /// `QueueCallerJoin` (a respawned generator never sees that).
    pub fn set_queue(&mut self, queue: &str) {
        if !queue.is_empty() {
            self.queue = Some(queue.to_string());
        }
    }

    /// The caller's place in the queue, when known otherwise than from an
    /// event (the hub's greeting: app_queue's `QueueCallerJoin` comes
    /// before the generator starts). Returns the engine's event when the
    /// place is new to this watch.
    pub fn set_position_known(&mut self, position: u32) -> Option<EventKind> {
        self.set_position(position)
    }

    /// The queue's size, when known otherwise than from an event (the
    /// hub's greeting).
    pub fn set_size_known(&mut self, size: u32) {
        self.set_size(Some(size));
    }

    /// The queue's size, once after each change the messages brought.
    pub fn size_news(&mut self) -> Option<EventKind> {
        if self.size_told {
            return None;
        }
        self.size_told = true;
        self.size.map(EventKind::QueueSize)
    }

    fn set_size(&mut self, size: Option<u32>) {
        if size.is_some() && size != self.size {
            self.size = size;
            self.size_told = false;
        }
    }

    pub fn position(&self) -> Option<u32> {
        self.position
    }

    fn is_mine(&self, m: &Message) -> bool {
        let by_channel = self
            .channel
            .as_deref()
            .is_some_and(|c| m.get("Channel").is_some_and(|x| x == c));
        let by_id = self
            .uniqueid
            .as_deref()
            .is_some_and(|u| m.get("Uniqueid").is_some_and(|x| x == u));
        by_channel || by_id
    }

    /// Everything `m` tells the engine: a change of the queue's size first
    /// (a position change it brings may ask the hold plan again, and the
    /// ask must carry the new size), then what `m` means for the call.
    pub fn events(&mut self, m: &Message) -> impl Iterator<Item = EventKind> + use<> {
        let meaning = self.on_message(m);
        self.size_news().into_iter().chain(meaning)
    }

    /// What `m` means for this call, if anything (the queue's size apart:
    /// see [`ChannelWatch::events`]).
    pub fn on_message(&mut self, m: &Message) -> Option<EventKind> {
        let event = m.event()?.to_ascii_lowercase();
        let kind = self.meaning(&event, m);
        // After the meaning: a join of this caller names the queue.
        if self.in_my_queue(m) {
            let count = |field| m.get(field).and_then(|v| v.trim().parse().ok());
            match event.as_str() {
                "queuecallerjoin" | "queuecallerleave" => self.set_size(count("Count")),
                "queueparams" => self.set_size(count("Calls")),
                _ => {}
            }
        }
        kind
    }

    fn meaning(&mut self, event: &str, m: &Message) -> Option<EventKind> {
        let mine = self.is_mine(m);
        match event {
            "dtmfend" if mine && received(m) => digit(m),
            "dtmf" if mine && received(m) && yes(m.get("End")) => digit(m),
            "queuecallerjoin" if mine => {
                self.queue = m.get("Queue").map(str::to_string);
                self.set_position(m.get("Position")?.parse().ok()?)
            }
            "queuecallerleave" if mine => {
                // Answered, timed out or gone: no more position to say.
                self.position = None;
                None
            }
            "queuecallerleave" if self.in_my_queue(m) => {
                let left: u32 = m.get("Position")?.parse().ok()?;
                let mine = self.position?;
                (left < mine).then(|| self.set_position(mine - 1)).flatten()
            }
            "queueentry" if mine => self.set_position(m.get("Position")?.parse().ok()?),
            "queueparams" if self.in_my_queue(m) => {
                let secs: u64 = m.get("Holdtime")?.parse().ok()?;
                (secs > 0).then_some(EventKind::Holdtime(Duration::from_secs(secs)))
            }
            "hangup" if mine => Some(EventKind::Hangup),
            "musiconholdstop" if mine => Some(EventKind::MusicStopped),
            // The channel's language (`CHANNEL(language)`), as the hold starts.
            "musiconholdstart" if mine => m
                .get("Language")
                .and_then(crate::scenario::language::normalise)
                .map(EventKind::Language),
            _ => None,
        }
    }

    fn in_my_queue(&self, m: &Message) -> bool {
        self.queue.is_some() && m.get("Queue") == self.queue.as_deref()
    }

    fn set_position(&mut self, p: u32) -> Option<EventKind> {
        if self.position == Some(p) {
            return None;
        }
        self.position = Some(p);
        Some(EventKind::Position(p))
    }
}

fn received(m: &Message) -> bool {
    m.get("Direction")
        .is_some_and(|d| d.eq_ignore_ascii_case("Received"))
}

fn yes(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("yes"))
}

fn digit(m: &Message) -> Option<EventKind> {
    let mut chars = m.get("Digit")?.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let c = c.to_ascii_uppercase();
    (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).then_some(EventKind::Dtmf(c))
}
