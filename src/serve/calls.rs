//! The live calls of a `serve` process, by UUID: what the control socket
//! (or anything else in the process) reaches a call through. A call joins
//! when its UUID packet arrives and leaves when its connection ends; events
//! sent to it go through a small bounded queue its stream thread empties
//! every tick. Events for a UUID that has not connected yet are kept for a
//! while ([`Calls::preset`]): that is how the caller's queue position,
//! known to the proxy before the media starts, reaches the call before
//! its first frame.

use crate::engine::EventKind;
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Events kept for calls not connected yet, all UUIDs together.
pub const PRESET_LIMIT: usize = 1024;
/// How long a preset event waits for its call.
pub const PRESET_TTL: Duration = Duration::from_secs(60);
/// Events waiting for one live call's next tick; more are refused.
const QUEUE: usize = 64;

/// The registry: cheap to clone, shared by every thread of the process.
#[derive(Clone, Default)]
pub struct Calls {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Live>,
    /// Per UUID, events in the order given, each with when it was given.
    presets: HashMap<String, Vec<(Instant, EventKind)>>,
    preset_count: usize,
    next_id: u64,
}

struct Live {
    /// Which connection holds the UUID (a reconnect takes it over).
    id: u64,
    tx: SyncSender<EventKind>,
}

/// A call's place in the registry, held by its stream thread: events
/// arrive on `events`; dropping it leaves the registry.
pub struct Member {
    calls: Calls,
    uuid: String,
    id: u64,
    pub events: Receiver<EventKind>,
    /// What was preset for the call before it connected, oldest first.
    pub preset: Vec<EventKind>,
}

impl Calls {
    pub fn new() -> Calls {
        Calls::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding it leaves plain maps: go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The UUIDs of the calls connected now, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().live.keys().cloned().collect();
        v.sort();
        v
    }

    /// Gives `ev` to the live call `uuid`: false when no such call is
    /// connected (or its queue is full: the event is not delivered).
    pub fn send(&self, uuid: &str, ev: EventKind) -> bool {
        let inner = self.lock();
        let Some(live) = inner.live.get(uuid) else {
            return false;
        };
        match live.tx.try_send(ev) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Gives `ev` to the call `uuid`: at once if it is connected, else when
    /// it connects, if within [`PRESET_TTL`]. At most [`PRESET_LIMIT`]
    /// events wait in all; beyond that the oldest go.
    pub fn preset(&self, uuid: &str, ev: EventKind) {
        self.preset_at(uuid, ev, Instant::now());
    }

    fn preset_at(&self, uuid: &str, ev: EventKind, now: Instant) {
        let mut inner = self.lock();
        if let Some(live) = inner.live.get(uuid) {
            live.tx.try_send(ev).ok();
            return;
        }
        inner.expire(now);
        if inner.preset_count >= PRESET_LIMIT {
            inner.drop_oldest();
        }
        inner.presets.entry(uuid.to_string()).or_default().push((now, ev));
        inner.preset_count += 1;
    }

    /// The call `uuid` connected: its place, with what was preset for it.
    /// A second connection with the same UUID takes the place over (the
    /// first streams on, unreachable, until it ends).
    pub fn join(&self, uuid: &str) -> Member {
        self.join_at(uuid, Instant::now())
    }

    fn join_at(&self, uuid: &str, now: Instant) -> Member {
        let (tx, events) = mpsc::sync_channel(QUEUE);
        let mut inner = self.lock();
        inner.expire(now);
        let preset: Vec<EventKind> = inner
            .presets
            .remove(uuid)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, ev)| ev)
            .collect();
        inner.preset_count -= preset.len();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.live.insert(uuid.to_string(), Live { id, tx });
        Member {
            calls: self.clone(),
            uuid: uuid.to_string(),
            id,
            events,
            preset,
        }
    }

    /// Events waiting for calls not connected yet (tests, status).
    pub fn preset_count(&self) -> usize {
        self.lock().preset_count
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        let mut removed = 0;
        self.presets.retain(|_, evs| {
            let before = evs.len();
            evs.retain(|(at, _)| now.saturating_duration_since(*at) < PRESET_TTL);
            removed += before - evs.len();
            !evs.is_empty()
        });
        self.preset_count -= removed;
    }

    /// Removes the oldest preset event of all (a scan: at most
    /// [`PRESET_LIMIT`] events, and only when full).
    fn drop_oldest(&mut self) {
        let oldest = self
            .presets
            .iter()
            .filter_map(|(uuid, evs)| evs.first().map(|(at, _)| (*at, uuid.clone())))
            .min();
        if let Some((_, uuid)) = oldest
            && let Some(evs) = self.presets.get_mut(&uuid)
        {
            evs.remove(0);
            self.preset_count -= 1;
            if evs.is_empty() {
                self.presets.remove(&uuid);
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut inner = self.calls.lock();
        if inner.live.get(&self.uuid).is_some_and(|l| l.id == self.id) {
            inner.live.remove(&self.uuid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_calls_are_listed_and_reached_until_they_leave() {
        let calls = Calls::new();
        assert!(!calls.send("a", EventKind::Dtmf('1')));
        let b = calls.join("b");
        let a = calls.join("a");
        assert_eq!(calls.list(), ["a", "b"]);
        assert!(calls.send("a", EventKind::Position(3)));
        assert_eq!(a.events.try_recv().ok(), Some(EventKind::Position(3)));
        assert!(b.events.try_recv().is_err());
        drop(a);
        assert_eq!(calls.list(), ["b"]);
        assert!(!calls.send("a", EventKind::Position(3)));
    }

    #[test]
    fn a_full_queue_refuses_rather_than_grows() {
        let calls = Calls::new();
        let _m = calls.join("a");
        let sent = (0..1000)
            .filter(|&i| calls.send("a", EventKind::Position(i)))
            .count();
        assert_eq!(sent, QUEUE);
    }

    #[test]
    fn presets_wait_for_their_call_and_expire() {
        let calls = Calls::new();
        let t0 = Instant::now();
        calls.preset_at("x", EventKind::Position(5), t0);
        calls.preset_at("x", EventKind::Position(4), t0 + Duration::from_secs(30));
        calls.preset_at("y", EventKind::Position(9), t0);
        assert_eq!(calls.preset_count(), 3);
        assert!(calls.list().is_empty());
        // At 70 s the first two are gone; the one given at 30 s is kept.
        let m = calls.join_at("x", t0 + Duration::from_secs(70));
        assert_eq!(m.preset, [EventKind::Position(4)]);
        assert_eq!(calls.preset_count(), 0);
        // Once live, a preset is delivered at once.
        calls.preset("x", EventKind::Position(2));
        assert_eq!(m.events.try_recv().ok(), Some(EventKind::Position(2)));
    }

    #[test]
    fn presets_are_bounded_oldest_first() {
        let calls = Calls::new();
        let t0 = Instant::now();
        for i in 0..(PRESET_LIMIT as u32 + 10) {
            calls.preset_at(
                &format!("u{}", i % 7),
                EventKind::Position(i),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(calls.preset_count(), PRESET_LIMIT);
        let later = t0 + Duration::from_secs(2);
        let all: Vec<u32> = (0..7)
            .flat_map(|u| calls.join_at(&format!("u{u}"), later).preset.clone())
            .filter_map(|e| match e {
                EventKind::Position(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(all.len(), PRESET_LIMIT);
        // The ten oldest (0..10) were dropped.
        assert_eq!(all.iter().min(), Some(&10));
    }

    #[test]
    fn a_reconnect_takes_the_uuid_over_and_the_old_leaving_keeps_it() {
        let calls = Calls::new();
        let old = calls.join("a");
        let new = calls.join("a");
        drop(old);
        assert_eq!(calls.list(), ["a"]);
        assert!(calls.send("a", EventKind::Dtmf('5')));
        assert_eq!(new.events.try_recv().ok(), Some(EventKind::Dtmf('5')));
    }
}
