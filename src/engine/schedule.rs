//! What is due by the clock: the welcome, repeats, queue announcements,
//! advices, "one moment" for a slow balance lookup, a reload waiting for
//! the prompts to end, and how long until any of it is due (the quiet path
//! runs until then).

use super::say::Values;
use super::timeline::TimelineEvent;
use super::{BALANCE_PATIENCE, Engine, PRIO_ADVICE, PRIO_DISSUADE, PRIO_QUEUE, PRIO_WELCOME};
use std::time::Duration;

impl Engine {
    /// The stream time before which no frame can start a prompt, change
    /// the music or make a request unless an event comes in: the earliest
    /// time anything in [`Engine::schedule`] is due. Zero when the next
    /// frame must take the full path anyway.
    pub(super) fn calm_until(&self, now: Duration) -> Duration {
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

    pub(super) fn schedule(&mut self, now: Duration) {
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
    pub(super) fn schedule_one_moment(&mut self, now: Duration) {
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

    pub(super) fn schedule_queue_announcements(&mut self, now: Duration) {
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

    pub(super) fn schedule_advice(&mut self, now: Duration) {
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
