//! Building the engine and setting it up from a playlist: construction,
//! `configure` (at start and again on a hot reload, which keeps what the
//! caller heard, the repeats' and keys' clocks), and the wall-clock start
//! the time-of-day windows are read against. Resumed and remembered calls
//! start here too (see [`super::snapshot`] and [`super::memory`]).

use super::advice::Advisor;
use super::bed::Bed;
use super::library::{Library, SourceId};
use super::phrase::{self, Values};
use super::queue::QueueInfo;
use super::speaker::Speaker;
use super::timeline::TimelineEvent;
use super::{EVENT_LIMIT, Engine, KeyBinding, Labels, REQUEST_LIMIT, Repeat};
use crate::audio::format::FRAME_MS;
use crate::audio::limiter::Limiter;
use crate::scenario::{Announce, MusicOrder, MusicStart, Scenario};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

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
    pub(super) fn unconfigured(scenario: &Scenario, rate: u32, seed: u64) -> Engine {
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
            langs: super::language::LangState::default(),
            keys: BTreeMap::new(),
            welcome: scenario.welcome.clone(),
            repeats: Vec::new(),
            advisor: Advisor::empty(),
            shared_advice: Vec::new(),
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
            plan: super::plan::PlanRun::new(),
            personal: true,
            requests: VecDeque::with_capacity(REQUEST_LIMIT),
            timezone: scenario.timezone.clone(),
            wall_start: Utc::now(),
            dated: super::dated::Dated::default(),
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
        let mut ids: Vec<SourceId> = self.first_track_now().into_iter().collect();
        let mut missing = Vec::new();
        phrase::resolve(
            &self.welcome_now(),
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

    pub(super) fn configure(&mut self, scenario: &Scenario, reload: bool) {
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
        self.speech = scenario.speech.as_ref().map(|map| phrase::Speech {
            ids: map.files().map(|f| (f.clone(), lib.add(f))).collect(),
            map: map.clone(),
        });
        self.configure_languages(scenario.languages.as_ref());
        // The language in force may have advice files of its own.
        self.shared_advice = scenario.advice.groups.clone();
        self.rebuild_advisor(None);
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
                    position_above: r.position_above,
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
                    language: k.language.as_deref().map(Arc::from),
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
        self.plan.configure(scenario.plan.as_ref(), now);
        self.speaker
            .set_levels(scenario.levels.duck, samples(scenario.levels.fade));
        self.dated = super::dated::Dated::new(scenario, &mut self.lib, &tracks, &mut self.rng, &self.dated);
        let n_tracks = tracks.len();
        if reload {
            self.bed.set_tracks(tracks);
            self.bed.set_crossfade(samples(scenario.music.crossfade));
            self.bed
                .set_repeat_one(scenario.music.order == MusicOrder::RepeatOne);
        } else {
            self.bed = Bed::new(tracks, samples(scenario.music.crossfade), rate);
            self.bed
                .set_repeat_one(scenario.music.order == MusicOrder::RepeatOne);
            let random_start =
                scenario.music.order == MusicOrder::RandomStart || scenario.music.start == MusicStart::Random;
            if random_start && n_tracks > 0 {
                // A random place in it too: callers who start on the same
                // track do not hear the same bar. A resumed or remembered
                // call then gives its own place (`start_at`).
                let i = self.rng.usize(..n_tracks);
                self.bed.start_randomly(i, self.rng.f64());
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
        self.wall_start = crate::scenario::zone::instant(self.timezone.as_ref(), local);
    }
}
