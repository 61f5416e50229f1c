//! What the engine says and how: a template resolved to prompts and queued
//! whole or not at all (one phrase: nothing comes between its parts), the
//! values spoken in it, and the announcements of position, wait and
//! balance, whether a key, an event or the schedule asks for them. What a
//! key asks for is its answer: urgent, it cuts what is being said (see
//! [`super::speaker`]).

use super::event::BalanceAnswer;
use super::library::SourceId;
use super::phrase::{self, Values};
use super::timeline::TimelineEvent;
use super::{Engine, PRIO_QUEUE};
use crate::scenario::Template;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// Queues what `t` says; returns whether anything was queued.
    pub(super) fn say(&mut self, t: &Template, v: &Values, priority: u8, label: &Arc<str>) -> bool {
        let mut ids = Vec::new();
        self.words(t, v, &mut ids);
        self.speak(ids, priority, false, label).is_some()
    }

    /// Says what `t` says as the answer to a key, at once (urgent); returns
    /// the phrase's number when anything was queued.
    pub(super) fn answer(&mut self, t: &Template, v: &Values, priority: u8, label: &Arc<str>) -> Option<u64> {
        let mut ids = Vec::new();
        self.words(t, v, &mut ids);
        self.speak(ids, priority, true, label)
    }

    /// Adds the prompts `t` says with `v` to `ids`; values with no
    /// recording go to the timeline.
    pub(super) fn words(&mut self, t: &Template, v: &Values, ids: &mut Vec<SourceId>) {
        let mut missing = Vec::new();
        phrase::resolve(t, &self.prompts, self.speech.as_ref(), v, ids, &mut missing);
        for token in missing {
            self.scratch.push(TimelineEvent::Unspoken {
                token: Arc::from(token),
            });
        }
    }

    /// Queues `ids` as one phrase; its number when queued.
    pub(super) fn speak(
        &mut self,
        ids: Vec<SourceId>,
        priority: u8,
        urgent: bool,
        label: &Arc<str>,
    ) -> Option<u64> {
        if ids.is_empty() {
            return None;
        }
        // A phrase goes in whole or not at all: never half a sentence.
        let Some(phrase) = self.speaker.enqueue_phrase(&ids, priority, urgent, label) else {
            tracing::warn!(queue = %label, prompts = ids.len(), "prompt queue full: phrase dropped");
            return None;
        };
        self.last_said = Some((ids, label.clone()));
        Some(phrase)
    }

    pub(super) fn values(&self) -> Values<'static> {
        Values {
            position: self.queue.position,
            wait: self.queue.estimate(),
            hold: self.now(),
            balance: None,
            account: None,
        }
    }

    pub(super) fn position_changed(&mut self, now: Duration) {
        let Some(a) = &self.announce.position else { return };
        if !a.on_change {
            return;
        }
        let Some(p) = self.queue.position else { return };
        let capped = a.cap.map_or(p, |c| p.min(c));
        let said = self.position_said.map(|(_, v)| v);
        if said == Some(capped) || (a.improved_only && said.is_some_and(|s| capped > s)) {
            return;
        }
        self.say_position(now, PRIO_QUEUE, false);
    }

    /// The position; `key`: a key asked for it (the answer cuts in, and
    /// replaces a position still waiting to be said).
    pub(super) fn say_position(&mut self, now: Duration, priority: u8, key: bool) {
        let Some(a) = self.announce.position.clone() else {
            return;
        };
        let Some(p) = self.queue.position else { return };
        if key {
            self.speaker.drop_queued(&self.labels.position);
        } else if self.speaker.has_queued(&self.labels.position) {
            return;
        }
        let capped = a.cap.map_or(p, |c| p.min(c));
        let t = if capped == 1 && !a.next.is_empty() {
            &a.next
        } else {
            &a.say
        };
        let mut v = self.values();
        v.position = Some(capped);
        let label = self.labels.position.clone();
        let mut ids = Vec::new();
        self.words(t, &v, &mut ids);
        if self.speak(ids, priority, key, &label).is_some() {
            self.position_said = Some((now, capped));
        }
    }

    /// The wait estimate; `key` as for [`Engine::say_position`].
    pub(super) fn say_wait(&mut self, priority: u8, key: bool) {
        let Some(a) = self.announce.wait.clone() else {
            return;
        };
        let Some(est) = self.queue.estimate() else { return };
        if key {
            self.speaker.drop_queued(&self.labels.wait);
        } else if self.speaker.has_queued(&self.labels.wait) {
            return;
        }
        let t = if est < Duration::from_secs(60) && !a.short.is_empty() {
            &a.short
        } else {
            &a.say
        };
        let label = self.labels.wait.clone();
        let mut ids = Vec::new();
        self.words(t, &self.values(), &mut ids);
        self.speak(ids, priority, key, &label);
    }

    /// The answer to a balance key: one phrase, however many accounts,
    /// said at once.
    pub(super) fn say_balance(&mut self, answer: &BalanceAnswer) {
        let Some(a) = self.announce.balance.clone() else {
            return;
        };
        let label = self.labels.balance.clone();
        let prio = PRIO_QUEUE + 2;
        let (name, accounts, locked) = match answer {
            BalanceAnswer::Failed => ("failed", 0, 0),
            BalanceAnswer::None => ("none", 0, 0),
            BalanceAnswer::Accounts(v) => ("accounts", v.len(), v.iter().filter(|a| a.locked).count()),
        };
        self.scratch.push(TimelineEvent::Balance {
            answer: name,
            accounts,
            locked,
        });
        let mut ids = Vec::new();
        match answer {
            BalanceAnswer::Failed => self.words(&a.failed, &Values::default(), &mut ids),
            BalanceAnswer::None => self.words(&a.none, &Values::default(), &mut ids),
            BalanceAnswer::Accounts(accounts) => {
                if accounts.len() > 1 {
                    self.words(&a.several, &Values::default(), &mut ids);
                }
                for (i, acc) in accounts.iter().enumerate() {
                    let v = Values {
                        balance: Some(acc.balance.as_str()),
                        account: acc.id.as_deref(),
                        ..Values::default()
                    };
                    let t = if acc.locked && !a.locked.is_empty() {
                        &a.locked
                    } else if i > 0 && !a.next.is_empty() {
                        &a.next
                    } else {
                        &a.say
                    };
                    self.words(t, &v, &mut ids);
                }
            }
        }
        self.speak(ids, prio, true, &label);
    }
}
