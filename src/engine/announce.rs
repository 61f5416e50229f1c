//! What the engine says and how: a template resolved to prompts and queued
//! whole or not at all, the values spoken in it, and the announcements of
//! position, wait and balance, whether a key, an event or the schedule asks
//! for them.

use super::event::BalanceAnswer;
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
        let mut missing = Vec::new();
        phrase::resolve(t, &self.prompts, self.speech.as_ref(), v, &mut ids, &mut missing);
        for token in missing {
            self.scratch.push(TimelineEvent::Unspoken {
                token: Arc::from(token),
            });
        }
        // A phrase goes in whole or not at all: never half a sentence.
        if ids.len() > self.speaker.room() {
            tracing::warn!(queue = %label, prompts = ids.len(), "prompt queue full: phrase dropped");
            return false;
        }
        let mut queued = false;
        for &id in &ids {
            queued |= self.speaker.enqueue(id, priority, label);
        }
        if queued {
            self.last_said = Some((ids, label.clone()));
        }
        queued
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
        self.say_position(now, PRIO_QUEUE);
    }

    pub(super) fn say_position(&mut self, now: Duration, priority: u8) {
        let Some(a) = self.announce.position.clone() else {
            return;
        };
        let Some(p) = self.queue.position else { return };
        if self.speaker.has_queued(&self.labels.position) {
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
        if self.say(t, &v, priority, &label) {
            self.position_said = Some((now, capped));
        }
    }

    pub(super) fn say_wait(&mut self, priority: u8) {
        let Some(a) = self.announce.wait.clone() else {
            return;
        };
        let Some(est) = self.queue.estimate() else { return };
        if self.speaker.has_queued(&self.labels.wait) {
            return;
        }
        let t = if est < Duration::from_secs(60) && !a.short.is_empty() {
            &a.short
        } else {
            &a.say
        };
        let label = self.labels.wait.clone();
        self.say(t, &self.values(), priority, &label);
    }

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
        match answer {
            BalanceAnswer::Failed => {
                self.say(&a.failed, &Values::default(), prio, &label);
            }
            BalanceAnswer::None => {
                self.say(&a.none, &Values::default(), prio, &label);
            }
            BalanceAnswer::Accounts(accounts) => {
                if accounts.len() > 1 {
                    self.say(&a.several, &Values::default(), prio, &label);
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
                    self.say(t, &v, prio, &label);
                }
            }
        }
    }
}
