//! When to try Asterisk again: one explicit policy (as redis-rs's
//! `ConnectionManagerConfig`) shared by the generator's own session and
//! the hub, so both retry the same way. A failed attempt (refused, no
//! answer, bad login) waits longer each time, doubling from
//! [`Policy::min`] up to [`Policy::max`]; a session that was up and
//! dropped starts over from the shortest wait. The music never waits for
//! any of it: sessions run on their own threads.

use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first wait, and the wait after a session that was up.
    pub min: Duration,
    /// The longest wait: Asterisk restarting is back within seconds.
    pub max: Duration,
}

/// The policy of every AMI session in holdmix.
pub const POLICY: Policy = Policy {
    min: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// The wait before the next attempt under a [`Policy`].
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    delay: Duration,
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Backoff {
            policy,
            delay: policy.min,
        }
    }

    /// The wait the next [`Backoff::wait`] sleeps.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// A session was up: the next attempt comes soon.
    pub fn reset(&mut self) {
        self.delay = self.policy.min;
    }

    /// The wait to sleep now; the one after it is twice as long (up to the
    /// policy's max).
    pub fn next_delay(&mut self) -> Duration {
        let now = self.delay;
        self.delay = (self.delay * 2).min(self.policy.max);
        now
    }

    pub fn wait(&mut self) {
        std::thread::sleep(self.next_delay());
    }
}

/// How one session ended.
pub enum Ended<T> {
    /// For good: nothing more to do (`T` says why).
    Done(T),
    /// The server closed the connection after a good login.
    Dropped,
}

/// Runs `session` until it is [`Ended::Done`], retrying under `policy`.
/// Every retry is logged with `addr` (never the secret: sessions' errors
/// do not carry it).
pub fn keep_connected<T>(
    addr: &str,
    policy: Policy,
    mut session: impl FnMut() -> Result<Ended<T>, String>,
) -> T {
    let mut backoff = Backoff::new(policy);
    // One line per outage (issue 18): a killed Asterisk refuses every retry
    // (five in the first three seconds), and each used to be a WARN line.
    let mut outage_logged = false;
    loop {
        let began = std::time::Instant::now();
        let ended = session();
        if began.elapsed() >= UP_FOR {
            // That session was up (no failing attempt lasts this long): a
            // failure now is a new outage.
            outage_logged = false;
        }
        match ended {
            Ok(Ended::Done(t)) => return t,
            Ok(Ended::Dropped) => {
                tracing::warn!(ami = %addr, "AMI connection closed; reconnecting");
                outage_logged = true;
                backoff.reset();
            }
            Err(e) if outage_logged => {
                tracing::debug!(ami = %addr, "AMI: {e}; retrying in {:?}", backoff.delay())
            }
            Err(e) => {
                tracing::warn!(ami = %addr, "AMI: {e}; retrying in {:?} (further failures of this outage at debug level)", backoff.delay());
                outage_logged = true;
            }
        }
        backoff.wait();
    }
}

/// A session that returned after this long had been up: a failing attempt
/// ends within the connect (2 s) and login (5 s) timeouts.
const UP_FOR: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failures_double_the_wait_up_to_five_seconds() {
        let mut b = Backoff::new(POLICY);
        let waits: Vec<Duration> = (0..9).map(|_| b.next_delay()).collect();
        assert_eq!(
            waits,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(5000),
                ms(5000),
                ms(5000)
            ]
        );
    }

    #[test]
    fn a_session_that_was_up_starts_the_waits_over() {
        let mut b = Backoff::new(POLICY);
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.delay(), ms(100));
        assert_eq!(b.next_delay(), ms(100));
        assert_eq!(b.next_delay(), ms(200));
    }

    #[test]
    fn keep_connected_retries_until_done() {
        let quick = Policy {
            min: ms(1),
            max: ms(2),
        };
        let mut attempts = 0;
        let got = keep_connected("test", quick, || {
            attempts += 1;
            match attempts {
                1 => Err("refused".to_string()),
                2 => Ok(Ended::Dropped),
                _ => Ok(Ended::Done(attempts)),
            }
        });
        assert_eq!(got, 3);
    }
}
