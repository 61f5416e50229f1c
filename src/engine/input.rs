//! Input: the events due at a frame (keys, queue position and hold time,
//! identity, balance answers, hang-up) and the keys dispatched to their
//! actions, debounced; a redirect asked of the driver. A key whose action
//! speaks is answered at once: its answer cuts what is being said (see
//! [`super::speaker`]), and a redirect goes out as its confirmation ends.

use super::event::{BalanceAnswer, Ended, EventKind};
use super::language::LanguageBy;
use super::phrase::Values;
use super::timeline::TimelineEvent;
use super::{Engine, PRIO_QUEUE, Request};
use crate::scenario::{Action, Redirect};
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    pub(super) fn apply_events(&mut self, now: Duration) {
        while self.pending.front().is_some_and(|e| e.at <= now) {
            let Some(event) = self.pending.pop_front() else {
                break;
            };
            match event.kind {
                EventKind::Dtmf(digit) => {
                    if !self.plan_key(digit, now) {
                        self.key(digit, event.at);
                    }
                }
                EventKind::Position(value) => {
                    self.scratch.push(TimelineEvent::Position { value });
                    if self.queue.set_position(event.at, value) {
                        self.position_changed(now);
                        self.plan_position(now);
                    }
                }
                EventKind::Holdtime(h) => self.queue.set_holdtime(h),
                EventKind::QueueSize(n) => self.queue.size = Some(n),
                EventKind::Identity(verified) => {
                    self.personal = verified;
                    self.scratch.push(TimelineEvent::Identity { verified });
                }
                EventKind::Language(code) => {
                    self.choose_language(&code, LanguageBy::Channel);
                }
                // Drivers read the file and call `reload`; nothing to do here.
                EventKind::Reload(_) => {}
                EventKind::Balance(answer) => {
                    self.balance_pending = None;
                    self.say_balance(&answer);
                }
                EventKind::Plan(answer) => self.plan_answer(answer, now),
                // The first reason to end is the one.
                EventKind::Hangup => {
                    self.exit.get_or_insert(Ended::Hangup);
                }
                EventKind::MusicStopped => {
                    self.exit.get_or_insert(Ended::MusicStopped);
                }
                EventKind::SayPosition | EventKind::Music(_) | EventKind::Play(_) => {
                    self.controlled(event.kind, now)
                }
            }
        }
    }

    fn key(&mut self, digit: char, at: Duration) {
        // Outside its window a key only says it is closed (see `dated`).
        if self.key_closed(digit) {
            return;
        }
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
        let (action, priority) = (k.action, k.priority);
        let say = k.say.clone();
        let redirect = k.redirect.clone();
        let language = k.language.clone();
        self.act(action, priority, &say, redirect, language);
    }

    /// Does what a key's action does (a playlist key's, or one a hold
    /// plan armed: see [`super::plan`]).
    pub(super) fn act(
        &mut self,
        action: Action,
        priority: u8,
        say: &crate::scenario::Template,
        redirect: Option<Redirect>,
        language: Option<Arc<str>>,
    ) {
        let now = self.now();
        match action {
            Action::NextMusic => {
                self.bed.switch(&self.lib, 1, &mut self.scratch);
            }
            Action::PreviousMusic => {
                self.bed.switch(&self.lib, -1, &mut self.scratch);
            }
            Action::Say => {
                let label = self.labels.key.clone();
                self.answer(say, &Values::default(), priority, &label);
            }
            Action::SkipPrompt => {
                self.speaker.skip();
            }
            Action::SayPosition => self.say_position(now, priority, true),
            Action::SayWait => self.say_wait(priority, true),
            Action::SayBalance if !self.personal => {
                // Whose balance would it be? Never another caller's.
                self.say_balance(&BalanceAnswer::Failed);
            }
            // One lookup at a time: a second press while it runs is dropped.
            Action::SayBalance if self.balance_pending.is_some() => {}
            Action::SayBalance => {
                self.scratch.push(TimelineEvent::Request {
                    what: Arc::from("balance"),
                });
                self.balance_pending = Some((now, false));
                self.request(Request::Balance);
            }
            Action::RepeatLast => {
                if let Some((ids, label)) = self.last_said.clone() {
                    self.speak(ids, priority, true, &label);
                }
            }
            Action::Language => {
                let Some(code) = language else { return };
                self.switch_language(&code, say, priority);
            }
            Action::Redirect => {
                let Some(to) = redirect else { return };
                let label = self.labels.redirect.clone();
                match self.answer(say, &Values::default(), priority.max(PRIO_QUEUE + 1), &label) {
                    // Confirm first; the redirect follows as the confirmation ends.
                    Some(phrase) => self.redirect_after_prompt = Some((to, phrase)),
                    None => self.redirect(to),
                }
            }
        }
    }

    /// The caller's language key: what was resolved in the old language
    /// and not heard yet is dropped (the prompt playing fades out, as for
    /// any key's answer), and the confirmation is said in the new one.
    fn switch_language(&mut self, code: &str, say: &crate::scenario::Template, priority: u8) {
        let before = self.language().map(str::to_string);
        if !self.choose_language(code, LanguageBy::Caller) {
            return;
        }
        if self.language() != before.as_deref() {
            self.speaker.barge();
            self.speaker.drop_all_queued();
            self.last_said = None;
        }
        let label = self.labels.key.clone();
        self.answer(say, &Values::default(), priority, &label);
    }

    pub(super) fn redirect(&mut self, to: Redirect) {
        self.scratch.push(TimelineEvent::Redirect {
            context: to.context.clone(),
            exten: to.exten.clone(),
            priority: to.priority,
        });
        self.request(Request::Redirect(to));
    }
}
