//! Absolute-deadline pacing: tick n is due at `start + n × period`, so sleep
//! overshoot never accumulates into drift. The wait also returns at once when
//! a wake-up fd (the signal pipe) becomes readable.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

pub struct Clock {
    start: Instant,
    period: Duration,
    tick: u64,
}

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    Deadline,
    /// The first watched fd, by index, that became ready.
    Fd(usize),
}

/// An fd to watch while waiting: readable (`POLLIN`) or, with `events` 0,
/// only its error/hang-up condition (a pipe whose reader went away).
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub fd: RawFd,
    pub events: i16,
}

impl Clock {
    pub fn new(start: Instant, period: Duration) -> Self {
        Clock {
            start,
            period,
            tick: 0,
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Changes the period from the next tick on, keeping the deadlines absolute.
    pub fn set_period(&mut self, period: Duration) {
        if period != self.period {
            self.start = self.next_deadline();
            self.tick = 0;
            self.period = period;
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn next_deadline(&self) -> Instant {
        self.start + self.period.saturating_mul(self.tick as u32 + 1)
    }

    /// Sleeps until the next deadline or until a watched fd is ready. After a
    /// long stall (deadlines already past), skips the missed ticks rather than
    /// firing them in a burst.
    pub fn wait(&mut self, watch: &[Watch]) -> Wake {
        let deadline = self.next_deadline();
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let left = deadline - now;
            if watch.is_empty() {
                std::thread::sleep(left);
            } else if let Some(i) = poll(watch, left) {
                return Wake::Fd(i);
            }
            // Otherwise ppoll timed out or returned early on EINTR: check the time.
        }
        let now = Instant::now();
        let due = (now.duration_since(self.start).as_nanos() / self.period.as_nanos().max(1)) as u64;
        // Normally due == tick + 1; after a stall, jump to the present.
        self.tick = due.max(self.tick + 1);
        Wake::Deadline
    }
}

/// Waits up to `timeout` (nanosecond precision) for one of `watch` to be
/// ready; returns its index.
fn poll(watch: &[Watch], timeout: Duration) -> Option<usize> {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = watch.len().min(fds.len());
    for (p, w) in fds.iter_mut().zip(watch) {
        *p = libc::pollfd {
            fd: w.fd,
            events: w.events,
            revents: 0,
        };
    }
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `n` valid pollfds, a valid timespec, no signal mask change.
    let r = unsafe { libc::ppoll(fds.as_mut_ptr(), n as libc::nfds_t, &ts, std::ptr::null()) };
    if r <= 0 {
        return None;
    }
    fds[..n].iter().position(|p| p.revents != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let start = Instant::now();
        let mut c = Clock::new(start, Duration::from_millis(5));
        for _ in 0..4 {
            assert_eq!(c.wait(&[]), Wake::Deadline);
        }
        assert_eq!(c.next_deadline(), start + Duration::from_millis(25));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
