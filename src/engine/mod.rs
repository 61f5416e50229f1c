//! The engine: a deterministic state machine that turns a scenario and
//! timestamped input events into 20 ms audio frames and a timeline. `run`
//! drives it with the real clock and `render` with a virtual one; both call
//! the very same `render_frame`, so tests exercise the real code path.
//!
//! Nothing on the per-frame path allocates in steady state: buffers are made
//! once, the prompt queue and event queue are bounded.
//!
//! This file holds the [`Engine`] itself, its small types and accessors;
//! its behaviours are `impl Engine` blocks of their own: `config` builds it
//! and applies a playlist (at start and on reload), `input` takes the events
//! due at a frame and dispatches keys, `announce` says things, `schedule`
//! works out what is due by the clock and does it, `render` runs the full
//! and the quiet frame paths; `snapshot` and `memory` resume a call and
//! remember a caller. The parts the engine is made of have a file each:
//! `bed` (music), `speaker` (prompts and the duck), `advice`, `queue`,
//! `phrase` (templates to prompts), `library` (sources), `event`, `timeline`,
//! and `ahead` renders quiet frames in advance for the driver.

pub mod advice;
pub mod ahead;
mod announce;
pub mod bed;
mod config;
mod control;
mod dated;
pub mod event;
mod input;
pub mod language;
pub mod library;
pub mod memory;
pub mod phrase;
pub mod plan;
pub mod queue;
mod random_start;
mod render;
mod schedule;
pub mod snapshot;
pub mod speaker;
pub mod timeline;

use crate::audio::format::FRAME_MS;
use crate::audio::limiter::Limiter;
use crate::audio::ramp::Ramp;
use crate::audio::voice::Voice;
use crate::scenario::{Action, Announce, Redirect, Scenario, Template};
use advice::Advisor;
use bed::Bed;
use chrono::{DateTime, Utc};
pub use control::Status;
pub use event::{Account, BalanceAnswer, Ended, Event, EventKind, MusicPick, Sound};
use library::{Library, SourceId};
use queue::QueueInfo;
use speaker::Speaker;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use timeline::{Entry, TimelineEvent};

/// Events waiting for the next frame; beyond this a flood is dropped.
const EVENT_LIMIT: usize = 64;
/// Requests waiting for the driver; beyond this the oldest are dropped.
const REQUEST_LIMIT: usize = 16;
/// The limiter's look-ahead delays the output by one frame: timeline times
/// say when a thing is heard, so they include it.
const OUTPUT_DELAY_FRAMES: u64 = 1;

/// Prompt priorities: a higher one jumps the queue between phrases (never
/// cuts a word; only a key's answer does, see [`speaker`]).
const PRIO_ADVICE: u8 = 0;
const PRIO_DISSUADE: u8 = 2;
/// Queue announcements; key answers use the two above it.
const PRIO_QUEUE: u8 = 3;
/// The welcome is the first thing a caller hears: queued at the first
/// frame, only a key's answer goes before it. (Below the queue's, a
/// position the hub greets the generator with 0.1 s in was said first,
/// while the music was still fading down for the welcome.)
const PRIO_WELCOME: u8 = PRIO_QUEUE + 3;
/// How long a balance lookup may take before "one moment" is said.
const BALANCE_PATIENCE: Duration = Duration::from_millis(500);

/// What the engine asks of the world; the driver answers with events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Look the caller's balance up; answer with `EventKind::Balance`.
    Balance,
    /// Send the caller to this dialplan place (AMI `Redirect`).
    Redirect(Redirect),
    /// Ask the playlist's webhook for a hold plan; answer with
    /// `EventKind::Plan` (see [`plan`]).
    Plan(crate::webhook::Ask),
}

struct KeyBinding {
    action: Action,
    say: Template,
    debounce: Duration,
    priority: u8,
    last: Option<Duration>,
    name: Arc<str>,
    redirect: Option<Redirect>,
    /// What a `language` key chooses.
    language: Option<Arc<str>>,
}

struct Repeat {
    next: Duration,
    every: Duration,
    say: Template,
    /// Not said at this queue position or below (issue 19).
    position_above: u32,
}

/// Labels of the speaker's queues, as the timeline shows them.
struct Labels {
    welcome: Arc<str>,
    repeat: Arc<str>,
    key: Arc<str>,
    position: Arc<str>,
    wait: Arc<str>,
    balance: Arc<str>,
    dissuade: Arc<str>,
    redirect: Arc<str>,
}

/// What the quiet path changes: the frame count, the bed's and the prompt's
/// voices, the duck and the limiter. Kept at the first of the frames rendered ahead
/// (see [`ahead`]) so they can be taken back when an event comes in.
#[derive(Clone)]
pub struct QuietMark {
    frame: u64,
    bed: Option<Voice>,
    speaker: (Option<Voice>, Ramp),
    limiter: Limiter,
}

pub struct Engine {
    rate: u32,
    frame_len: usize,
    frame: u64,
    lib: Library,
    bed: Bed,
    speaker: Speaker,
    limiter: Limiter,
    prompts: BTreeMap<String, SourceId>,
    speech: Option<phrase::Speech>,
    /// The playlist's languages and the call's choice (see [`language`]).
    langs: language::LangState,
    keys: BTreeMap<char, KeyBinding>,
    welcome: Template,
    repeats: Vec<Repeat>,
    advisor: Advisor,
    /// The playlist's advice groups (a language may have its own files).
    shared_advice: Vec<crate::scenario::AdviceGroup>,
    advice_labels: BTreeMap<Arc<str>, Arc<str>>,
    advice_next: Duration,
    advice_gap: Duration,
    advice_playing: bool,
    /// Advices heard this call (a reload must not play them again).
    heard: BTreeSet<SourceId>,
    announce: Announce,
    queue: QueueInfo,
    /// Last position said, and when.
    position_said: Option<(Duration, u32)>,
    wait_next: Duration,
    dissuaded: bool,
    last_said: Option<(Vec<SourceId>, Arc<str>)>,
    /// A redirect waiting for its confirmation (that phrase) to end.
    redirect_after_prompt: Option<(Redirect, u64)>,
    /// The hold plan a webhook gives (see [`plan`]).
    plan: plan::PlanRun,
    /// A balance lookup asked for and not answered yet: since when, and
    /// whether "one moment" was said for it.
    balance_pending: Option<(Duration, bool)>,
    /// Personal announcements (balance) allowed: false once Asterisk said
    /// the identity given is not this call's.
    personal: bool,
    requests: VecDeque<Request>,
    timezone: Option<crate::scenario::Zone>,
    wall_start: DateTime<Utc>,
    /// Which music, welcome, repeats and keys are open when (windows).
    dated: dated::Dated,
    rng: fastrand::Rng,
    /// What `rng` started from: a resumed call replays the same orders.
    seed: u64,
    /// A new playlist version, applied when no prompt is playing.
    reload: Option<Box<Scenario>>,
    pending: VecDeque<Event>,
    scratch: Vec<TimelineEvent>,
    timeline: Vec<Entry>,
    exit: Option<Ended>,
    music_buf: Vec<f32>,
    labels: Labels,
    /// Until this stream time nothing is due: no repeat, announcement,
    /// advice or "one moment" (see [`Engine::calm_until`]). Frames before it
    /// with no event, no prompt and steady music take the quiet path.
    calm: Duration,
    /// Tests compare the quiet path against the full one.
    #[cfg(test)]
    full_path_only: bool,
    #[cfg(test)]
    quiet_frames: u64,
    #[cfg(test)]
    quiet_prompt_frames: u64,
    #[cfg(test)]
    quiet_fade_frames: u64,
}

impl Engine {
    /// Whether personal announcements (balance) are allowed from the start;
    /// an `Identity` event changes it later. Without it, they are.
    pub fn set_personal(&mut self, on: bool) {
        self.personal = on;
        self.calm = Duration::ZERO;
    }

    /// Whether [`Engine::take_requests`] has anything.
    pub fn has_requests(&self) -> bool {
        !self.requests.is_empty()
    }

    /// Whether [`Engine::drain_timeline`] has anything.
    pub fn has_timeline(&self) -> bool {
        !self.timeline.is_empty()
    }

    /// Requests made since the last call (balance lookups, redirects).
    pub fn take_requests(&mut self) -> impl Iterator<Item = Request> + '_ {
        self.requests.drain(..)
    }

    fn request(&mut self, r: Request) {
        if self.requests.len() >= REQUEST_LIMIT {
            self.requests.pop_front();
        }
        self.requests.push_back(r);
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
        // A source that became ready or failed may start a prompt.
        self.calm = Duration::ZERO;
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
    pub fn ended(&self) -> Option<Ended> {
        self.exit
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audio::clip::Clip;

    /// The demo playlist with every source ready as a short synthetic clip:
    /// music tracks of a few seconds (so tracks change often), prompts and
    /// words under a second.
    pub(crate) fn demo_engine(full_path_only: bool) -> Engine {
        demo_engine_ducked(full_path_only, None)
    }

    /// [`demo_engine`] with its duck level set to `duck` (1.0: no duck).
    fn demo_engine_ducked(full_path_only: bool, duck: Option<f32>) -> Engine {
        demo_engine_with(full_path_only, |s| {
            if let Some(d) = duck {
                s.levels.duck = d;
            }
        })
    }

    /// [`demo_engine`] of the demo playlist as `change` leaves it.
    pub(crate) fn demo_engine_with(full_path_only: bool, change: impl FnOnce(&mut Scenario)) -> Engine {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo.toml");
        let mut scenario = crate::scenario::load_valid(&path).expect("demo playlist");
        change(&mut scenario);
        let mut e = Engine::new(&scenario, 8000, 7);
        e.full_path_only = full_path_only;
        let ids: Vec<_> = e.library().ids().collect();
        for id in ids {
            let music = e.library().path(id).to_string_lossy().contains("music");
            let (len, f) = if music {
                (8000 * (5 + id.0 as usize % 4), 0.011 + id.0 as f32 * 0.003)
            } else {
                (2000 + 300 * (id.0 as usize % 5), 0.09)
            };
            let samples = (0..len).map(|i| 0.4 * (i as f32 * f).sin()).collect();
            let clip = Clip::from_vec(e.library().name(id).clone(), samples, Some(-20.0));
            e.library_mut().set_ready(id, Arc::new(clip));
        }
        e
    }

    #[test]
    fn the_quiet_path_sounds_like_the_full_one() {
        let script: &[(u64, EventKind)] = &[
            (3, EventKind::Holdtime(Duration::from_secs(400))),
            (5, EventKind::Position(7)),
            (31, EventKind::Dtmf('3')),
            (32, EventKind::Dtmf('4')),
            (61, EventKind::Dtmf('2')),
            (62, EventKind::Balance(BalanceAnswer::Failed)),
            (95, EventKind::Position(3)),
            (140, EventKind::Dtmf('6')),
            (150, EventKind::Dtmf('0')),
            (151, EventKind::Dtmf('#')),
            (260, EventKind::Dtmf('5')),
            (300, EventKind::Position(1)),
        ];
        // The playlist's duck, and none at all (a level of 1).
        for duck in [None, Some(1.0)] {
            quiet_matches_full(script, duck);
        }
    }

    fn quiet_matches_full(script: &[(u64, EventKind)], duck: Option<f32>) {
        let mut runs = Vec::new();
        let (mut quiet_frames, mut quiet_prompt_frames, mut quiet_fade_frames) = (0, 0, 0);
        for full in [true, false] {
            let mut e = demo_engine_ducked(full, duck);
            for (s, kind) in script {
                e.push(Event {
                    at: Duration::from_secs(*s),
                    kind: kind.clone(),
                });
            }
            let mut out = vec![0.0f32; e.frame_len()];
            let mut samples = Vec::new();
            let mut timeline = Vec::new();
            for _ in 0..(400 * 50) {
                e.render_frame(&mut out);
                samples.extend(out.iter().map(|s| s.to_bits()));
                timeline.extend(e.drain_timeline());
                e.take_requests().for_each(drop);
            }
            quiet_frames = e.quiet_frames;
            quiet_prompt_frames = e.quiet_prompt_frames;
            quiet_fade_frames = e.quiet_fade_frames;
            runs.push((samples, timeline));
        }
        assert!(runs[0].1.len() > 40, "{} timeline entries", runs[0].1.len());
        assert_eq!(runs[0].1, runs[1].1);
        let first_diff = runs[0].0.iter().zip(&runs[1].0).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "samples differ");
        // Most of a call is quiet.
        assert!(quiet_frames > 400 * 50 / 2, "{quiet_frames} quiet frames");
        // Prompts too, between their edges (these test prompts are short).
        assert!(
            quiet_prompt_frames > 250,
            "{quiet_prompt_frames} quiet frames under a prompt"
        );
        // And the duck's fades, down before prompts and up after them.
        if duck.is_none() {
            assert!(
                quiet_fade_frames > 500,
                "{quiet_fade_frames} quiet frames in duck fades"
            );
        }
    }
}
