//! What the engine knows of the caller's queue: the position, how fast the
//! callers ahead have been leaving, and the queue's average hold time; from
//! them, the estimated wait.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct QueueInfo {
    pub position: Option<u32>,
    /// First position seen, and when.
    first: Option<(Duration, u32)>,
    /// When the position last went down.
    last_move: Option<Duration>,
    holdtime: Option<Duration>,
    /// Callers waiting in the queue, as last heard (not checkpointed: a
    /// respawned generator hears it again from the hub's greeting or the
    /// queue's next event).
    pub size: Option<u32>,
}

impl QueueInfo {
    /// Records a position; returns true when it changed.
    pub fn set_position(&mut self, at: Duration, p: u32) -> bool {
        let old = self.position.replace(p);
        if self.first.is_none() {
            self.first = Some((at, p));
        }
        if old.is_some_and(|o| p < o) {
            self.last_move = Some(at);
        }
        old != Some(p)
    }

    /// Position, first position seen (when, which), last move, hold time.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        &self,
    ) -> (
        Option<u32>,
        Option<(Duration, u32)>,
        Option<Duration>,
        Option<Duration>,
    ) {
        (self.position, self.first, self.last_move, self.holdtime)
    }

    pub fn restore(
        &mut self,
        position: Option<u32>,
        first: Option<(Duration, u32)>,
        last_move: Option<Duration>,
        holdtime: Option<Duration>,
    ) {
        *self = QueueInfo {
            position,
            first,
            last_move,
            holdtime,
            size: self.size,
        };
    }

    pub fn set_holdtime(&mut self, h: Duration) {
        self.holdtime = Some(h);
    }

    /// The estimated wait: the pace at which callers ahead have left this
    /// caller's queue (time per place moved, times the places left), else
    /// the queue's average hold time.
    pub fn estimate(&self) -> Option<Duration> {
        let p = self.position?;
        if let (Some((t0, p0)), Some(t1)) = (self.first, self.last_move)
            && p0 > p
            && t1 > t0
        {
            let per_place = (t1 - t0) / (p0 - p);
            return Some(per_place * p);
        }
        self.holdtime
    }
}

/// Minutes to say for a wait: `None` under a minute; then whole minutes up
/// to 5, fives up to 20, tens beyond (people hear "about", not a promise).
pub fn wait_minutes(d: Duration) -> Option<u32> {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return None;
    }
    let m = (secs / 60.0).round().max(1.0) as u32;
    Some(match m {
        0..=5 => m,
        6..=20 => m.div_ceil(5) * 5,
        _ => m.div_ceil(10) * 10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_from_pace_then_holdtime() {
        let mut q = QueueInfo::default();
        q.set_holdtime(Duration::from_secs(300));
        assert!(q.set_position(Duration::from_secs(0), 5));
        assert_eq!(q.estimate(), Some(Duration::from_secs(300)));
        q.set_position(Duration::from_secs(120), 3);
        // Two places in 2 minutes: a minute a place, three places to go.
        assert_eq!(q.estimate(), Some(Duration::from_secs(180)));
        assert!(!q.set_position(Duration::from_secs(130), 3));
    }

    #[test]
    fn buckets() {
        assert_eq!(wait_minutes(Duration::from_secs(59)), None);
        assert_eq!(wait_minutes(Duration::from_secs(150)), Some(3));
        assert_eq!(wait_minutes(Duration::from_secs(7 * 60)), Some(10));
        assert_eq!(wait_minutes(Duration::from_secs(23 * 60)), Some(30));
    }
}
