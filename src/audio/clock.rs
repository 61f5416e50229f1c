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
    Fd,
}

impl Clock {
    pub fn new(start: Instant, period: Duration) -> Self {
        Clock { start, period, tick: 0 }
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

    /// Sleeps until the next deadline or until `wake_fd` is readable. After a
    /// long stall (deadlines already past), skips the missed ticks rather than
    /// firing them in a burst.
    pub fn wait(&mut self, wake_fd: Option<RawFd>) -> Wake {
        let deadline = self.next_deadline();
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let left = deadline - now;
            match wake_fd {
                // ppoll may also return early on EINTR: then just wait again.
                Some(fd) => {
                    if poll_readable(fd, left) {
                        return Wake::Fd;
                    }
                }
                None => std::thread::sleep(left),
            }
        }
        let now = Instant::now();
        let due = (now.duration_since(self.start).as_nanos() / self.period.as_nanos().max(1)) as u64;
        // Normally due == tick + 1; after a stall, jump to the present.
        self.tick = due.max(self.tick + 1);
        Wake::Deadline
    }
}

/// Waits up to `timeout` for `fd` to become readable (nanosecond timeout).
fn poll_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec and no signal mask change.
    let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    r > 0 && pfd.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let start = Instant::now();
        let mut c = Clock::new(start, Duration::from_millis(5));
        for _ in 0..4 {
            assert_eq!(c.wait(None), Wake::Deadline);
        }
        assert_eq!(c.next_deadline(), start + Duration::from_millis(25));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
