//! The hold plan a webhook gives (see `crate::webhook`), as the engine
//! plays it: the items one after another (prompts ducked over the music
//! through the speaker, like every other prompt; pauses of music alone;
//! music switches; a redirect), the keys it arms, and when to ask again.
//! Asks go out as [`Request::Plan`] and come back as `EventKind::Plan`:
//! the engine stays deterministic and never waits for the network.
//!
//! Asked at the start, when the items are done (or at the plan's `reask`),
//! on a key armed with `ask` and on a position change; never within the
//! playlist's `every` of the last ask, never with an ask unanswered. A
//! failed or refused answer leaves the playlist playing as if there were
//! no plan, and the next ask waits longer each time (see
//! [`crate::webhook::config::backoff`]). While a plan's items play, the
//! playlist's advices wait.

use super::speaker::Speaker;
use super::timeline::TimelineEvent;
use super::{Engine, PRIO_QUEUE, Request};
use crate::scenario::{Action, Part, SayKind, Template, ValueName};
use crate::util::ratelimit::{Limiter, WINDOW};
use crate::webhook::{Ask, Item, Plan, PlanAnswer, PlanConfig, Say, SayPart, Trigger, config};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// An ask unanswered this long is given up. The worker answers within its
/// timeout, always; this only keeps a lost answer from stopping the plan.
const ASK_LOST: Duration = Duration::from_secs(60);

/// Refused answers log one line a minute (the worker logs failed asks).
static REFUSED: Limiter = Limiter::new(WINDOW);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doing {
    Nothing,
    /// A `say` or `play`: this phrase of the speaker's.
    Phrase(u64),
    /// A `pause`: until then.
    Until(Duration),
}

/// The plan's state in the engine.
pub(super) struct PlanRun {
    /// The playlist has a `[plan]`.
    on: bool,
    every: Duration,
    items: VecDeque<Item>,
    doing: Doing,
    /// Whether the items of an answer are being played (their end asks).
    running: bool,
    keys: BTreeMap<char, String>,
    /// When to ask next (`MAX`: not until something happens), and why.
    next_ask: Duration,
    why: Trigger,
    /// An ask is out, since then.
    asked: Option<Duration>,
    last_ask: Option<Duration>,
    failures: u32,
    last_key: Option<char>,
    /// The position changed while items played: asked when they are done
    /// (a position change does not cut a plan short; a key does).
    moved: bool,
    label: Arc<str>,
}

/// The plan's part of a snapshot: a respawned generator goes on with it.
/// A phrase that was playing counts as heard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAt {
    pub items: Vec<Item>,
    pub until_ms: Option<u64>,
    pub running: bool,
    pub keys: Vec<(char, String)>,
    pub next_ask_ms: Option<u64>,
    pub why: Option<Trigger>,
    /// An ask was out: the new process asks again.
    pub asked: bool,
    pub last_ask_ms: Option<u64>,
    pub failures: u32,
    pub last_key: Option<char>,
    #[serde(default)]
    pub moved: bool,
}

impl PlanRun {
    pub(super) fn new() -> PlanRun {
        PlanRun {
            on: false,
            every: config::EVERY,
            items: VecDeque::new(),
            doing: Doing::Nothing,
            running: false,
            keys: BTreeMap::new(),
            next_ask: Duration::MAX,
            why: Trigger::Start,
            asked: None,
            last_ask: None,
            failures: 0,
            last_key: None,
            moved: false,
            label: Arc::from("plan"),
        }
    }

    /// The playlist's `[plan]`, at start and on a reload: a plan that
    /// appears is asked at once; one that goes takes its items and keys.
    pub(super) fn configure(&mut self, cfg: Option<&PlanConfig>, now: Duration) {
        let was = self.on;
        self.on = cfg.is_some();
        self.every = cfg.map_or(config::EVERY, |c| c.every);
        if self.on && !was {
            self.next_ask = now;
            self.why = Trigger::Start;
        } else if !self.on {
            *self = PlanRun::new();
        }
    }

    /// Whether an answer's items are being played (the advices wait).
    pub(super) fn running(&self) -> bool {
        self.running
    }

    /// When the plan next needs a full frame (`MAX`: not by the clock).
    pub(super) fn due(&self, speaker: &Speaker) -> Duration {
        if !self.on {
            return Duration::MAX;
        }
        let ask = match self.asked {
            Some(since) => since + ASK_LOST,
            None => self.next_ask,
        };
        let item = match self.doing {
            Doing::Nothing if self.items.is_empty() && !self.running => Duration::MAX,
            Doing::Nothing => Duration::ZERO,
            // A prompt's end takes a full frame anyway; after it, this one.
            Doing::Phrase(p) if speaker.phrase_done(p) => Duration::ZERO,
            Doing::Phrase(_) => Duration::MAX,
            Doing::Until(t) => t,
        };
        ask.min(item)
    }

    /// The earliest an ask may go at `now`: `every` after the last.
    fn floor(&self, now: Duration) -> Duration {
        self.last_ask.map_or(now, |t| (t + self.every).max(now))
    }

    /// Asks at `at` for `why`, unless an ask is due sooner.
    fn ask_at(&mut self, at: Duration, why: Trigger) {
        if at < self.next_ask {
            self.next_ask = at;
            self.why = why;
        }
    }

    pub(super) fn snapshot(&self) -> Option<PlanAt> {
        let ms = |d: Duration| d.as_millis() as u64;
        self.on.then(|| PlanAt {
            items: self.items.iter().cloned().collect(),
            until_ms: match self.doing {
                Doing::Until(t) => Some(ms(t)),
                _ => None,
            },
            running: self.running,
            keys: self.keys.iter().map(|(&k, a)| (k, a.clone())).collect(),
            next_ask_ms: (self.next_ask != Duration::MAX).then(|| ms(self.next_ask)),
            why: Some(self.why),
            asked: self.asked.is_some(),
            last_ask_ms: self.last_ask.map(ms),
            failures: self.failures,
            last_key: self.last_key,
            moved: self.moved,
        })
    }

    /// Goes on from `at` (a configured plan only), at stream time `now`.
    pub(super) fn resume(&mut self, at: &PlanAt, now: Duration) {
        if !self.on {
            return;
        }
        let dur = Duration::from_millis;
        self.items = at.items.iter().cloned().collect();
        self.doing = at.until_ms.map_or(Doing::Nothing, |t| Doing::Until(dur(t)));
        self.running = at.running;
        self.keys = at.keys.iter().cloned().collect();
        self.next_ask = at.next_ask_ms.map_or(Duration::MAX, dur);
        self.why = at.why.unwrap_or(Trigger::Start);
        self.last_ask = at.last_ask_ms.map(dur);
        self.failures = at.failures;
        self.last_key = at.last_key;
        self.moved = at.moved;
        if at.asked {
            // Its answer went to the process that is gone.
            self.next_ask = now;
            self.why = Trigger::Resume;
        }
    }
}

impl Engine {
    /// The plan's part of the schedule: the items as they fall due, then
    /// the ask, when it is due.
    pub(super) fn plan_step(&mut self, now: Duration) {
        if !self.plan.on {
            return;
        }
        self.plan_items(now);
        if let Some(since) = self.plan.asked
            && now >= since + ASK_LOST
        {
            self.plan_answer(Err("the plan ask was lost".into()), now);
        }
        if self.plan.asked.is_none() && now >= self.plan.next_ask {
            let ask = Ask {
                trigger: self.plan.why,
                key: self.plan.last_key,
                position: self.queue.position,
                size: self.queue.size,
                wait: self.queue.estimate(),
                hold: now,
                language: self.language().map(str::to_string),
                personal: self.personal,
            };
            self.scratch.push(TimelineEvent::Request {
                what: Arc::from(format!("plan:{}", self.plan.why.name())),
            });
            self.plan.asked = Some(now);
            self.plan.last_ask = Some(now);
            self.plan.next_ask = Duration::MAX;
            self.request(Request::Plan(ask));
        }
    }

    /// Starts the items whose turn has come.
    fn plan_items(&mut self, now: Duration) {
        loop {
            match self.plan.doing {
                Doing::Phrase(p) if !self.speaker.phrase_done(p) => return,
                Doing::Until(t) if now < t => return,
                _ => self.plan.doing = Doing::Nothing,
            }
            let Some(item) = self.plan.items.pop_front() else {
                if std::mem::take(&mut self.plan.running) && self.plan.next_ask == Duration::MAX {
                    let at = self.plan.floor(now);
                    let why = if std::mem::take(&mut self.plan.moved) {
                        Trigger::Position
                    } else {
                        Trigger::Done
                    };
                    self.plan.ask_at(at, why);
                }
                return;
            };
            self.plan_item(item, now);
        }
    }

    fn plan_item(&mut self, item: Item, now: Duration) {
        let template = match item {
            Item::Pause(d) => {
                self.plan.doing = Doing::Until(now + d);
                return;
            }
            Item::Music(name) => {
                if let Some(step) = self.music_step(&name) {
                    self.bed.switch(&self.lib, step, &mut self.scratch);
                }
                return;
            }
            Item::Redirect {
                context,
                exten,
                priority,
            } => {
                self.redirect(crate::scenario::Redirect {
                    context,
                    exten,
                    priority,
                });
                return;
            }
            Item::Play(name) => vec![Part::Prompt(name)],
            Item::Say(Say::Parts(parts)) => template(&parts),
            Item::Say(Say::Position) => match (&self.announce.position, self.queue.position) {
                (Some(a), Some(1)) if !a.next.is_empty() => a.next.clone(),
                (Some(a), _) => a.say.clone(),
                (None, _) => Vec::new(),
            },
            Item::Say(Say::Wait) => self
                .announce
                .wait
                .as_ref()
                .map(|a| a.say.clone())
                .unwrap_or_default(),
        };
        let mut ids = Vec::new();
        let values = self.values();
        self.words(&template, &values, &mut ids);
        let label = self.plan.label.clone();
        if let Some(p) = self.speak(ids, PRIO_QUEUE, false, &label) {
            self.plan.doing = Doing::Phrase(p);
        }
    }

    /// The step from the playing track to the one `name` means: `next`,
    /// `previous`, or a track's file name without its extension.
    fn music_step(&self, name: &str) -> Option<isize> {
        match name {
            "next" => Some(1),
            "previous" => Some(-1),
            _ => {
                let i = self.track(name)?;
                let (current, _) = self.bed.position();
                let d = i as isize - current as isize;
                (d != 0).then_some(d)
            }
        }
    }

    /// The index of the track whose file stem is `name`.
    fn track(&self, name: &str) -> Option<usize> {
        self.bed.tracks().iter().position(|&id| {
            self.lib
                .path(id)
                .file_stem()
                .is_some_and(|s| s.to_string_lossy() == name)
        })
    }

    /// An answer came (or the ask failed).
    pub(super) fn plan_answer(&mut self, answer: PlanAnswer, now: Duration) {
        if !self.plan.on {
            return;
        }
        self.plan.asked = None;
        let checked = answer.and_then(|p| match self.plan_check(&p) {
            Ok(()) => Ok(p),
            Err(why) => {
                if let Some(more) = REFUSED.check() {
                    tracing::warn!("plan refused: {why}; the playlist goes on{more}");
                }
                Err(why)
            }
        });
        match checked {
            Ok(plan) => {
                self.scratch.push(TimelineEvent::Plan {
                    ok: true,
                    items: plan.items.len(),
                    reason: None,
                });
                self.plan.failures = 0;
                self.plan.moved = false;
                // The new plan replaces what is left of the old one: the
                // phrase playing ends, nothing else of it is heard.
                self.speaker.drop_queued(&self.plan.label);
                if matches!(self.plan.doing, Doing::Until(_)) {
                    self.plan.doing = Doing::Nothing;
                }
                self.plan.running = !plan.items.is_empty();
                self.plan.items = plan.items.into();
                self.plan.keys = plan.keys.into_iter().collect();
                self.plan.next_ask = Duration::MAX;
                let floor = self.plan.floor(now);
                match plan.reask {
                    Some(r) => self.plan.ask_at(floor.max(now + r), Trigger::Reask),
                    None if !self.plan.running => self.plan.ask_at(floor, Trigger::Done),
                    None => {}
                }
            }
            Err(why) => {
                self.scratch.push(TimelineEvent::Plan {
                    ok: false,
                    items: 0,
                    reason: Some(why),
                });
                self.plan.failures = self.plan.failures.saturating_add(1);
                let wait = config::backoff(self.plan.every, self.plan.failures);
                self.plan.next_ask = Duration::MAX;
                self.plan.ask_at(now + wait, Trigger::Retry);
            }
        }
    }

    /// Whether the playlist knows every name `p` uses.
    fn plan_check(&self, p: &Plan) -> Result<(), String> {
        let prompt = |n: &String| {
            if self.prompts.contains_key(n) {
                Ok(())
            } else {
                Err(format!("no prompt {n:?} in the playlist"))
            }
        };
        for item in &p.items {
            match item {
                Item::Play(n) => prompt(n)?,
                Item::Say(Say::Parts(parts)) => parts.iter().try_for_each(|x| match x {
                    SayPart::Prompt(n) => prompt(n),
                    SayPart::Value { .. } => Ok(()),
                })?,
                Item::Say(Say::Position) if self.announce.position.is_none() => {
                    return Err("say position: the playlist has no [announce.position]".into());
                }
                Item::Say(Say::Wait) if self.announce.wait.is_none() => {
                    return Err("say wait: the playlist has no [announce.wait]".into());
                }
                Item::Music(n) if n != "next" && n != "previous" && self.track(n).is_none() => {
                    return Err(format!("no music {n:?} in the playlist"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A key the plan armed: true when it took it.
    pub(super) fn plan_key(&mut self, digit: char, now: Duration) -> bool {
        let Some(action) = self.plan.keys.get(&digit).cloned() else {
            return false;
        };
        self.scratch.push(TimelineEvent::Dtmf {
            digit,
            action: Some(Arc::from(format!("plan:{action}"))),
        });
        if action == "ask" {
            self.plan.last_key = Some(digit);
            if self.plan.asked.is_none() {
                let at = self.plan.floor(now);
                self.plan.ask_at(at, Trigger::Key);
            }
        } else if let Some(a) = Action::from_name(&action) {
            self.act(a, PRIO_QUEUE + 1, &Vec::new(), None, None);
        }
        true
    }

    /// The queue position changed: asked now, or when the items playing
    /// are done.
    pub(super) fn plan_position(&mut self, now: Duration) {
        if self.plan.running {
            self.plan.moved = true;
        } else if self.plan.on && self.plan.asked.is_none() {
            let at = self.plan.floor(now);
            self.plan.ask_at(at, Trigger::Position);
        }
    }
}

/// A `say` list as a playlist template.
fn template(parts: &[SayPart]) -> Template {
    parts
        .iter()
        .filter_map(|p| match p {
            SayPart::Prompt(n) => Some(Part::Prompt(n.clone())),
            SayPart::Value { say, value } => {
                let say = match say.as_str() {
                    "number" => SayKind::Number,
                    "ordinal" => SayKind::Ordinal,
                    "digits" => SayKind::Digits,
                    "duration" => SayKind::Duration,
                    _ => return None,
                };
                let value = match value.as_str() {
                    "position" => ValueName::Position,
                    "wait" => ValueName::Wait,
                    "hold" => ValueName::Hold,
                    _ => return None,
                };
                Some(Part::Value {
                    say,
                    value,
                    gender: crate::speech::Gender::default(),
                })
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
