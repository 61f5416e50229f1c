//! Log lines rate-limited per cause (issue 18: a stalled reader logged a
//! WARN every 240 ms, each garbage event line logged a line). The first
//! occurrence of a cause logs; later ones within its window are only
//! counted; the first one after the window logs again and says how many
//! were held back: "… (and 57 more like it in the last 60 s)".
//!
//! Hand-written rather than a crate: `governor` and the like decide
//! whether to let an action through, not how many were suppressed, which
//! is the half an operator needs. One limiter is one cause: a `static` at
//! the site that logs. Two atomics, no lock, no allocation: safe on the
//! audio thread. Racing threads may let one extra line through; never
//! fewer than one per window.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The window most causes use.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One cause's limiter; `static NAME: Limiter = Limiter::new(WINDOW);`.
#[derive(Debug)]
pub struct Limiter {
    window_ms: u64,
    /// When the last logged line was, in ms since [`epoch`] plus one
    /// (0: never).
    logged_at: AtomicU64,
    /// Occurrences since the last logged line.
    suppressed: AtomicU64,
}

/// What a line that is let through appends: empty, or how many were held
/// back since the previous line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    /// Since the previous line of this cause.
    pub over: Duration,
}

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return Ok(());
        }
        write!(
            f,
            " (and {} more like it in the last {} s)",
            self.count,
            self.over.as_secs().max(1)
        )
    }
}

impl Limiter {
    pub const fn new(window: Duration) -> Limiter {
        Limiter {
            window_ms: window.as_millis() as u64,
            logged_at: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to log this occurrence now: `Some` with what to append to
    /// the line, or `None` (counted) within the window.
    pub fn check(&self) -> Option<Suppressed> {
        self.check_at(now_ms())
    }

    /// [`Limiter::check`] at `now` (ms since any fixed origin).
    pub fn check_at(&self, now: u64) -> Option<Suppressed> {
        let stamp = now + 1;
        let last = self.logged_at.load(Ordering::Relaxed);
        if last != 0 && stamp < last + self.window_ms {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // One thread wins the new window; another racing it is counted.
        if self
            .logged_at
            .compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Suppressed {
            count: self.suppressed.swap(0, Ordering::Relaxed),
            over: Duration::from_millis(if last == 0 { 0 } else { stamp - last }),
        })
    }
}

/// Milliseconds since the first use of any limiter in this process.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_logs_the_rest_of_the_window_is_counted() {
        let l = Limiter::new(Duration::from_secs(60));
        let first = l.check_at(1_000).expect("the first logs");
        assert_eq!(first.count, 0);
        assert_eq!(first.to_string(), "");
        // A stalled reader: every 240 ms for the rest of the minute.
        let mut t = 1_000;
        let mut held = 0;
        while t + 240 < 61_000 {
            t += 240;
            assert_eq!(l.check_at(t), None, "at {t} ms");
            held += 1;
        }
        let next = l.check_at(61_000).expect("a new window");
        assert_eq!(next.count, held);
        assert_eq!(
            next.to_string(),
            format!(" (and {held} more like it in the last 60 s)")
        );
        assert_eq!(l.check_at(61_001), None);
    }

    #[test]
    fn a_quiet_spell_logs_the_next_at_once_and_says_over_what_time() {
        let l = Limiter::new(Duration::from_secs(10));
        assert!(l.check_at(0).is_some());
        assert!(l.check_at(5).is_none());
        assert!(l.check_at(6).is_none());
        let later = l.check_at(125_000).expect("long after");
        assert_eq!(later.count, 2);
        assert_eq!(later.to_string(), " (and 2 more like it in the last 125 s)");
        let again = l.check_at(140_000).expect("next window");
        assert_eq!(again.count, 0, "nothing held back: nothing said");
    }

    #[test]
    fn causes_are_limited_apart() {
        static A: Limiter = Limiter::new(WINDOW);
        static B: Limiter = Limiter::new(WINDOW);
        assert!(A.check().is_some());
        assert!(B.check().is_some(), "another cause still logs");
        assert!(A.check().is_none());
        assert!(B.check().is_none());
    }

    #[test]
    fn threads_racing_let_through_one_line_per_window() {
        static L: Limiter = Limiter::new(WINDOW);
        let logged: u64 = std::thread::scope(|s| {
            let hands: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).filter(|_| L.check().is_some()).count() as u64))
                .collect();
            hands.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(logged, 1);
        assert_eq!(L.suppressed.load(Ordering::Relaxed), 3999);
    }
}
