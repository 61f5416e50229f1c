//! Absolute-deadline pacing: tick n is due at `start + n × period`, so sleep
//! overshoot never accumulates into drift.
//!
//! The wait is one `clock_nanosleep(TIMER_ABSTIME)`: the cheapest wake-up
//! Linux has (no fds to poll, no wait queues). A signal handler running on
//! this thread ends it early (`clock_nanosleep` is never restarted), which is
//! how SIGHUP and friends end a run at once; the caller keeps other threads
//! from taking those signals (see [`block_signals`]).

use std::time::Duration;

pub struct Clock {
    /// When the clock was made; never moves (wall time is measured from it).
    epoch: Duration,
    /// Origin of the current period's deadlines.
    start: Duration,
    period: Duration,
    tick: u64,
    /// When the last wait ended, as time since the clock was made.
    woke: Option<Duration>,
}

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    Deadline,
    /// A signal handler ran; the deadline has not been reached.
    Interrupted,
}

impl Clock {
    /// A clock whose first deadline is one `period` from now.
    pub fn new(period: Duration) -> Self {
        let now = monotonic();
        Clock {
            epoch: now,
            start: now,
            period,
            tick: 0,
            woke: None,
        }
    }

    /// Time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        monotonic().saturating_sub(self.epoch)
    }

    /// Time since the clock was made, as read when the last wait ended (a
    /// clock read less per tick), or now before the first wait.
    pub fn elapsed_at_wake(&self) -> Duration {
        self.woke.unwrap_or_else(|| self.elapsed())
    }

    /// Changes the period from the next tick on, keeping the deadlines
    /// absolute: they restart from the next deadline. With `realign` they
    /// restart half the old period before it, which moves the ticks off the
    /// reads of a reader (see `Pacer`).
    pub fn set_period(&mut self, period: Duration, realign: bool) {
        if period != self.period || realign {
            let back = if realign { self.period / 2 } else { Duration::ZERO };
            self.start = self.next_deadline().saturating_sub(back);
            self.tick = 0;
            self.period = period;
        }
    }

    /// The next deadline, as time since the clock was made.
    pub fn next_deadline_elapsed(&self) -> Duration {
        self.next_deadline() - self.epoch
    }

    fn next_deadline(&self) -> Duration {
        self.start + self.period.saturating_mul(self.tick as u32 + 1)
    }

    /// Sleeps until the next deadline, or until a signal handler runs. After
    /// a long stall (deadlines already past), skips the missed ticks rather
    /// than firing them in a burst.
    pub fn wait(&mut self) -> Wake {
        let deadline = self.next_deadline();
        let ts = libc::timespec {
            tv_sec: deadline.as_secs() as libc::time_t,
            tv_nsec: deadline.subsec_nanos() as libc::c_long,
        };
        // SAFETY: a valid timespec; the remainder pointer may be null with TIMER_ABSTIME.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if r == libc::EINTR {
            return Wake::Interrupted;
        }
        let now = monotonic();
        self.woke = Some(now.saturating_sub(self.epoch));
        let due = (now.saturating_sub(self.start).as_nanos() / self.period.as_nanos().max(1)) as u64;
        // Normally due == tick + 1; after a stall, jump to the present.
        self.tick = due.max(self.tick + 1);
        Wake::Deadline
    }
}

/// CLOCK_MONOTONIC, the clock `clock_nanosleep` sleeps on (and `Instant` reads).
fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Blocks (or with `block` false, unblocks) `signals` for the calling thread.
/// Threads inherit the mask, so blocking around a spawn keeps the new thread
/// from taking signals meant to wake the audio thread.
pub fn block_signals(signals: &[i32], block: bool) {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; the calls
    // only read it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        let how = if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let mut c = Clock::new(Duration::from_millis(5));
        for _ in 0..4 {
            assert_eq!(c.wait(), Wake::Deadline);
        }
        assert_eq!(c.next_deadline_elapsed(), Duration::from_millis(25));
        assert!(c.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_new_period_starts_at_the_next_deadline() {
        let mut c = Clock::new(Duration::from_millis(5));
        c.wait();
        c.set_period(Duration::from_millis(10), false);
        assert_eq!(c.next_deadline_elapsed(), Duration::from_millis(20));
        // Realigned: the deadlines restart half a period (5 ms) before the next one.
        c.set_period(Duration::from_millis(10), true);
        assert_eq!(c.next_deadline_elapsed(), Duration::from_millis(25));
        c.wait();
        assert_eq!(c.next_deadline_elapsed(), Duration::from_millis(35));
        assert!(c.elapsed_at_wake() >= Duration::from_millis(25));
        c.set_period(Duration::from_millis(10), false);
        assert_eq!(c.next_deadline_elapsed(), Duration::from_millis(35));
    }
}
