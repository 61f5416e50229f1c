//! The engine: a deterministic state machine that turns a scenario and
//! timestamped input events into 20 ms audio frames and a timeline. `run`
//! drives it with the real clock and `render` with a virtual one; both call
//! the very same `render_frame`, so tests exercise the real code path.
//!
//! Nothing on the per-frame path allocates in steady state: buffers are made
//! once, the prompt queue and event queue are bounded.

pub mod bed;
pub mod event;
pub mod library;
pub mod speaker;
pub mod timeline;

use crate::audio::format::FRAME_MS;
use crate::audio::limiter::Limiter;
use crate::scenario::{Action, Scenario};
use bed::Bed;
pub use event::{Event, EventKind};
use library::{Library, SourceId};
use speaker::Speaker;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use timeline::{Entry, TimelineEvent};

/// Events waiting for the next frame; beyond this a flood is dropped.
const EVENT_LIMIT: usize = 64;
/// The limiter's look-ahead delays the output by one frame: timeline times
/// say when a thing is heard, so they include it.
const OUTPUT_DELAY_FRAMES: u64 = 1;

struct KeyBinding {
    action: Action,
    say: Vec<SourceId>,
    debounce: Duration,
    priority: u8,
    last: Option<Duration>,
    name: Arc<str>,
}

struct Repeat {
    next: Duration,
    every: Duration,
    say: Vec<SourceId>,
}

pub struct Engine {
    rate: u32,
    frame_len: usize,
    frame: u64,
    lib: Library,
    bed: Bed,
    speaker: Speaker,
    limiter: Limiter,
    keys: BTreeMap<char, KeyBinding>,
    welcome: Vec<SourceId>,
    repeats: Vec<Repeat>,
    pending: VecDeque<Event>,
    scratch: Vec<TimelineEvent>,
    timeline: Vec<Entry>,
    exit: Option<String>,
    music_buf: Vec<f32>,
    position: Option<u32>,
    queue_welcome: Arc<str>,
    queue_repeat: Arc<str>,
    queue_key: Arc<str>,
}

impl Engine {
    /// Builds an engine for `scenario` at `rate` Hz. Every source starts
    /// pending: load them through [`Engine::library_mut`] before or while playing.
    pub fn new(scenario: &Scenario, rate: u32) -> Engine {
        let mut lib = Library::new(scenario.levels.loudness);
        let tracks: Vec<SourceId> = scenario.tracks.iter().map(|p| lib.add(p)).collect();
        let mut prompt = |name: &String| scenario.prompts.get(name).map(|p| lib.add(p));
        let welcome = scenario.welcome.iter().filter_map(&mut prompt).collect();
        let repeats = scenario
            .repeats
            .iter()
            .map(|r| Repeat {
                next: r.first,
                every: r.every,
                say: r.say.iter().filter_map(&mut prompt).collect(),
            })
            .collect();
        let keys = scenario
            .keys
            .iter()
            .map(|(&c, k)| {
                let binding = KeyBinding {
                    action: k.action,
                    say: k.say.iter().filter_map(&mut prompt).collect(),
                    debounce: k.debounce,
                    priority: k.priority,
                    last: None,
                    name: Arc::from(k.action.name()),
                };
                (c, binding)
            })
            .collect();
        let samples = |d: Duration| (d.as_secs_f64() * f64::from(rate)).round() as u32;
        let frame_len = (rate * FRAME_MS / 1000) as usize;
        Engine {
            rate,
            frame_len,
            frame: 0,
            bed: Bed::new(tracks, samples(scenario.crossfade), rate),
            speaker: Speaker::new(scenario.levels.duck, samples(scenario.levels.fade), rate),
            // Recover from limiting over about half a second.
            limiter: Limiter::new(frame_len, 25),
            lib,
            keys,
            welcome,
            repeats,
            pending: VecDeque::with_capacity(EVENT_LIMIT),
            scratch: Vec::with_capacity(16),
            timeline: Vec::with_capacity(16),
            exit: None,
            music_buf: vec![0.0; frame_len],
            position: None,
            queue_welcome: Arc::from("welcome"),
            queue_repeat: Arc::from("repeat"),
            queue_key: Arc::from("key"),
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Frames rendered so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// Stream time at the start of the next frame.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.frame * u64::from(FRAME_MS))
    }

    pub fn library(&self) -> &Library {
        &self.lib
    }

    pub fn library_mut(&mut self) -> &mut Library {
        &mut self.lib
    }

    /// Starts the music at track `index`, `offset` into it (before the first frame).
    pub fn start_music_at(&mut self, index: usize, offset: Duration) {
        self.bed
            .start_at(index, (offset.as_secs_f64() * f64::from(self.rate)) as usize);
    }

    /// Queues an event; it is acted on at the first frame starting at or after `event.at`.
    pub fn push(&mut self, event: Event) {
        if self.pending.len() >= EVENT_LIMIT {
            // A flood (a stuck key, a hostile feed): drop, never grow.
            self.pending.pop_front();
        }
        self.pending.push_back(event);
    }

    /// Why the engine wants to stop, once it does (a `hangup` event).
    pub fn exit_reason(&self) -> Option<&str> {
        self.exit.as_deref()
    }

    /// Records the exit in the timeline (the driver calls this once, at the end).
    pub fn finish(&mut self, reason: &str) {
        self.scratch.push(TimelineEvent::Exit {
            reason: reason.to_string(),
        });
        self.stamp();
    }

    /// Timeline entries produced since the last call.
    pub fn drain_timeline(&mut self) -> std::vec::Drain<'_, Entry> {
        self.timeline.drain(..)
    }

    /// Renders the next 20 ms frame into `out` (exactly `frame_len` samples).
    pub fn render_frame(&mut self, out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.frame_len);
        let now = self.now();
        self.apply_events(now);
        self.schedule(now);
        self.speaker.step(&self.lib, &mut self.scratch);

        self.music_buf.fill(0.0);
        self.bed.render(&self.lib, &mut self.music_buf, &mut self.scratch);
        self.speaker.duck(&mut self.music_buf);
        out.copy_from_slice(&self.music_buf);
        self.speaker.render(&self.lib, out, &mut self.scratch);
        self.limiter.process(out);

        self.stamp();
        self.frame += 1;
    }

    /// Moves this frame's events into the timeline with their time.
    fn stamp(&mut self) {
        let t = (self.frame + OUTPUT_DELAY_FRAMES) as f64 * f64::from(FRAME_MS) / 1000.0;
        self.timeline
            .extend(self.scratch.drain(..).map(|event| Entry { t, event }));
    }

    fn apply_events(&mut self, now: Duration) {
        while self.pending.front().is_some_and(|e| e.at <= now) {
            let Some(event) = self.pending.pop_front() else {
                break;
            };
            match event.kind {
                EventKind::Dtmf(digit) => self.key(digit, event.at),
                EventKind::Position(value) => {
                    self.position = Some(value);
                    self.scratch.push(TimelineEvent::Position { value });
                }
                EventKind::Hangup => {
                    if self.exit.is_none() {
                        self.exit = Some("hangup".to_string());
                    }
                }
            }
        }
    }

    fn key(&mut self, digit: char, at: Duration) {
        let Some(k) = self.keys.get_mut(&digit) else {
            self.scratch.push(TimelineEvent::Dtmf { digit, action: None });
            return;
        };
        if let Some(last) = k.last
            && at.saturating_sub(last) < k.debounce
        {
            self.scratch.push(TimelineEvent::Dtmf {
                digit,
                action: Some(Arc::from("debounced")),
            });
            return;
        }
        k.last = Some(at);
        self.scratch.push(TimelineEvent::Dtmf {
            digit,
            action: Some(k.name.clone()),
        });
        match k.action {
            Action::NextMusic => {
                self.bed.switch(&self.lib, 1, &mut self.scratch);
            }
            Action::PreviousMusic => {
                self.bed.switch(&self.lib, -1, &mut self.scratch);
            }
            Action::Say => {
                for &id in &k.say {
                    if !self.speaker.enqueue(id, k.priority, &self.queue_key) {
                        tracing::warn!("prompt queue full: key {digit} prompt dropped");
                    }
                }
            }
            Action::SkipPrompt => {
                self.speaker.skip();
            }
        }
    }

    fn schedule(&mut self, now: Duration) {
        if self.frame == 0 {
            for &id in &self.welcome {
                self.speaker.enqueue(id, 1, &self.queue_welcome);
            }
        }
        for r in &mut self.repeats {
            if now >= r.next {
                // Never pile up: skip a repeat while the last one is still queued.
                if !self.speaker.is_busy() {
                    for &id in &r.say {
                        self.speaker.enqueue(id, 0, &self.queue_repeat);
                    }
                }
                r.next = if r.every.is_zero() {
                    Duration::MAX
                } else {
                    r.next + r.every
                };
            }
        }
    }
}
