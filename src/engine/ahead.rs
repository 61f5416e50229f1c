//! Frames rendered ahead of the clock, and taken back on an event.
//!
//! A call process wakes 25 times a second with cold caches, so what a wake
//! touches is what it costs: the engine's state, its code, the clips'
//! samples, each on pages of their own. While the engine is calm (music
//! alone, or held down under a prompt that plays on: the quiet path), the
//! frames of the next second are rendered and encoded in one wake,
//! and the wakes in between only write what is ready. An event (a key, a
//! reload) first takes back what was not written yet, so it is acted on at
//! the next frame as before, and the stream is the same bit for bit.

use super::{Engine, QuietMark};
use crate::audio::format::Format;
use crate::util::prefetch::Warm;

/// Frames rendered ahead at most: a second, so one wake in 25 renders. An
/// even number, so that a 40 ms reader's two frames a tick use it up
/// exactly. Taking it back costs at most a second's quiet frames again
/// (about 25 µs), on the rare tick with an event.
pub const FRAMES: usize = 50;

pub struct Ahead {
    /// Owned here so that nothing changes it behind the frames rendered
    /// ahead: [`Ahead::change`] takes them back first.
    engine: Engine,
    /// One frame of samples, rendered into before encoding.
    samples: Vec<f32>,
    format: Format,
    frame_bytes: usize,
    /// Encoded frames: `[0, next)` written, `[next, len)` ready.
    bytes: Vec<u8>,
    next: usize,
    len: usize,
    /// The engine at the first frame of `bytes`. Frames stay ready only
    /// when [`Ahead::fill`] made them: [`Ahead::take`] hands out all it renders.
    mark: QuietMark,
}

impl Ahead {
    pub fn new(engine: Engine, format: Format) -> Self {
        let frame_bytes = format.frame_bytes();
        Ahead {
            samples: vec![0.0; engine.frame_len()],
            mark: engine.quiet_mark(),
            engine,
            format,
            frame_bytes,
            bytes: vec![0; FRAMES * frame_bytes],
            next: 0,
            len: 0,
        }
    }

    /// The engine, to look at. It may be ahead of what was written by
    /// [`Ahead::ready`] frames.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to change (an event, a reload, a request served): the
    /// frames not taken yet are taken back first, so the change applies
    /// from the next frame written, as if nothing had been rendered ahead.
    pub fn change(&mut self) -> &mut Engine {
        self.rewind();
        &mut self.engine
    }

    /// What happened, for the timeline. Taking it out changes nothing the
    /// frames ahead depend on.
    pub fn drain_timeline(&mut self) -> std::vec::Drain<'_, super::timeline::Entry> {
        self.engine.drain_timeline()
    }

    /// What the engine asks of others (lookups, redirects); like the
    /// timeline, taking them out changes nothing rendered.
    pub fn take_requests(&mut self) -> impl Iterator<Item = super::Request> + '_ {
        self.engine.take_requests()
    }

    /// Frames rendered and not taken yet: the engine is this far ahead of
    /// what was written.
    pub fn ready(&self) -> usize {
        self.len - self.next
    }

    /// Moves the stream on by `n` frames nobody will hear (a stalled
    /// reader), and says so in the timeline at the frame they end on. What
    /// was ready is taken back first, so the timeline's time is of the
    /// stream as written (rare: a stall is the reader's, not a tick's).
    pub fn skip(&mut self, n: u64) {
        self.rewind();
        for _ in 0..n {
            self.engine.render_frame(&mut self.samples);
        }
        self.engine.stalled(n);
    }

    /// The next `n` frames, encoded. What is not ready is rendered now,
    /// through every path of the engine.
    pub fn take(&mut self, n: usize) -> &[u8] {
        let fb = self.frame_bytes;
        if self.ready() < n {
            // All of it is taken below: nothing is left to take back.
            let have = self.ready();
            self.bytes.copy_within(self.next * fb..self.len * fb, 0);
            if self.bytes.len() < n * fb {
                self.bytes.resize(n * fb, 0);
            }
            for out in self.bytes[have * fb..n * fb].chunks_exact_mut(fb) {
                self.engine.render_frame(&mut self.samples);
                self.format.encode_into(&self.samples, out);
            }
            self.next = 0;
            self.len = n;
        }
        let at = self.next * fb;
        self.next += n;
        &self.bytes[at..at + n * fb]
    }

    /// Takes back the frames not taken: the engine goes back to the first
    /// of them.
    fn rewind(&mut self) {
        if self.ready() > 0 {
            self.engine.rewind_quiet(&self.mark, self.next as u64);
        }
        self.next = 0;
        self.len = 0;
    }

    /// Once all is taken, renders up to [`FRAMES`] frames ahead, as far as
    /// the engine stays on the quiet path.
    pub fn fill(&mut self) {
        if self.ready() > 0 {
            return;
        }
        self.engine.set_quiet_mark(&mut self.mark);
        let fb = self.frame_bytes;
        let mut len = 0;
        for out in self.bytes[..FRAMES * fb].chunks_exact_mut(fb) {
            if !self.engine.render_quiet_frame(&mut self.samples) {
                break;
            }
            self.format.encode_into(&self.samples, out);
            len += 1;
        }
        self.next = 0;
        self.len = len;
    }

    /// Notes what the next tick touches: the engine when it must render,
    /// and the next `n` frames' bytes, ready or about to be rendered into
    /// (see [`Warm`]).
    pub fn note_hot(&self, n: usize, w: &mut Warm) {
        // Its own fields, not the whole of it: the engine it holds is
        // most of it, and only noted when it renders.
        w.add(&self.next);
        w.add(&self.len);
        w.add(&self.frame_bytes);
        w.add(&self.bytes);
        let fb = self.frame_bytes;
        let end = (self.next + n).min(self.bytes.len() / fb);
        w.add(&self.bytes[self.next * fb..end * fb]);
        self.engine.note_tick(w);
        if self.ready() < n {
            self.engine.note_hot(w);
            w.add(&self.samples[..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::demo_engine;
    use crate::engine::{Event, EventKind};
    use std::time::Duration;

    /// Drives the demo as `run` does, ticks of one to three frames, a
    /// stalled reader now and then, and events that come in while frames
    /// are ready; then renders the same events at the same stream times
    /// frame by frame. The bytes and the timeline must be the same.
    #[test]
    fn frames_taken_back_leave_the_same_stream() {
        let format = Format::Slin;
        let keys = ['3', '4', '2', '6', '0', '#', '5', '1'];
        let mut ahead = Ahead::new(demo_engine(false), format);
        let mut samples = vec![0.0f32; ahead.engine().frame_len()];
        let (mut got, mut timeline, mut events, mut skips) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut rewound, mut ahead_frames) = (0, 0);
        for tick in 0..6000u64 {
            if tick % 97 == 41 {
                rewound += ahead.ready();
                let e = ahead.change();
                let kind = if tick % 3 == 0 {
                    EventKind::Position(1 + (tick % 9) as u32)
                } else {
                    EventKind::Dtmf(keys[(tick % 8) as usize])
                };
                events.push(Event {
                    at: e.now(),
                    kind: kind.clone(),
                });
                e.push(Event { at: e.now(), kind });
            }
            if tick % 500 == 250 {
                skips.push(ahead.engine().frames() - ahead.ready() as u64);
                ahead.skip(5);
            }
            let n = [2, 2, 1, 2, 3, 2][(tick % 6) as usize];
            got.extend_from_slice(ahead.take(n));
            timeline.extend(ahead.drain_timeline());
            ahead.take_requests().for_each(drop);
            ahead.fill();
            ahead_frames += ahead.ready();
        }
        let frames = ahead.engine().frames() as usize - ahead.ready();
        assert!(
            ahead_frames > frames / 2,
            "{ahead_frames} of {frames} frames rendered ahead"
        );
        assert!(rewound > 20, "only {rewound} frames taken back");

        // The reference takes the full path only, with each event pushed
        // at its frame, as `run` would.
        let mut r = demo_engine(true);
        let mut events = events.into_iter().peekable();
        let mut want = Vec::new();
        let mut want_timeline = Vec::new();
        let mut out = vec![0u8; format.frame_bytes()];
        for f in 0..frames as u64 {
            while let Some(ev) = events.next_if(|ev| ev.at <= r.now()) {
                r.push(ev);
            }
            r.render_frame(&mut samples);
            if !skips.iter().any(|&s| (s..s + 5).contains(&f)) {
                format.encode_into(&samples, &mut out);
                want.extend_from_slice(&out);
            }
            if skips.contains(&(f + 1).saturating_sub(5)) && f >= 4 {
                r.stalled(5);
            }
            want_timeline.extend(r.drain_timeline());
            r.take_requests().for_each(drop);
        }
        assert!(
            want_timeline.len() > 40,
            "{} timeline entries",
            want_timeline.len()
        );
        assert_eq!(timeline, want_timeline);
        assert_eq!(got.len(), want.len());
        let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "bytes differ");
        assert_eq!(
            ahead.engine().now(),
            r.now() + Duration::from_millis(20 * ahead.ready() as u64)
        );
    }
}
