//! Absolute-deadline pacing: tick n is due at `start + n × period`, so sleep
//! overshoot never accumulates into drift.
//!
//! The wait is one `clock_nanosleep(TIMER_ABSTIME)`: the cheapest wake-up
//! Linux has (no fds to poll, no wait queues). A signal handler running on
//! this thread ends it early (`clock_nanosleep` is never restarted), which is
//! how SIGHUP and friends end a run at once; the caller keeps other threads
//! from taking those signals (see [`block_signals`]).

use std::time::Duration;

const NS: u64 = 1_000_000_000;

/// Deadlines fall on multiples of this on CLOCK_MONOTONIC, the same for
/// every process on the host: calls whose ticks share an instant share one
/// timer interrupt and one wake-up of the CPU, with the kernel's paths still
/// warm for all but the first. A lone writer wakes for 25–40 µs on a VM;
/// five waking in the same instant, for about 22 µs each (measured). Ten
/// milliseconds keeps the half-frame realignment (see `Pacer`) on the grid.
pub const GRID: Duration = Duration::from_millis(10);

pub struct Clock {
    /// CLOCK_MONOTONIC when the clock was made, in ns; wall time is measured
    /// from it. All times here are u64 ns: no 128-bit division per tick.
    epoch: u64,
    /// Origin of the current period's deadlines.
    start: u64,
    period: u64,
    tick: u64,
    /// When the last wait ended, as ns since the clock was made.
    woke: Option<u64>,
    cycles: Cycles,
    /// Wakes since the clock was last read.
    unread: u32,
    /// Clock reads after a wake (tests count them).
    #[cfg(test)]
    reads: u32,
    /// Of those, the reads a late (or unvouched) wake forced.
    #[cfg(test)]
    forced: u32,
}

/// The clock is read at least once in this many wakes (a second of 40 ms
/// ticks): often enough to keep the cycle counter's rate learned.
pub const READ_EVERY: u32 = 25;

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    Deadline,
    /// A signal handler ran; the deadline has not been reached.
    Interrupted,
}

impl Clock {
    /// A clock whose deadlines fall on the host-wide [`GRID`], the first at
    /// most one `period` from now.
    pub fn new(period: Duration) -> Self {
        let now = monotonic();
        Clock {
            epoch: now,
            start: now - now % nanos(GRID),
            period: nanos(period),
            tick: 0,
            woke: None,
            cycles: Cycles::default(),
            unread: 0,
            #[cfg(test)]
            reads: 0,
            #[cfg(test)]
            forced: 0,
        }
    }

    /// Time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(monotonic().saturating_sub(self.epoch))
    }

    /// Whole `unit`s since the clock was made, as of the end of the last
    /// wait (no clock read), or now before the first wait.
    pub fn units_at_wake(&self, unit: Duration) -> u64 {
        let at = self
            .woke
            .unwrap_or_else(|| monotonic().saturating_sub(self.epoch));
        at / nanos(unit).max(1)
    }

    /// Changes the period from the next tick on, keeping the deadlines
    /// absolute: they restart from the next deadline. With `realign` they
    /// restart half the old period before it, which moves the ticks off the
    /// reads of a reader (see `Pacer`).
    pub fn set_period(&mut self, period: Duration, realign: bool) {
        let period = nanos(period);
        if period != self.period || realign {
            let back = if realign { self.period / 2 } else { 0 };
            self.start = self.next_deadline().saturating_sub(back);
            self.tick = 0;
            self.period = period;
        }
    }

    /// The next deadline, as time since the clock was made.
    pub fn next_deadline_elapsed(&self) -> Duration {
        Duration::from_nanos(self.next_deadline() - self.epoch)
    }

    fn next_deadline(&self) -> u64 {
        self.start + self.period * (self.tick + 1)
    }

    /// The next deadline on CLOCK_MONOTONIC (ns, see [`now_ns`]): a host
    /// of many streams sleeps to the earliest of theirs.
    pub fn next_deadline_ns(&self) -> u64 {
        self.next_deadline()
    }

    /// A host's wake at `now` (CLOCK_MONOTONIC ns, read once for all its
    /// streams), the deadline reached: what [`Clock::wait`] does after its
    /// sleep, with the clock read (no cycle count: the host read it).
    pub fn woke_at(&mut self, now: u64) {
        self.unread = 0;
        self.woke = Some(now.saturating_sub(self.epoch));
        let due = now.saturating_sub(self.start) / self.period.max(1);
        self.tick = due.max(self.tick + 1);
    }

    /// Sleeps until the next deadline, or until a signal handler runs. After
    /// a long stall (deadlines already past), skips the missed ticks rather
    /// than firing them in a burst.
    ///
    /// The clock is read only when the cycle counter cannot vouch that
    /// this wake is within half a period of its deadline (see [`Cycles`]),
    /// and once in [`READ_EVERY`] wakes; the wake is otherwise taken to be
    /// at the deadline. Half a period is all the precision the pacer needs:
    /// what the pipe holds it measures (so a `FIONREAD` may go with a wake
    /// time taken, not read).
    pub fn wait(&mut self) -> Wake {
        let deadline = self.next_deadline();
        if !sleep_until(deadline) {
            return Wake::Interrupted;
        }
        let count = cycles_now();
        if self.unread + 1 < READ_EVERY && self.cycles.on_time(count, self.period) {
            self.unread += 1;
            self.woke = Some(deadline - self.epoch);
            self.tick += 1;
            return Wake::Deadline;
        }
        #[cfg(test)]
        {
            self.reads += 1;
            // Not due by the count: the wake was late (or not vouched for).
            if self.unread + 1 < READ_EVERY {
                self.forced += 1;
            }
        }
        self.unread = 0;
        let now = monotonic();
        self.cycles.read(count, now);
        self.woke = Some(now.saturating_sub(self.epoch));
        let due = now.saturating_sub(self.start) / self.period.max(1);
        // Normally due == tick + 1; after a stall, jump to the present.
        self.tick = due.max(self.tick + 1);
        Wake::Deadline
    }
}

/// Sleeps until the next multiple of `every` on CLOCK_MONOTONIC: a
/// helper thread that polls this way wakes in the same instant as its
/// peers in every other call (and on the [`GRID`] the ticks use), so it
/// shares their wake-up instead of paying for one of its own.
pub fn sleep_to_next_multiple(every: Duration) {
    let deadline = next_multiple(monotonic(), every);
    while !sleep_until(deadline) {}
}

/// The first multiple of `every` after `now` (ns).
fn next_multiple(now: u64, every: Duration) -> u64 {
    let every = nanos(every).max(1);
    (now / every + 1) * every
}

/// Sleeps until `deadline` (CLOCK_MONOTONIC ns). False when a signal
/// handler cut the sleep short.
fn sleep_until(deadline: u64) -> bool {
    let ts = rustix::time::Timespec {
        tv_sec: (deadline / NS) as i64,
        tv_nsec: (deadline % NS) as i64,
    };
    // Made directly (rustix), not through libc's cancellable wrapper.
    rustix::thread::clock_nanosleep_absolute(rustix::time::ClockId::Monotonic, &ts)
        != Err(rustix::io::Errno::INTR)
}

/// Tells a wake-up near its deadline from a late one by the CPU's cycle
/// counter, which touches no memory. Reading CLOCK_MONOTONIC right after
/// 40 ms asleep costs about 2.5 µs on a VM (the vDSO's code and data are
/// cold), a tenth of a whole tick.
///
/// Two wakes less than 1.5 periods apart are on time (within half a period
/// of their deadlines, which are a period apart). The counter's rate comes
/// from the clock reads that still happen; no counter, one that went
/// backwards (a move to a CPU whose counter is offset) or any doubt means
/// the clock is read.
#[derive(Default)]
struct Cycles {
    /// Counter at the last wake.
    at_wake: Option<u64>,
    /// Counter and CLOCK_MONOTONIC (ns) at the last clock read.
    at_read: Option<(u64, u64)>,
    /// Counter ticks per ns.
    per_ns: Option<f64>,
}

/// Clock reads this far apart (ns) give the counter's rate to 0.01 %.
const RATE_SPAN: u64 = 100_000_000;

impl Cycles {
    /// True if the wake at `count` is on time; remembers it either way.
    fn on_time(&mut self, count: Option<u64>, period: u64) -> bool {
        let prev = std::mem::replace(&mut self.at_wake, count);
        match (count, prev, self.per_ns) {
            (Some(now), Some(prev), Some(rate)) => {
                now >= prev && ((now - prev) as f64) < rate * period as f64 * 1.5
            }
            _ => false,
        }
    }

    /// A clock read at counter `count`: learns the rate.
    fn read(&mut self, count: Option<u64>, clock: u64) {
        self.at_wake = count;
        let Some(count) = count else { return };
        match self.at_read {
            Some((c0, t0)) if clock < t0 + RATE_SPAN => {
                // Too close to the last read for a good rate: keep that one.
                if count < c0 {
                    self.per_ns = None;
                    self.at_read = Some((count, clock));
                }
                return;
            }
            Some((c0, t0)) => {
                self.per_ns = (count > c0).then(|| (count - c0) as f64 / (clock - t0) as f64);
            }
            None => {}
        }
        self.at_read = Some((count, clock));
    }
}

#[cfg(target_arch = "x86_64")]
fn cycles_now() -> Option<u64> {
    // SAFETY: rdtsc has no preconditions; every x86_64 CPU has it.
    Some(unsafe { core::arch::x86_64::_rdtsc() })
}

#[cfg(not(target_arch = "x86_64"))]
fn cycles_now() -> Option<u64> {
    None
}

fn nanos(d: Duration) -> u64 {
    d.as_secs() * NS + u64::from(d.subsec_nanos())
}

/// CLOCK_MONOTONIC in ns, as deadlines are given (see [`Clock::next_deadline_ns`]).
pub fn now_ns() -> u64 {
    monotonic()
}

/// CLOCK_MONOTONIC in ns: the clock `clock_nanosleep` sleeps on (and `Instant` reads).
fn monotonic() -> u64 {
    // Through the vDSO, as libc would, minus the wrapper.
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * NS + ts.tv_nsec as u64
}

/// Blocks `signals` for the calling thread; returns the mask before, for
/// [`restore_signals`]. Threads inherit the mask, so blocking around a
/// spawn keeps the new thread from taking signals meant to wake the audio
/// thread.
pub fn block_signals(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset (and by
    // the call, for `before`); pthread_sigmask only reads `set`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut before);
        before
    }
}

/// Puts back the mask [`block_signals`] gave.
pub fn restore_signals(before: &libc::sigset_t) {
    // SAFETY: a mask pthread_sigmask gave back.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, before, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let period = 20_000_000;
        let mut c = Clock::new(Duration::from_nanos(period));
        // On the host's grid, one period apart.
        assert_eq!(c.start % nanos(GRID), 0);
        for _ in 0..4 {
            assert_eq!(c.wait(), Wake::Deadline);
        }
        let next = c.next_deadline();
        assert_eq!((next - c.start) % period, 0);
        assert!(next > monotonic());
        // Unread wakes (the rate is learned by now) keep to the same deadlines.
        for _ in 0..8 {
            assert_eq!(c.wait(), Wake::Deadline);
        }
        assert_eq!((c.next_deadline() - next) % period, 0);
        assert!(c.next_deadline() >= next + 8 * period);
    }

    #[test]
    fn a_late_wake_skips_to_the_present_even_unread() {
        let mut c = Clock::new(Duration::from_millis(20));
        // Rate learned: reads more than RATE_SPAN apart.
        for _ in 0..8 {
            c.wait();
        }
        assert!(c.cycles.per_ns.is_some() || cycles_now().is_none());
        let before = c.elapsed();
        std::thread::sleep(Duration::from_millis(70));
        c.wait();
        // 70 ms late: the wake is read and the missed ticks are skipped,
        // not fired in a burst.
        let at = Duration::from_millis(c.units_at_wake(Duration::from_millis(1)));
        // Whole milliseconds: up to 1 ms below the true time.
        assert!(
            at + Duration::from_millis(1) >= before + Duration::from_millis(70),
            "woke at {at:?}"
        );
        assert!(c.next_deadline_elapsed() > at);
    }

    #[test]
    fn the_clock_is_read_once_in_read_every_wakes() {
        if cycles_now().is_none() {
            return;
        }
        let mut c = Clock::new(Duration::from_millis(5));
        // Read at every wake until the rate is learned (reads 100 ms apart).
        while c.cycles.per_ns.is_none() {
            c.wait();
        }
        let (before, forced_before) = (c.reads, c.forced);
        for _ in 0..3 * READ_EVERY {
            c.wait();
        }
        // One read in READ_EVERY wakes, plus one for each wake a busy host
        // made late (each also restarts the count): the schedule itself
        // never reads more. (A fixed total of 3 to 37 failed under load.)
        let (reads, forced) = (c.reads - before, c.forced - forced_before);
        let scheduled = reads - forced;
        assert!(scheduled <= 3, "{reads} reads, {forced} forced by late wakes");
    }

    #[test]
    fn sleeps_to_the_next_multiple() {
        let every = Duration::from_millis(30);
        let ms = 1_000_000;
        assert_eq!(next_multiple(0, every), 30 * ms);
        assert_eq!(next_multiple(29 * ms, every), 30 * ms);
        // On a multiple: the next one, never now (no wake twice at one instant).
        assert_eq!(next_multiple(30 * ms, every), 60 * ms);
        assert_eq!(next_multiple(5, Duration::ZERO), 6);
        // Asleep until then at least (how late the wake is, is the machine's).
        let before = monotonic();
        sleep_to_next_multiple(every);
        assert!(monotonic() >= next_multiple(before, every));
    }

    #[test]
    fn only_wakes_a_period_apart_are_on_time() {
        let mut k = Cycles::default();
        // No rate yet: never vouched for.
        assert!(!k.on_time(Some(1_000), 40));
        k.read(Some(0), 0);
        k.read(Some(2 * RATE_SPAN), RATE_SPAN);
        assert_eq!(k.per_ns, Some(2.0));
        // A period is 80 counts: up to 1.5 periods after the last wake.
        let base = 2 * RATE_SPAN;
        assert!(k.on_time(Some(base + 80), 40));
        assert!(k.on_time(Some(base + 80 + 119), 40));
        assert!(!k.on_time(Some(base + 80 + 119 + 120), 40));
        // Backwards (another CPU's counter): not vouched for; neither is
        // the lack of a counter.
        assert!(!k.on_time(Some(base), 40));
        assert!(!k.on_time(None, 40));
        // A counter that went backwards between reads forgets the rate.
        k.read(Some(base + 1000), 2 * RATE_SPAN);
        k.read(Some(5), 3 * RATE_SPAN + 1);
        assert_eq!(k.per_ns, None);
    }

    #[test]
    fn a_host_wakes_the_clock_as_its_own_wait_would() {
        let period = Duration::from_millis(5);
        let mut c = Clock::new(period);
        let first = c.next_deadline_ns();
        // On time: the next deadline, one period on.
        c.woke_at(first);
        assert_eq!(c.next_deadline_ns(), first + nanos(period));
        // (The first deadline is on the host-wide grid: it may come before
        // the clock was made, which counts as its start.)
        assert_eq!(
            c.units_at_wake(Duration::from_nanos(1)),
            first.saturating_sub(c.epoch)
        );
        // Late by three periods: the present, not a burst.
        let late = c.next_deadline_ns() + 3 * nanos(period) + 1;
        c.woke_at(late);
        assert!(c.next_deadline_ns() > late);
        assert!(c.next_deadline_ns() <= late + nanos(period));
    }

    #[test]
    fn a_new_period_starts_at_the_next_deadline() {
        let mut c = Clock::new(Duration::from_millis(5));
        let t0 = c.start;
        let at = |c: &Clock| Duration::from_nanos(c.next_deadline() - t0);
        c.wait();
        c.set_period(Duration::from_millis(10), false);
        assert_eq!(at(&c), Duration::from_millis(20));
        // Realigned: the deadlines restart half a period (5 ms) before the next one.
        c.set_period(Duration::from_millis(10), true);
        assert_eq!(at(&c), Duration::from_millis(25));
        c.wait();
        assert_eq!(at(&c), Duration::from_millis(35));
        assert!(c.units_at_wake(Duration::from_millis(1)) >= 15);
        c.set_period(Duration::from_millis(10), false);
        assert_eq!(at(&c), Duration::from_millis(35));
    }
}
