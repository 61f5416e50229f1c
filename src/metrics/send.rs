//! A generator's side of the metrics: each [`Report`] goes to the hub as a
//! line on the generator's hub socket, written by the thread that follows
//! the call through the hub (`hub::follow`), never by the audio thread.
//! The audio thread (its timeline, out of the tick), the billing and store
//! threads only hand a line over, and never wait, except [`flush`] once at
//! the end so that the exit's line goes out before the process does.
//!
//! A generator without a hub installs nothing and reports nothing. Lines
//! not yet written are bounded ([`MAX_PENDING`]: more are dropped), and a
//! stall is reported at most once a minute (a stalled reader stalls four
//! times a second). Process-wide, as the call is: one generator, one
//! process, one hub link.

use super::report::Report;
use crate::util::ratelimit::{Limiter, WINDOW};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Lines handed over and not yet written (or dropped) at most.
pub const MAX_PENDING: usize = 256;

type Sink = Box<dyn Fn(Line) -> bool + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// A report's line on its way to the hub; it counts as pending until it
/// is dropped (written, or given up).
pub struct Line {
    text: String,
    _pending: Pending,
}

impl Line {
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Line").field(&self.text).finish()
    }
}

struct Pending;

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where this process's reports go from now on (`sink` hands a line to
/// the hub's thread; false when that thread is gone). Once per process:
/// false if a sink was installed already.
pub fn install(sink: impl Fn(Line) -> bool + Send + Sync + 'static) -> bool {
    SINK.set(Box::new(sink)).is_ok()
}

/// Hands `r` over to be sent; nothing when no hub is installed, when too
/// many lines wait, or for a stall within a minute of the last one.
pub fn send(r: &Report) {
    let Some(sink) = SINK.get() else {
        return;
    };
    if *r == Report::Stall {
        static STALLS: Limiter = Limiter::new(WINDOW);
        if STALLS.check().is_none() {
            return;
        }
    }
    if PENDING.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING {
        PENDING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let line = Line {
        text: r.to_line(),
        _pending: Pending,
    };
    // A sink whose thread is gone drops the line (and its count).
    sink(line);
}

/// Waits at most `limit` for the lines handed over to be written; true
/// when none is left. Called once, as the generator ends.
pub fn flush(limit: Duration) -> bool {
    if SINK.get().is_none() {
        return true;
    }
    let started = Instant::now();
    while PENDING.load(Ordering::Acquire) > 0 {
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn lines_waiting_are_bounded_and_the_end_waits_for_them() {
        // A hub thread that does not write: lines stay pending. (The sink
        // is this test binary's: any other test's report lands here too,
        // and the bound holds for all of them.)
        static HELD: Mutex<Vec<Line>> = Mutex::new(Vec::new());
        static HOLD: AtomicBool = AtomicBool::new(true);
        assert!(install(|line| {
            if HOLD.load(Ordering::SeqCst) {
                HELD.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
            true
        }));
        for _ in 0..MAX_PENDING + 50 {
            send(&Report::Start);
        }
        let held = HELD.lock().unwrap_or_else(|e| e.into_inner()).len();
        assert_eq!(held, MAX_PENDING);
        assert!(!flush(Duration::from_millis(20)), "nothing was written");
        // Written (dropped) now: the end no longer waits.
        HOLD.store(false, Ordering::SeqCst);
        HELD.lock().unwrap_or_else(|e| e.into_inner()).clear();
        assert!(flush(Duration::from_secs(5)));
        assert!(!install(|_| true), "one sink per process");
    }
}
