//! Prompts over the music: a bounded priority queue of prompts and the duck
//! that makes room for them. Before a prompt the music fades down (sine
//! curve) to the duck level, prompts play one after another — a higher
//! priority only jumps the queue, it never cuts a word — and when the queue
//! is empty the music fades back up.

use super::library::{Library, SourceId};
use super::timeline::TimelineEvent;
use crate::audio::ramp::{Curve, Ramp};
use crate::audio::voice::Voice;
use std::sync::Arc;

/// Most prompts waiting at once; more are dropped (a key flood stays bounded).
/// A spoken balance of two accounts is already about 20 prompts.
pub const QUEUE_LIMIT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Down,
    Held,
    Up,
}

struct Queued {
    source: SourceId,
    priority: u8,
    seq: u64,
    queue: Arc<str>,
}

struct Playing {
    source: SourceId,
    voice: Voice,
    skipping: bool,
}

pub struct Speaker {
    queue: Vec<Queued>,
    seq: u64,
    current: Option<Playing>,
    phase: Phase,
    duck: Ramp,
    level: f32,
    fade: u32,
    rate: u32,
}

impl Speaker {
    pub fn new(level: f32, fade_samples: u32, rate: u32) -> Self {
        Speaker {
            queue: Vec::with_capacity(QUEUE_LIMIT),
            seq: 0,
            current: None,
            phase: Phase::Open,
            duck: Ramp::hold(1.0),
            level,
            fade: fade_samples,
            rate,
        }
    }

    /// New duck level and fade length, for the ducks to come.
    pub fn set_levels(&mut self, level: f32, fade_samples: u32) {
        self.level = level;
        self.fade = fade_samples;
    }

    /// Queues a prompt. Returns false when the queue is full.
    pub fn enqueue(&mut self, source: SourceId, priority: u8, queue: &Arc<str>) -> bool {
        if self.queue.len() >= QUEUE_LIMIT {
            return false;
        }
        self.seq += 1;
        self.queue.push(Queued {
            source,
            priority,
            seq: self.seq,
            queue: queue.clone(),
        });
        true
    }

    /// How many more prompts the queue takes.
    pub fn room(&self) -> usize {
        QUEUE_LIMIT.saturating_sub(self.queue.len())
    }

    /// Is a prompt with this queue label waiting (not yet playing)?
    pub fn has_queued(&self, label: &Arc<str>) -> bool {
        self.queue.iter().any(|q| q.queue == *label)
    }

    /// No prompt playing or waiting, and the music fully up.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Open && !self.is_busy()
    }

    pub fn is_busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// Whether a frame of `n` samples in which nothing changes here (so
    /// [`Speaker::step`] has nothing to do) has a prompt in it: `Some(false)`
    /// for the music alone, fully up or fading down before a prompt or up
    /// after one; `Some(true)` for the music held down under a prompt that
    /// plays on steadily (no start, end, skip or fade in it; see
    /// [`Speaker::add_steady`]). `None` when the frame must take the full path.
    /// Such a frame is [`Speaker::duck`], then [`Speaker::add_steady`] for a prompt.
    pub fn steady(&self, lib: &Library, n: usize) -> Option<bool> {
        let done = self.duck.is_done();
        match (&self.current, self.phase) {
            (None, Phase::Open) if done && self.queue.is_empty() => Some(false),
            // The frame that finds the fade over changes the phase.
            (None, Phase::Down) if !done => Some(false),
            (None, Phase::Up) if !done && self.queue.is_empty() => Some(false),
            (Some(p), Phase::Held)
                if done
                    && !p.skipping
                    && lib
                        .ready(p.source)
                        .is_some_and(|(clip, _)| p.voice.is_steady_for(clip, n)) =>
            {
                Some(true)
            }
            _ => None,
        }
    }

    /// Notes what the next steady frame touches (see `Warm`).
    pub fn note_hot(&self, lib: &Library, w: &mut crate::util::prefetch::Warm) {
        w.add(&self.phase);
        w.add(&self.queue);
        w.add(&self.current);
        w.add(&self.duck);
        if let Some(p) = &self.current {
            lib.note_hot(p.source, p.voice.pos, w);
        }
    }

    /// What the quiet path moves on: the prompt's voice and the duck (see
    /// [`crate::engine::QuietMark`]).
    pub fn quiet_state(&self) -> (Option<Voice>, Ramp) {
        (self.current.as_ref().map(|p| p.voice), self.duck)
    }

    /// Puts back what [`Speaker::quiet_state`] gave, frames later.
    pub fn set_quiet_state(&mut self, (voice, duck): (Option<Voice>, Ramp)) {
        // Only quiet frames lie between: the same prompt, or none.
        debug_assert_eq!(self.current.is_some(), voice.is_some());
        if let (Some(p), Some(v)) = (&mut self.current, voice) {
            p.voice = v;
        }
        self.duck = duck;
    }

    /// Adds the prompt playing on steadily into `out`, as [`Speaker::render`]
    /// would; only where [`Speaker::steady`] said so.
    pub fn add_steady(&mut self, lib: &Library, out: &mut [f32]) {
        if let Some(p) = &mut self.current
            && let Some((clip, _)) = lib.ready(p.source)
        {
            p.voice.add_steady(clip, out);
        }
    }

    /// Fades out the prompt now playing (a caller's skip key).
    pub fn skip(&mut self) -> bool {
        match &mut self.current {
            Some(p) if !p.skipping => {
                p.skipping = true;
                p.voice.fade_to(0.0, self.rate / 20, Curve::Sine);
                true
            }
            _ => false,
        }
    }

    /// The next prompt: highest priority first, then first come.
    fn pop(&mut self) -> Option<Queued> {
        let best = self
            .queue
            .iter()
            .enumerate()
            .max_by_key(|(_, q)| (q.priority, std::cmp::Reverse(q.seq)))?
            .0;
        Some(self.queue.remove(best))
    }

    /// Advances the duck and prompt state at a frame boundary.
    pub fn step(&mut self, lib: &Library, events: &mut Vec<TimelineEvent>) {
        self.queue.retain(|q| {
            let failed = lib.is_failed(q.source);
            if failed {
                events.push(TimelineEvent::SourceError {
                    file: lib.name(q.source).clone(),
                });
            }
            !failed
        });
        let waiting = !self.queue.is_empty();
        if waiting && self.current.is_none() && matches!(self.phase, Phase::Open | Phase::Up) {
            if self.phase == Phase::Open {
                events.push(TimelineEvent::DuckStart);
            }
            // From part way up, go down in the matching fraction of the fade.
            let from = self.duck.current();
            let span = (1.0 - self.level).max(f32::EPSILON);
            let len = (self.fade as f32 * ((from - self.level) / span).clamp(0.0, 1.0)) as u32;
            self.duck = Ramp::new(from, self.level, len, Curve::Sine);
            self.phase = Phase::Down;
        }
        if self.phase == Phase::Down && self.duck.is_done() {
            self.phase = Phase::Held;
        }
        if self.phase == Phase::Held && self.current.is_none() {
            if let Some(next) = self.pop() {
                match lib.ready(next.source) {
                    Some((_, gain)) => {
                        events.push(TimelineEvent::PromptStart {
                            file: lib.name(next.source).clone(),
                            queue: next.queue,
                        });
                        let voice = Voice::new(0, gain, Ramp::hold(1.0), self.rate);
                        self.current = Some(Playing {
                            source: next.source,
                            voice,
                            skipping: false,
                        });
                    }
                    // Still decoding (a cold cache at start): wait for it.
                    None => self.queue.push(next),
                }
            } else {
                self.duck = Ramp::new(self.duck.current(), 1.0, self.fade, Curve::Sine);
                self.phase = Phase::Up;
            }
        }
        if self.phase == Phase::Up && self.duck.is_done() {
            self.phase = Phase::Open;
            events.push(TimelineEvent::DuckEnd);
        }
    }

    /// The duck is fading (tests count the frames).
    #[cfg(test)]
    pub fn duck_moving(&self) -> bool {
        !self.duck.is_done()
    }

    /// Applies the duck to a block of music.
    pub fn duck(&mut self, music: &mut [f32]) {
        self.duck.apply(music);
    }

    /// Adds the playing prompt into `out`.
    pub fn render(&mut self, lib: &Library, out: &mut [f32], events: &mut Vec<TimelineEvent>) {
        let Some(p) = &mut self.current else { return };
        let done = match lib.ready(p.source) {
            Some((clip, _)) => {
                p.voice.mix_into(clip, out);
                p.voice.finished(clip) || (p.skipping && p.voice.ramp.is_done())
            }
            None => true,
        };
        if done {
            events.push(TimelineEvent::PromptEnd {
                file: lib.name(p.source).clone(),
                skipped: p.skipping,
            });
            self.current = None;
        }
    }
}
