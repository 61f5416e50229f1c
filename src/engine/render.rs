//! Rendering frames: the full path that does everything a frame can do,
//! and the quiet path that nearly every frame of a call takes (music alone
//! or under a prompt that plays on, nothing due, no event) and that gives
//! the very same samples. Quiet frames can be marked and taken back (see
//! [`super::ahead`]).

use super::timeline::{Entry, TimelineEvent};
use super::{Engine, OUTPUT_DELAY_FRAMES, QuietMark};
use crate::audio::format::FRAME_MS;
use crate::util::prefetch::Warm;
use std::time::Duration;

impl Engine {
    /// Notes the memory the next quiet frame will touch (see [`Warm`]).
    pub fn note_hot(&self, w: &mut Warm) {
        w.add(&self.frame);
        w.add(&self.calm);
        w.add(&self.scratch);
        w.add(&self.pending);
        w.add(&self.lib);
        w.add(&self.limiter);
        self.limiter.note_hot(w);
        self.bed.note_hot(&self.lib, w);
        self.speaker.note_hot(&self.lib, w);
    }

    /// Notes what every tick reads of it, rendering or not: its requests,
    /// timeline, end and progress (see [`Warm`]).
    pub fn note_tick(&self, w: &mut Warm) {
        w.add(&self.requests);
        w.add(&self.timeline);
        w.add(&self.exit);
        w.add(&self.frame);
        w.add(&self.frame_len);
        self.bed.note_progress(w);
    }

    /// Renders the next 20 ms frame into `out` (exactly `frame_len` samples).
    pub fn render_frame(&mut self, out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.frame_len);
        let now = self.now();
        if self.render_quiet(now, out) {
            return;
        }
        self.render_full(now, out);
        self.calm = self.calm_until();
    }

    /// The state the quiet path changes, to come back to (see [`QuietMark`]).
    pub fn quiet_mark(&self) -> QuietMark {
        QuietMark {
            frame: self.frame,
            bed: self.bed.main_voice(),
            speaker: self.speaker.quiet_state(),
            limiter: self.limiter.clone(),
        }
    }

    /// Takes a new mark into `mark`, reusing its memory.
    pub fn set_quiet_mark(&self, mark: &mut QuietMark) {
        mark.frame = self.frame;
        mark.bed = self.bed.main_voice();
        mark.speaker = self.speaker.quiet_state();
        mark.limiter.clone_from(&self.limiter);
    }

    /// Renders the next frame only if it takes the quiet path; false (and
    /// nothing changed) otherwise. Such a frame can be taken back with
    /// [`Engine::rewind_quiet`].
    pub fn render_quiet_frame(&mut self, out: &mut [f32]) -> bool {
        debug_assert_eq!(out.len(), self.frame_len);
        let now = self.now();
        self.render_quiet(now, out)
    }

    /// Goes back to `mark` and renders `frames` quiet frames again (into
    /// nothing): the engine is then where it was after the first `frames`
    /// of those [`Engine::render_quiet_frame`] rendered from the mark, and
    /// the ones after them never happened. Nothing else may have changed
    /// the engine in between.
    pub fn rewind_quiet(&mut self, mark: &QuietMark, frames: u64) {
        self.frame = mark.frame;
        self.bed.set_main_voice(mark.bed);
        self.speaker.set_quiet_state(mark.speaker);
        self.limiter.clone_from(&mark.limiter);
        // Rewinds come with events, which are rare: a buffer of its own.
        let mut buf = vec![0.0; self.frame_len];
        for _ in 0..frames {
            // The same state and the same inputs give the same path; the
            // full path is only a fallback that keeps the stream going.
            if !self.render_quiet_frame(&mut buf) {
                debug_assert!(false, "a replayed frame left the quiet path");
                self.render_frame(&mut buf);
            }
        }
    }

    /// Nearly every frame of a call: music alone or under a prompt that
    /// plays on, nothing due, no event.
    /// It touches only what such a frame needs (a per-call process wakes
    /// 25 times a second with cold caches, so what it touches is what it
    /// costs) and gives the same samples as [`Engine::render_full`].
    #[inline]
    fn render_quiet(&mut self, now: Duration, out: &mut [f32]) -> bool {
        #[cfg(test)]
        if self.full_path_only {
            return false;
        }
        if now >= self.calm || !self.scratch.is_empty() || self.pending.front().is_some_and(|e| e.at <= now) {
            return false;
        }
        let Some(prompt) = self.speaker.steady(&self.lib, out.len()) else {
            return false;
        };
        if !self.bed.render_steady(&self.lib, out) {
            return false;
        }
        // The same operations, in the same order, as the full path's duck
        // and prompt mix: the samples are bit for bit the same.
        #[cfg(test)]
        if self.speaker.duck_moving() {
            self.quiet_fade_frames += 1;
        }
        self.speaker.duck(out);
        if prompt {
            self.speaker.add_steady(&self.lib, out);
            #[cfg(test)]
            {
                self.quiet_prompt_frames += 1;
            }
        }
        self.limiter.process(out);
        self.frame += 1;
        #[cfg(test)]
        {
            self.quiet_frames += 1;
        }
        true
    }

    /// Everything a frame can do: events, schedules, prompts and ducks,
    /// crossfades, track changes. Out of line: the quiet path stays small.
    #[inline(never)]
    fn render_full(&mut self, now: Duration, out: &mut [f32]) {
        self.apply_events(now);
        self.schedule(now);
        self.speaker.step(&self.lib, &mut self.scratch);
        self.note_position_heard(now);

        self.music_buf.fill(0.0);
        self.bed.render(&self.lib, &mut self.music_buf, &mut self.scratch);
        self.speaker.duck(&mut self.music_buf);
        out.copy_from_slice(&self.music_buf);
        self.speaker.render(&self.lib, out, &mut self.scratch);
        self.limiter.process(out);

        self.stamp();
        self.frame += 1;
    }

    /// The position's `every` counts from when it was last said, not from
    /// when it was queued (behind a welcome, say): each of its words that
    /// starts moves that time on.
    fn note_position_heard(&mut self, now: Duration) {
        let Some((_, value)) = self.position_said else {
            return;
        };
        let label = &self.labels.position;
        if self
            .scratch
            .iter()
            .any(|e| matches!(e, TimelineEvent::PromptStart { queue, .. } if queue == label))
        {
            self.position_said = Some((now, value));
        }
    }

    /// Notes in the timeline that the last `frames` frames were rendered
    /// for nobody (a stalled reader; the stream skipped to the present).
    pub fn stalled(&mut self, frames: u64) {
        self.scratch.push(TimelineEvent::Stall {
            skipped: frames as f64 * f64::from(FRAME_MS) / 1000.0,
        });
        self.stamp();
    }

    /// Before the first frame: `frames` of silence were written while the
    /// call was being prepared. The engine's time still starts here, so a
    /// resumed call goes on from what was heard.
    pub fn started_late(&mut self, frames: u64) {
        self.scratch.push(TimelineEvent::Late {
            silence: frames as f64 * f64::from(FRAME_MS) / 1000.0,
        });
        self.stamp();
    }

    /// Moves this frame's events into the timeline with their time.
    pub(super) fn stamp(&mut self) {
        let t = (self.frame + OUTPUT_DELAY_FRAMES) as f64 * f64::from(FRAME_MS) / 1000.0;
        self.timeline
            .extend(self.scratch.drain(..).map(|event| Entry { t, event }));
    }
}
