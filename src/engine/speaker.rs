//! Prompts over the music: a bounded priority queue of phrases and the duck
//! that makes room for them. Before a prompt the music fades down (sine
//! curve) to the duck level, prompts play one after another and when the
//! queue is empty the music fades back up.
//!
//! A phrase (a welcome, a position, an advice: the prompts one template
//! says) is queued whole and plays whole: once its first prompt starts,
//! nothing else comes between its parts, whatever its priority. A higher
//! priority only jumps the queue between phrases. The one thing that cuts
//! in is an urgent phrase, a key's answer ([`Speaker::barge`]): the prompt
//! playing fades out over [`BARGE_MS`] (never a click), the rest of its
//! phrase is dropped, and the answer starts as soon as the fade is over,
//! the music ducked just as fast.

use super::library::{Library, SourceId};
use super::timeline::TimelineEvent;
use crate::audio::ramp::{Curve, Ramp};
use crate::audio::voice::Voice;
use std::sync::Arc;

/// Most prompts waiting at once; more are dropped (a key flood stays bounded).
/// A spoken balance of two accounts is already about 20 prompts.
pub const QUEUE_LIMIT: usize = 64;

/// How long the prompt a key's answer cuts takes to fade out, and the
/// music to duck under the answer: short enough that the caller hears the
/// key answered at once (issue 19: at most 60 ms), long enough that a
/// raised-cosine fade does not click. One frame: the answer starts at the
/// frame after the key's.
pub const BARGE_MS: u32 = 20;

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
    /// A key's answer: before everything else, cutting what plays.
    urgent: bool,
    /// The phrase it is part of (phrases are numbered as queued).
    phrase: u64,
    seq: u64,
    queue: Arc<str>,
}

struct Playing {
    source: SourceId,
    phrase: u64,
    voice: Voice,
    skipping: bool,
}

pub struct Speaker {
    queue: Vec<Queued>,
    seq: u64,
    phrases: u64,
    /// The phrase whose first prompt has started: its other parts come
    /// next, before anything else (unless a barge drops them).
    open: Option<u64>,
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
            phrases: 0,
            open: None,
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

    /// Queues a prompt, a phrase of its own. Returns false when the queue is full.
    pub fn enqueue(&mut self, source: SourceId, priority: u8, queue: &Arc<str>) -> bool {
        self.enqueue_phrase(&[source], priority, false, queue).is_some()
    }

    /// Queues a phrase, whole or not at all (`None` when the queue has no
    /// room for it, or it is empty); returns its number (see
    /// [`Speaker::phrase_done`]). An `urgent` phrase is a key's answer: it
    /// goes before every other phrase and cuts the one playing (see
    /// [`Speaker::barge`]).
    pub fn enqueue_phrase(
        &mut self,
        sources: &[SourceId],
        priority: u8,
        urgent: bool,
        queue: &Arc<str>,
    ) -> Option<u64> {
        if urgent {
            self.barge();
            if sources.len() > self.room() {
                // A key's answer matters more than what waits to be said.
                self.queue.retain(|q| q.urgent);
            }
        }
        if sources.is_empty() || sources.len() > self.room() {
            return None;
        }
        self.phrases += 1;
        for &source in sources {
            self.seq += 1;
            self.queue.push(Queued {
                source,
                priority,
                urgent,
                phrase: self.phrases,
                seq: self.seq,
                queue: queue.clone(),
            });
        }
        Some(self.phrases)
    }

    /// Cuts what is being said, for a key's answer: the prompt playing
    /// fades out over [`BARGE_MS`] and the rest of its phrase is dropped
    /// (a phrase is never heard split by another). Phrases not started
    /// yet stay queued, after the answer.
    pub fn barge(&mut self) {
        if let Some(open) = self.open.take() {
            self.queue.retain(|q| q.phrase != open);
        }
        let len = self.barge_len();
        if let Some(p) = &mut self.current
            && !p.skipping
        {
            p.skipping = true;
            p.voice.fade_to(0.0, len, Curve::Sine);
        }
    }

    fn barge_len(&self) -> u32 {
        (self.rate * BARGE_MS / 1000).max(1)
    }

    /// Whether phrase `phrase` is over: nothing of it plays or waits.
    pub fn phrase_done(&self, phrase: u64) -> bool {
        self.current.as_ref().is_none_or(|p| p.phrase != phrase)
            && !self.queue.iter().any(|q| q.phrase == phrase)
    }

    /// How many more prompts the queue takes.
    pub fn room(&self) -> usize {
        QUEUE_LIMIT.saturating_sub(self.queue.len())
    }

    /// Is a prompt with this queue label waiting (not yet playing)?
    pub fn has_queued(&self, label: &Arc<str>) -> bool {
        self.queue.iter().any(|q| q.queue == *label)
    }

    /// Drops the phrases with this queue label that have not started.
    pub fn drop_queued(&mut self, label: &Arc<str>) {
        let open = self.open;
        self.queue.retain(|q| q.queue != *label || Some(q.phrase) == open);
    }

    /// Drops every phrase not started yet (the call's language changed:
    /// they were resolved in the old one). The one playing is left to
    /// [`Speaker::barge`].
    pub fn drop_all_queued(&mut self) {
        self.queue.clear();
        self.open = None;
    }

    /// No prompt playing or waiting, and the music fully up.
    /// The prompt playing now, if any.
    pub fn playing(&self) -> Option<SourceId> {
        self.current.as_ref().map(|p| p.source)
    }

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

    /// The next prompt: the next part of the phrase under way, if any;
    /// else a key's answer first, then the highest priority, then first come.
    fn pop(&mut self) -> Option<Queued> {
        let open = self.open;
        let best = self
            .queue
            .iter()
            .enumerate()
            .max_by_key(|(_, q)| {
                (
                    Some(q.phrase) == open,
                    q.urgent,
                    q.priority,
                    std::cmp::Reverse(q.seq),
                )
            })?
            .0;
        let next = self.queue.remove(best);
        self.open = Some(next.phrase);
        Some(next)
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
        // A key's answer ducks the music as fast as it cuts a prompt.
        let urgent = self.queue.iter().any(|q| q.urgent);
        let fade = if urgent {
            self.fade.min(self.barge_len())
        } else {
            self.fade
        };
        let slow_down = self.phase == Phase::Down && urgent && self.duck.remaining() > fade;
        if waiting && self.current.is_none() && (matches!(self.phase, Phase::Open | Phase::Up) || slow_down) {
            if self.phase == Phase::Open {
                events.push(TimelineEvent::DuckStart);
            }
            // From part way up, go down in the matching fraction of the fade.
            let from = self.duck.current();
            let span = (1.0 - self.level).max(f32::EPSILON);
            let len = (fade as f32 * ((from - self.level) / span).clamp(0.0, 1.0)) as u32;
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
                            phrase: next.phrase,
                            voice,
                            skipping: false,
                        });
                    }
                    // Still decoding (a cold cache at start): wait for it.
                    None => self.queue.push(next),
                }
            } else {
                self.open = None;
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
