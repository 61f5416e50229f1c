//! The engine: a deterministic state machine that turns a scenario and
//! timestamped input events into 20 ms audio frames and a timeline. `run`
//! drives it with the real clock and `render` with a virtual one; both call
//! the very same `render_frame`, so tests exercise the real code path.
//!
//! Nothing on the per-frame path allocates in steady state: buffers are made
//! once, the prompt queue and event queue are bounded.

pub mod advice;
pub mod ahead;
mod announce;
pub mod bed;
pub mod event;
mod input;
pub mod library;
pub mod memory;
pub mod queue;
mod render;
pub mod say;
pub mod snapshot;
pub mod speaker;
pub mod timeline;

use crate::audio::format::FRAME_MS;
use crate::audio::limiter::Limiter;
use crate::audio::ramp::Ramp;
use crate::audio::voice::Voice;
use crate::scenario::{Action, Announce, MusicOrder, MusicStart, Redirect, Scenario, Template};
use advice::Advisor;
use bed::Bed;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
pub use event::{Account, BalanceAnswer, Event, EventKind};
use library::{Library, SourceId};
use queue::QueueInfo;
use say::Values;
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

/// Prompt priorities: a higher one jumps the queue (never cuts a word).
const PRIO_ADVICE: u8 = 0;
const PRIO_WELCOME: u8 = 1;
const PRIO_DISSUADE: u8 = 2;
const PRIO_QUEUE: u8 = 3;
/// How long a balance lookup may take before "one moment" is said.
const BALANCE_PATIENCE: Duration = Duration::from_millis(500);

/// What the engine asks of the world; the driver answers with events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Look the caller's balance up; answer with `EventKind::Balance`.
    Balance,
    /// Send the caller to this dialplan place (AMI `Redirect`).
    Redirect(Redirect),
}

struct KeyBinding {
    action: Action,
    say: Template,
    debounce: Duration,
    priority: u8,
    last: Option<Duration>,
    name: Arc<str>,
    redirect: Option<Redirect>,
}

struct Repeat {
    next: Duration,
    every: Duration,
    say: Template,
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
    speech: Option<say::Speech>,
    keys: BTreeMap<char, KeyBinding>,
    welcome: Template,
    repeats: Vec<Repeat>,
    advisor: Advisor,
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
    redirect_after_prompt: Option<Redirect>,
    /// A balance lookup asked for and not answered yet: since when, and
    /// whether "one moment" was said for it.
    balance_pending: Option<(Duration, bool)>,
    /// Personal announcements (balance) allowed: false once Asterisk said
    /// the identity given is not this call's.
    personal: bool,
    requests: VecDeque<Request>,
    timezone: Option<crate::scenario::Zone>,
    wall_start: DateTime<Utc>,
    rng: fastrand::Rng,
    /// What `rng` started from: a resumed call replays the same orders.
    seed: u64,
    /// A new playlist version, applied when no prompt is playing.
    reload: Option<Box<Scenario>>,
    pending: VecDeque<Event>,
    scratch: Vec<TimelineEvent>,
    timeline: Vec<Entry>,
    exit: Option<String>,
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
    /// Builds an engine for `scenario` at `rate` Hz; `seed` fixes every
    /// random order (shuffled music, random advices). Every source starts
    /// pending: load them through [`Engine::library_mut`] before or while playing.
    pub fn new(scenario: &Scenario, rate: u32, seed: u64) -> Engine {
        let mut engine = Engine::unconfigured(scenario, rate, seed);
        engine.configure(scenario, false);
        engine
    }

    /// The engine before [`Engine::configure`]: what a resumed call must
    /// set first (the advices heard) goes in here, so it is configured once.
    fn unconfigured(scenario: &Scenario, rate: u32, seed: u64) -> Engine {
        let frame_len = (rate * FRAME_MS / 1000) as usize;
        Engine {
            rate,
            frame_len,
            frame: 0,
            bed: Bed::new(Vec::new(), 0, rate),
            speaker: Speaker::new(scenario.levels.duck, 0, rate),
            // Recover from limiting over about half a second.
            limiter: Limiter::new(frame_len, 25),
            lib: Library::new(scenario.levels.loudness),
            prompts: BTreeMap::new(),
            speech: None,
            keys: BTreeMap::new(),
            welcome: scenario.welcome.clone(),
            repeats: Vec::new(),
            advisor: Advisor::empty(),
            advice_labels: BTreeMap::new(),
            advice_next: scenario.advice.start,
            advice_gap: scenario.advice.gap,
            advice_playing: false,
            heard: BTreeSet::new(),
            announce: Announce::default(),
            queue: QueueInfo::default(),
            position_said: None,
            wait_next: Duration::MAX,
            dissuaded: false,
            last_said: None,
            redirect_after_prompt: None,
            balance_pending: None,
            personal: true,
            requests: VecDeque::with_capacity(REQUEST_LIMIT),
            timezone: scenario.timezone.clone(),
            wall_start: Utc::now(),
            rng: fastrand::Rng::with_seed(seed),
            seed,
            reload: None,
            pending: VecDeque::with_capacity(EVENT_LIMIT),
            scratch: Vec::with_capacity(16),
            timeline: Vec::with_capacity(16),
            exit: None,
            music_buf: vec![0.0; frame_len],
            calm: Duration::ZERO,
            #[cfg(test)]
            full_path_only: false,
            #[cfg(test)]
            quiet_frames: 0,
            #[cfg(test)]
            quiet_prompt_frames: 0,
            #[cfg(test)]
            quiet_fade_frames: 0,
            labels: Labels {
                welcome: Arc::from("welcome"),
                repeat: Arc::from("repeat"),
                key: Arc::from("key"),
                position: Arc::from("position"),
                wait: Arc::from("wait"),
                balance: Arc::from("balance"),
                dissuade: Arc::from("dissuade"),
                redirect: Arc::from("redirect"),
            },
        }
    }

    /// The sources the first seconds need: the first track and the welcome.
    pub fn first_needed(&self) -> Vec<SourceId> {
        let mut ids: Vec<SourceId> = self.bed.first_track().into_iter().collect();
        let mut missing = Vec::new();
        say::resolve(
            &self.welcome,
            &self.prompts,
            self.speech.as_ref(),
            &Values::default(),
            &mut ids,
            &mut missing,
        );
        ids
    }

    /// Takes a new version of the playlist (hot reload). Returns the sources
    /// it adds, to be loaded like at start. It takes effect between prompts:
    /// the music keeps playing through it, what was heard stays heard, key
    /// debounce clocks carry on.
    pub fn reload(&mut self, scenario: &Scenario) -> Vec<SourceId> {
        let before = self.lib.len();
        // Register the sources now so they can load while a prompt finishes.
        for p in scenario.audio_files() {
            self.lib.add(p);
        }
        self.reload = Some(Box::new(scenario.clone()));
        self.calm = Duration::ZERO;
        (before..self.lib.len()).map(|i| SourceId(i as u32)).collect()
    }

    /// Notes in the timeline that a new version was refused (the old one stays).
    pub fn reload_refused(&mut self, reason: &str) {
        self.scratch.push(TimelineEvent::Reload {
            ok: false,
            reason: Some(reason.to_string()),
        });
    }

    fn configure(&mut self, scenario: &Scenario, reload: bool) {
        let rate = self.rate;
        let samples = |d: Duration| (d.as_secs_f64() * f64::from(rate)).round() as u32;
        let now = self.now();
        self.timezone = scenario.timezone.clone();
        self.lib.set_target(scenario.levels.loudness);
        let lib = &mut self.lib;
        let mut tracks: Vec<SourceId> = scenario.music.tracks.iter().map(|p| lib.add(p)).collect();
        if scenario.music.order == MusicOrder::Random {
            self.rng.shuffle(&mut tracks);
        }
        self.prompts = scenario
            .prompts
            .iter()
            .map(|(n, p)| (n.clone(), lib.add(p)))
            .collect();
        self.speech = scenario.speech.as_ref().map(|map| say::Speech {
            ids: map.files().map(|f| (f.clone(), lib.add(f))).collect(),
            map: map.clone(),
        });
        let heard = &self.heard;
        self.advisor = Advisor::new(
            &scenario.advice.groups,
            |g| g.files.iter().map(|p| lib.add(p)).collect(),
            heard,
            &mut self.rng,
        );
        self.advice_labels = scenario
            .advice
            .groups
            .iter()
            .map(|g| {
                (
                    Arc::from(g.name.as_str()),
                    Arc::from(format!("advice/{}", g.name).as_str()),
                )
            })
            .collect();
        self.advice_gap = scenario.advice.gap;
        // On reload a repeat that was there before keeps its schedule; a new
        // one whose first time has passed is due now.
        let old_repeats = std::mem::take(&mut self.repeats);
        self.repeats = scenario
            .repeats
            .iter()
            .map(|r| {
                let kept = old_repeats.iter().find(|o| o.every == r.every && o.say == r.say);
                let next = match kept {
                    Some(o) if reload => o.next,
                    _ if reload => r.first.max(now),
                    _ => r.first,
                };
                Repeat {
                    next,
                    every: r.every,
                    say: r.say.clone(),
                }
            })
            .collect();
        let old_keys = std::mem::take(&mut self.keys);
        self.keys = scenario
            .keys
            .iter()
            .map(|(&c, k)| {
                let binding = KeyBinding {
                    action: k.action,
                    say: k.say.clone(),
                    debounce: k.debounce,
                    priority: k.priority,
                    // A reload must not reopen a key the caller just pressed.
                    last: old_keys.get(&c).and_then(|o| o.last),
                    name: Arc::from(k.action.name()),
                    redirect: k.redirect.clone(),
                };
                (c, binding)
            })
            .collect();
        if !reload
            || self.announce.wait.as_ref().map(|w| (w.first, w.every))
                != scenario.announce.wait.as_ref().map(|w| (w.first, w.every))
        {
            self.wait_next = match &scenario.announce.wait {
                Some(w) if !w.first.is_zero() => w.first.max(now),
                _ => Duration::MAX,
            };
        }
        self.announce = scenario.announce.clone();
        self.speaker
            .set_levels(scenario.levels.duck, samples(scenario.levels.fade));
        let n_tracks = tracks.len();
        if reload {
            self.bed.set_tracks(tracks);
            self.bed.set_crossfade(samples(scenario.music.crossfade));
        } else {
            self.bed = Bed::new(tracks, samples(scenario.music.crossfade), rate);
            let random_start =
                scenario.music.order == MusicOrder::RandomStart || scenario.music.start == MusicStart::Random;
            if random_start && n_tracks > 0 {
                let i = self.rng.usize(..n_tracks);
                self.bed.start_at(i, 0);
            }
        }
    }

    /// The wall-clock moment the stream started (time-of-day windows are
    /// evaluated at start + stream time). Defaults to the engine's creation.
    pub fn set_wall_start(&mut self, at: DateTime<Utc>) {
        self.wall_start = at;
    }

    /// Like [`Engine::set_wall_start`], from a local time in the playlist's
    /// zone (the host's when it names none).
    pub fn set_local_start(&mut self, local: NaiveDateTime) {
        let utc = match &self.timezone {
            Some(z) => {
                // The offset at the local time read as UTC is off by at most
                // the offset itself; asking again at the corrected instant
                // lands on the right side of any DST change.
                let guess = local.and_utc().timestamp();
                let first = guess - i64::from(z.offset_at(guess));
                Some(Utc.from_utc_datetime(&local) - chrono::Duration::seconds(i64::from(z.offset_at(first))))
            }
            None => chrono::Local
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        };
        // A time skipped by a DST change: take it as UTC rather than fail.
        self.wall_start = utc.unwrap_or_else(|| Utc.from_utc_datetime(&local));
    }

    /// Weekday (0 = Monday) and minute of the day, now, in the playlist's zone.
    fn local_time(&self) -> (usize, u32) {
        let now = self.wall_start + chrono::Duration::milliseconds(self.now().as_millis() as i64);
        let (wd, h, m) = match &self.timezone {
            Some(z) => {
                let t = now.naive_utc() + chrono::Duration::seconds(i64::from(z.offset_at(now.timestamp())));
                (t.weekday(), t.hour(), t.minute())
            }
            None => {
                let t = now.with_timezone(&chrono::Local);
                (t.weekday(), t.hour(), t.minute())
            }
        };
        (wd.num_days_from_monday() as usize, h * 60 + m)
    }

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

    /// The stream time before which no frame can start a prompt, change
    /// the music or make a request unless an event comes in: the earliest
    /// time anything in [`Engine::schedule`] is due. Zero when the next
    /// frame must take the full path anyway.
    fn calm_until(&self, now: Duration) -> Duration {
        if self.reload.is_some()
            || self.redirect_after_prompt.is_some()
            // The gap after an advice starts at the frame the speaker falls
            // idle, which only a full frame can see (it ends the prompt).
            || (self.advice_playing && !self.speaker.is_busy())
            || self.exit.is_some()
            || !self.requests.is_empty()
        {
            return Duration::ZERO;
        }
        // No advice is scheduled while the speaker is busy.
        let advice = if self.speaker.is_busy() {
            Duration::MAX
        } else {
            self.advice_next
        };
        let mut until = advice.max(now);
        let mut due = |t: Duration| until = until.min(t);
        for r in &self.repeats {
            due(r.next);
        }
        if let Some((since, false)) = self.balance_pending {
            due(since + BALANCE_PATIENCE);
        }
        if let Some(a) = &self.announce.position
            && !a.every.is_zero()
            && let Some((at, _)) = self.position_said
        {
            due(at + a.every);
        }
        due(self.wait_next);
        // Position and wait estimates only move with events; only the
        // `after` condition moves with time.
        if !self.dissuaded
            && let Some(d) = &self.announce.dissuade
            && let Some(after) = d.after
        {
            due(after);
        }
        until
    }

    fn schedule(&mut self, now: Duration) {
        if self.reload.is_some() && !self.speaker.is_busy() {
            if let Some(s) = self.reload.take() {
                self.configure(&s, true);
                self.scratch.push(TimelineEvent::Reload {
                    ok: true,
                    reason: None,
                });
            }
        }
        if self.frame == 0 {
            let (welcome, label) = (self.welcome.clone(), self.labels.welcome.clone());
            self.say(&welcome, &Values::default(), PRIO_WELCOME, &label);
        }
        self.schedule_one_moment(now);
        if let Some(to) = self.redirect_after_prompt.take() {
            if self.speaker.is_busy() {
                self.redirect_after_prompt = Some(to);
            } else {
                self.redirect(to);
            }
        }
        for i in 0..self.repeats.len() {
            if now >= self.repeats[i].next {
                // Never pile up: skip a repeat while the last one is still queued.
                if !self.speaker.is_busy() {
                    let (say, label) = (self.repeats[i].say.clone(), self.labels.repeat.clone());
                    self.say(&say, &Values::default(), 0, &label);
                }
                let r = &mut self.repeats[i];
                r.next = if r.every.is_zero() {
                    Duration::MAX
                } else {
                    r.next + r.every
                };
            }
        }
        self.schedule_queue_announcements(now);
        self.schedule_advice(now);
    }

    /// A slow balance lookup gets a short "one moment" so the key press is
    /// not met with silence.
    fn schedule_one_moment(&mut self, now: Duration) {
        let Some((since, false)) = self.balance_pending else {
            return;
        };
        if now.saturating_sub(since) < BALANCE_PATIENCE {
            return;
        }
        self.balance_pending = Some((since, true));
        if let Some(a) = self.announce.balance.clone() {
            let label = self.labels.balance.clone();
            self.say(&a.wait, &Values::default(), PRIO_QUEUE + 2, &label);
        }
    }

    fn schedule_queue_announcements(&mut self, now: Duration) {
        if let Some(a) = &self.announce.position
            && !a.every.is_zero()
            && let Some((at, _)) = self.position_said
            && now >= at + a.every
        {
            self.say_position(now, PRIO_QUEUE);
        }
        if now >= self.wait_next {
            let every = self.announce.wait.as_ref().map_or(Duration::ZERO, |w| w.every);
            self.wait_next = if every.is_zero() {
                Duration::MAX
            } else {
                now + every
            };
            self.say_wait(PRIO_QUEUE);
        }
        if !self.dissuaded
            && let Some(d) = &self.announce.dissuade
        {
            let over = d.after.is_some_and(|a| now >= a)
                || d.position_above
                    .is_some_and(|p| self.queue.position.is_some_and(|x| x > p))
                || d.wait_above
                    .is_some_and(|w| self.queue.estimate().is_some_and(|e| e > w));
            if over {
                self.dissuaded = true;
                let (say, label) = (d.say.clone(), self.labels.dissuade.clone());
                self.say(&say, &self.values(), PRIO_DISSUADE, &label);
            }
        }
    }

    fn schedule_advice(&mut self, now: Duration) {
        if self.speaker.is_busy() {
            return;
        }
        if self.advice_playing {
            // The advice (and whatever followed it) is over: the gap starts now.
            self.advice_playing = false;
            self.advice_next = now + self.advice_gap;
            return;
        }
        if now < self.advice_next {
            return;
        }
        let (weekday, minute) = self.local_time();
        let lib = &self.lib;
        match self.advisor.next(weekday, minute, |id| lib.is_failed(id)) {
            Some((id, group)) => {
                let label = self.advice_labels.get(&group).cloned().unwrap_or(group);
                if self.speaker.enqueue(id, PRIO_ADVICE, &label) {
                    self.heard.insert(id);
                    self.last_said = Some((vec![id], label));
                    self.advice_playing = true;
                }
            }
            // Nothing to say right now (all heard, or windows closed): look
            // again a gap later, when a window may have opened.
            None => self.advice_next = now + self.advice_gap.max(Duration::from_secs(1)),
        }
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
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo.toml");
        let mut scenario = crate::scenario::load_valid(&path).expect("demo playlist");
        if let Some(d) = duck {
            scenario.levels.duck = d;
        }
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
