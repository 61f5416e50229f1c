//! How much to render and write at each tick so the reader always finds a
//! whole read waiting, and little more.
//!
//! Asterisk reads a fixed amount on its own timer (40 ms with a timing
//! module, 100 ms without) and discards any read that comes back short. The
//! pacer watches how the pipe drains (`FIONREAD` at each tick) to learn that
//! read size, then keeps one read plus two frames queued after each top-up
//! and wakes as rarely as that allows: once per read for 40 ms reads, twice
//! per read for longer ones (so two reads can never fall between two
//! top-ups). Until the first read it assumes the longest read (100 ms).
//!
//! A reader that takes one read per tick like clockwork (Asterisk with a
//! timing module) is predicted rather than measured: after
//! [`STEADY_TICKS`] ticks that each found exactly one read gone, the pipe is
//! measured only every [`VERIFY_TICKS`]th tick. A `FIONREAD` costs as much as
//! the write itself on a VM, and holdmix should cost little more than a
//! paced writer. Learning the read size also moves the ticks half a frame
//! earlier, which puts them between the reader's reads: a read that jitters
//! by a few ms then never lands on the wrong side of a tick.
//!
//! If the reader stalls, the stream keeps to the present: once the reader is
//! more than `STALL_FRAMES` behind the wall clock, the frames it missed are
//! rendered and dropped instead of being played late.

/// Frames a reader may fall behind the wall clock before audio is skipped.
pub const STALL_FRAMES: u64 = 10;
/// Frames kept queued before the read size is known: a 100 ms read plus one frame.
pub const INITIAL_TARGET: usize = 6;
/// Longest time between ticks, in frames: a signal or a vanished reader is
/// noticed at a tick at the latest, so this bounds exit latency to 40 ms.
pub const MAX_PERIOD: usize = 2;
/// Measured ticks in a row, each finding one read gone, before predicting.
pub const STEADY_TICKS: u32 = 25;
/// While predicting, one tick in this many measures the pipe; a mismatch
/// goes back to measuring every tick. A reader that stops is seen within
/// this many ticks, with at most one top-up too many per blind tick in the
/// pipe (written less afterwards, so the lead comes back).
pub const VERIFY_TICKS: u32 = 5;
/// The same for a call whose checkpoint must say what the caller heard:
/// only measured ticks write it (a blind tick may claim a read that never
/// came), and a resume must land within 150 ms of what was heard, so at
/// most two ticks (80 ms) go unmeasured.
pub const VERIFY_TICKS_CHECKPOINTED: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Frames to render and drop (the reader stalled; keep to the present).
    pub skip: u64,
    /// Frames to render and write.
    pub write: usize,
    /// Bytes in the pipe before the write: measured, or predicted.
    pub queued: usize,
}

#[derive(Debug)]
pub struct Pacer {
    frame_bytes: usize,
    /// `Some` when stdout is a pipe we can measure.
    pipe: bool,
    /// Read size in frames, once known (learned or from `--lead`).
    read_frames: Option<usize>,
    fixed: bool,
    target: usize,
    period: usize,
    queued_after_write: usize,
    /// Wall frame at which the reader was first seen reading.
    origin: Option<u64>,
    consumed_bytes: u64,
    skipped: u64,
    written: u64,
    /// Measured ticks in a row that found exactly one read gone.
    steady: u32,
    /// Ticks since the pipe was last measured.
    unmeasured: u32,
    /// The ticks should move between the reader's reads (see the module).
    realign: bool,
    /// One tick in this many measures the pipe while predicting.
    verify: u32,
}

impl Pacer {
    /// A pacer for a pipe (`pipe`) or anything else (paced by the clock only).
    /// `lead_frames` fixes the queued amount instead of learning it.
    pub fn new(frame_bytes: usize, pipe: bool, lead_frames: Option<usize>) -> Pacer {
        let mut p = Pacer {
            frame_bytes,
            pipe,
            read_frames: None,
            fixed: lead_frames.is_some(),
            target: INITIAL_TARGET,
            period: 1,
            queued_after_write: 0,
            origin: None,
            consumed_bytes: 0,
            skipped: 0,
            written: 0,
            steady: 0,
            unmeasured: 0,
            realign: false,
            verify: VERIFY_TICKS,
        };
        if let Some(lead) = lead_frames {
            p.target = lead.max(1);
            p.period = (p.target / 2).clamp(1, MAX_PERIOD);
        } else if !pipe {
            p.target = 3;
            p.period = 2;
        }
        p
    }

    /// Frames between ticks.
    pub fn period_frames(&self) -> usize {
        self.period
    }

    /// Frames kept queued after each top-up.
    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// The learned read size in frames, if any.
    pub fn read_frames(&self) -> Option<usize> {
        self.read_frames
    }

    /// Frames written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether this tick must measure the pipe, or may pass `None` to
    /// [`Pacer::plan`] (see the module).
    pub fn must_measure(&self) -> bool {
        self.pipe && (self.steady < STEADY_TICKS || self.unmeasured + 1 >= self.verify)
    }

    /// Measures one tick in `ticks` while predicting (1: every tick).
    pub fn verify_every(&mut self, ticks: u32) {
        self.verify = ticks.max(1);
    }

    /// True once after the ticks should move off the reader's reads (see
    /// the module and `Clock::set_period`): the read size was just
    /// learned, or a prediction failed.
    pub fn take_realign(&mut self) -> bool {
        std::mem::take(&mut self.realign)
    }

    /// Plans one tick. `queued` is the pipe's content in bytes (ignored when
    /// not a pipe), `None` to predict it (see [`Pacer::must_measure`]);
    /// `wall` is the number of whole frames since start.
    pub fn plan(&mut self, queued: Option<usize>, wall: u64) -> Plan {
        if !self.pipe {
            let due = (wall + self.target as u64).saturating_sub(self.written);
            return Plan {
                skip: 0,
                write: due as usize,
                queued: 0,
            };
        }
        // One read per tick: what the last write left, less one read.
        let predicted = self
            .read_frames
            .filter(|&r| r == self.period)
            .map(|r| self.queued_after_write.saturating_sub(r * self.frame_bytes));
        let queued = match queued {
            Some(q) => {
                if predicted == Some(q) {
                    self.steady = self.steady.saturating_add(1);
                } else {
                    if self.steady >= STEADY_TICKS {
                        // The reader moved (or stopped): step away from it.
                        self.realign = true;
                    }
                    self.steady = 0;
                }
                self.unmeasured = 0;
                q
            }
            None => {
                self.unmeasured += 1;
                predicted.unwrap_or(self.queued_after_write)
            }
        };
        let drained = self.queued_after_write.saturating_sub(queued);
        if drained > 0 {
            if self.origin.is_none() {
                self.origin = Some(wall);
            }
            self.consumed_bytes += drained as u64;
            if !self.fixed && self.read_frames.is_none() {
                self.learn(drained.div_ceil(self.frame_bytes));
            }
        }
        let queued_frames = queued / self.frame_bytes;
        let write = self.target.saturating_sub(queued_frames);
        let mut skip = 0;
        if let Some(origin) = self.origin {
            let expected = wall.saturating_sub(origin);
            let consumed = self.consumed_bytes / self.frame_bytes as u64 + self.skipped;
            let behind = expected.saturating_sub(consumed);
            if behind > STALL_FRAMES {
                skip = behind;
                self.skipped += behind;
            }
        }
        // Never ahead of the clock by more than the lead, whatever the
        // reader does: one that drains the pipe at once (a file, a relay)
        // must still get real time, not a burst.
        let rendered = self.written + self.skipped;
        let write = write.min((wall + self.target as u64).saturating_sub(rendered) as usize);
        Plan { skip, write, queued }
    }

    fn learn(&mut self, read: usize) {
        let read = read.max(1);
        self.read_frames = Some(read);
        self.target = read + 2;
        self.period = if read <= 2 { read } else { read / 2 }.min(MAX_PERIOD);
        self.realign = true;
    }

    /// Records what was actually written and what the pipe then held.
    /// `queued_after` may be an estimate (what was queued before the write
    /// plus what it added): a read that raced the write is then seen at the
    /// next tick. Before the read size is known ticks are one frame apart,
    /// closer than any two reads, so that tick still sees exactly one read.
    pub fn wrote(&mut self, frames: usize, queued_after: usize) {
        self.written += frames as u64;
        self.queued_after_write = queued_after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sim {
        pacer: Pacer,
        short: usize,
        /// Most frames queued before a read, after the first 20 frames.
        max: usize,
        /// Frames queued before each read, by frame.
        leads: Vec<(u64, usize)>,
        measured: u64,
        ticks: u64,
    }

    /// Simulates a reader taking `read` frames every `every` frames, when
    /// `reading(wall)` says it reads at all; the pipe is measured only when
    /// the pacer asks.
    fn simulate_with(read: usize, every: u64, ticks_until: u64, reading: impl Fn(u64) -> bool) -> Sim {
        let fb = 320;
        let mut p = Pacer::new(fb, true, None);
        let mut queued = 0usize;
        let mut short = 0;
        let mut max_before_read = 0;
        let mut leads = Vec::new();
        let mut next_tick = 0u64;
        let (mut measured, mut ticks) = (0, 0);
        for wall in 0..ticks_until {
            if wall == next_tick {
                let measure = p.must_measure();
                measured += u64::from(measure);
                ticks += 1;
                let plan = p.plan(measure.then_some(queued), wall);
                queued += plan.write * fb;
                p.wrote(plan.write, plan.queued + plan.write * fb);
                p.take_realign();
                next_tick += p.period_frames() as u64;
            }
            // The reader reads mid-frame, after our tick in the same frame.
            if wall > 3 && wall % every == 0 && reading(wall) {
                if wall > 20 {
                    max_before_read = max_before_read.max(queued);
                }
                leads.push((wall, queued / fb));
                if queued < read * fb {
                    short += 1;
                } else {
                    queued -= read * fb;
                }
            }
        }
        Sim {
            pacer: p,
            short,
            max: max_before_read / fb,
            leads,
            measured,
            ticks,
        }
    }

    fn simulate(read: usize, every: u64, ticks_until: u64) -> (Pacer, usize, usize) {
        let s = simulate_with(read, every, ticks_until, |_| true);
        (s.pacer, s.short, s.max)
    }

    #[test]
    fn a_clockwork_reader_is_predicted_and_checked() {
        let s = simulate_with(2, 2, 5000, |_| true);
        assert_eq!(s.short, 0);
        assert!(s.max <= 4, "{}", s.max);
        // Measured every tick for the first STEADY_TICKS, then one in VERIFY_TICKS.
        let expected = s.ticks / u64::from(VERIFY_TICKS) + u64::from(STEADY_TICKS) + 10;
        assert!(
            s.measured <= expected,
            "{} of {} ticks measured",
            s.measured,
            s.ticks
        );
        assert!(s.measured >= s.ticks / u64::from(VERIFY_TICKS), "{}", s.measured);
    }

    #[test]
    fn a_reader_that_stops_is_noticed_and_the_lead_comes_back() {
        // Reads stop for a second (frames 1000..1050), then go on.
        let s = simulate_with(2, 2, 3000, |w| !(1000..1050).contains(&w));
        assert_eq!(s.short, 0);
        // Blind top-ups after the stop: at most VERIFY_TICKS - 1 of them.
        let bound = 4 + 2 * (VERIFY_TICKS as usize - 1);
        assert!(s.max <= bound, "{} > {bound}", s.max);
        // The lead is back to one read and two frames soon after.
        let late = s.leads.iter().filter(|(w, _)| *w > 1300).map(|&(_, q)| q).max();
        assert_eq!(late, Some(4));
        // Predicting again by the end.
        assert!(!s.pacer.must_measure() || s.pacer.unmeasured + 1 >= VERIFY_TICKS);
        assert!(s.pacer.steady >= STEADY_TICKS);
    }

    #[test]
    fn a_slow_reader_is_never_predicted() {
        let s = simulate_with(5, 5, 2000, |_| true);
        assert_eq!(s.short, 0);
        assert_eq!(s.measured, s.ticks);
    }

    #[test]
    fn learns_40ms_reader() {
        let (p, short, max) = simulate(2, 2, 500);
        assert_eq!(short, 0);
        assert_eq!(p.read_frames(), Some(2));
        assert_eq!(p.period_frames(), 2);
        assert!(max <= 4, "{max}");
    }

    #[test]
    fn learns_100ms_reader() {
        let (p, short, max) = simulate(5, 5, 500);
        assert_eq!(short, 0);
        assert_eq!(p.read_frames(), Some(5));
        assert!(max <= 7, "{max}");
    }

    #[test]
    fn a_read_racing_the_write_is_learned_right() {
        let fb = 320;
        let mut p = Pacer::new(fb, true, None);
        let first = p.plan(Some(0), 0);
        p.wrote(first.write, first.write * fb);
        // Tick 1: the pipe is measured full, then the reader takes 2 frames
        // before our write lands; the pacer only knows the estimate.
        let q = first.write * fb;
        let plan = p.plan(Some(q), 1);
        p.wrote(plan.write, q + plan.write * fb);
        let real = q + plan.write * fb - 2 * fb;
        // Tick 2 sees the drain of that one read.
        let plan = p.plan(Some(real), 2);
        assert_eq!(p.read_frames(), Some(2));
        p.wrote(plan.write, real + plan.write * fb);
        assert_eq!(p.target_frames(), 4);
    }

    #[test]
    fn a_reader_that_drains_at_once_still_gets_real_time() {
        let fb = 320;
        let mut p = Pacer::new(fb, true, None);
        let mut total = 0u64;
        for wall in 0..1000u64 {
            // The pipe is always found empty: everything was read at once.
            let plan = p.plan(Some(0), wall);
            p.wrote(plan.write, plan.write * fb);
            total += plan.write as u64;
            assert!(
                total <= wall + p.target_frames() as u64,
                "frame {wall}: {total} written"
            );
        }
        assert!(total >= 1000, "{total}");
    }

    #[test]
    fn stall_skips_to_present() {
        let mut p = Pacer::new(320, true, None);
        let plan = p.plan(Some(0), 0);
        p.wrote(plan.write, plan.write * 320);
        // One read of two frames, then nothing for a second.
        let q = (plan.write - 2) * 320;
        p.plan(Some(q), 1);
        p.wrote(0, q);
        let later = p.plan(Some(q), 51);
        assert!(later.skip >= 40, "{later:?}");
        assert_eq!(p.plan(Some(q), 52).skip, 0);
    }

    #[test]
    fn clock_mode_tracks_wall_time() {
        let mut p = Pacer::new(320, false, None);
        let a = p.plan(Some(0), 0);
        p.wrote(a.write, 0);
        let b = p.plan(Some(0), 10);
        assert_eq!(a.write as u64 + b.write as u64, 10 + p.target_frames() as u64);
    }
}
