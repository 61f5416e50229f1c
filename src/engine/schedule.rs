//! What is due by the clock: the welcome, repeats, queue announcements,
//! advices, "one moment" for a slow balance lookup, a reload waiting for
//! the prompts to end, and how long until any of it is due (the quiet path
//! runs until then).

use super::phrase::Values;
use super::timeline::TimelineEvent;
use super::{BALANCE_PATIENCE, Engine, PRIO_ADVICE, PRIO_DISSUADE, PRIO_QUEUE, PRIO_WELCOME};
use std::time::Duration;

/// When each thing the schedule does by the clock is next due;
/// `Duration::MAX` when it is not, until an event, a key or a reload
/// changes that. Worked out in one place, [`Engine::due`]: `schedule` acts
/// on it and `calm_until` takes its earliest time, so the quiet path cannot
/// sleep through anything the full path would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    /// "One moment" for a balance lookup that takes long.
    one_moment: Duration,
    /// The earliest repeat (each has its own time).
    repeat: Duration,
    /// The position again, `every` after it was last said.
    position: Duration,
    /// The wait estimate.
    wait: Duration,
    /// Dissuading at a time (`after`); its position and wait thresholds are
    /// crossed by events only.
    dissuade: Duration,
    /// The next advice, or the end of one (the gap after it starts when
    /// the speaker falls idle); nothing while the speaker is busy.
    advice: Duration,
    /// The hold plan's next item or ask (see [`super::plan`]).
    plan: Duration,
}

impl Due {
    fn earliest(&self) -> Duration {
        [
            self.one_moment,
            self.repeat,
            self.position,
            self.wait,
            self.dissuade,
            self.advice,
            self.plan,
        ]
        .into_iter()
        .min()
        .unwrap_or(Duration::MAX)
    }
}

impl Engine {
    /// When each scheduled thing is next due, from the state now.
    fn due(&self) -> Due {
        let one_moment = match self.balance_pending {
            Some((since, false)) => since + BALANCE_PATIENCE,
            _ => Duration::MAX,
        };
        let position = match (&self.announce.position, self.position_said) {
            (Some(a), Some((at, _))) if !a.every.is_zero() => at + a.every,
            _ => Duration::MAX,
        };
        let dissuade = match &self.announce.dissuade {
            Some(d) if !self.dissuaded => d.after.unwrap_or(Duration::MAX),
            _ => Duration::MAX,
        };
        // While a hold plan's items play, the advices wait.
        let advice = if self.speaker.is_busy() || self.plan.running() {
            Duration::MAX
        } else if self.advice_playing {
            Duration::ZERO
        } else {
            self.advice_next
        };
        Due {
            one_moment,
            repeat: self.repeats.iter().map(|r| r.next).min().unwrap_or(Duration::MAX),
            position,
            wait: self.wait_next,
            dissuade,
            advice,
            plan: self.plan.due(&self.speaker),
        }
    }

    /// The next prompt the clock will bring, and what it is (`advice`,
    /// `position`, `wait`, `repeat`, `dissuade`), for a live status line
    /// and the control socket's `status`; `None` when nothing is scheduled.
    pub fn next_scheduled(&self) -> Option<(Duration, &'static str)> {
        let d = self.due();
        let now = self.now();
        [
            (d.advice, "advice"),
            (d.position, "position"),
            (d.wait, "wait"),
            (d.repeat, "repeat"),
            (d.dissuade, "dissuade"),
        ]
        .into_iter()
        .filter(|(at, _)| *at > now && *at != Duration::MAX)
        // The advice clock runs without advice too: it is no prompt then.
        .filter(|(_, what)| *what != "advice" || !self.advisor.is_empty())
        .min_by_key(|(at, _)| *at)
    }

    /// The stream time before which no frame can start a prompt, change
    /// the music or make a request unless an event comes in: the earliest
    /// time anything in [`Engine::schedule`] is due. Zero when the next
    /// frame must take the full path anyway.
    pub(super) fn calm_until(&self) -> Duration {
        if self.reload.is_some()
            || self.redirect_after_prompt.is_some()
            || self.exit.is_some()
            || !self.requests.is_empty()
        {
            return Duration::ZERO;
        }
        self.due().earliest()
    }

    /// Does what is due at `now`, in a fixed order (the order prompts
    /// queue in).
    pub(super) fn schedule(&mut self, now: Duration) {
        if !self.speaker.is_busy()
            && let Some(s) = self.reload.take()
        {
            self.configure(&s, true);
            self.scratch.push(TimelineEvent::Reload {
                ok: true,
                reason: None,
            });
        }
        if self.frame == 0 {
            // Chosen once, at the call's start (windows: see `dated`).
            let (welcome, label) = (self.welcome_now(), self.labels.welcome.clone());
            self.say(&welcome, &Values::default(), PRIO_WELCOME, &label);
        }
        // Before the bed plays this frame: a track that ends in it is
        // followed by the music open now.
        self.check_music();
        self.plan_step(now);
        // After the reload, which may change what is due. What is done
        // below only changes its own time, or queues prompts (and prompts
        // queued hold the advice back: it looks at the speaker again).
        let due = self.due();
        if now >= due.one_moment {
            self.say_one_moment();
        }
        // Right after the confirmation: not after whatever was queued behind it.
        if let Some((to, phrase)) = self.redirect_after_prompt.take() {
            if self.speaker.phrase_done(phrase) {
                self.redirect(to);
            } else {
                self.redirect_after_prompt = Some((to, phrase));
            }
        }
        if now >= due.repeat {
            self.say_repeats(now);
        }
        if now >= due.position {
            self.say_position(now, PRIO_QUEUE, false);
        }
        if now >= due.wait {
            let every = self.announce.wait.as_ref().map_or(Duration::ZERO, |w| w.every);
            self.wait_next = if every.is_zero() {
                Duration::MAX
            } else {
                now + every
            };
            self.say_wait(PRIO_QUEUE, false);
        }
        self.dissuade(now >= due.dissuade);
        if now >= due.advice && !self.speaker.is_busy() {
            self.advise(now);
        }
    }

    /// Every repeat due at `now`, each moved on to its next time.
    fn say_repeats(&mut self, now: Duration) {
        for i in 0..self.repeats.len() {
            if now >= self.repeats[i].next {
                // Never pile up: skip a repeat while the last one is still
                // queued; nor at a position it is not meant for.
                let placed = self
                    .queue
                    .position
                    .is_some_and(|p| p <= self.repeats[i].position_above);
                if !self.speaker.is_busy() && !placed && self.repeat_open(i) {
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
    }

    /// A slow balance lookup gets a short "one moment" so the key press is
    /// not met with silence.
    fn say_one_moment(&mut self) {
        let Some((since, false)) = self.balance_pending else {
            return;
        };
        self.balance_pending = Some((since, true));
        if let Some(a) = self.announce.balance.clone() {
            let label = self.labels.balance.clone();
            self.answer(&a.wait, &Values::default(), PRIO_QUEUE + 2, &label);
        }
    }

    /// Tells a caller facing a long wait, once: at a time (`due`), or once
    /// their position or wait is over a threshold.
    fn dissuade(&mut self, due: bool) {
        if !self.dissuaded
            && let Some(d) = &self.announce.dissuade
        {
            let over = due
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

    /// The end of an advice, or the next one (the speaker is idle).
    fn advise(&mut self, now: Duration) {
        if self.advice_playing {
            // The advice (and whatever followed it) is over: the gap starts now.
            self.advice_playing = false;
            self.advice_next = now + self.advice_gap;
            return;
        }
        let (date, minute) = self.local_now();
        let lib = &self.lib;
        match self.advisor.next(date, minute, |id| lib.is_failed(id)) {
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
mod tests {
    use super::super::tests::demo_engine;
    use super::super::{Event, EventKind};
    use std::time::Duration;

    /// A balance lookup still unanswered half a second after the key gets
    /// "one moment" then: the quiet path stops there, the schedule says it.
    #[test]
    fn one_moment_falls_due_half_a_second_after_the_key() {
        let secs = Duration::from_secs_f64;
        let mut e = demo_engine(false);
        let mut out = vec![0.0f32; e.frame_len()];
        let mut render_until = |e: &mut super::Engine, t: Duration| {
            while e.now() < t {
                e.render_frame(&mut out);
                e.take_requests().for_each(drop);
                e.drain_timeline().for_each(drop);
            }
        };
        // The welcome is queued at the first frame: no advice before it ends.
        render_until(&mut e, secs(0.02));
        assert_eq!(e.due().advice, Duration::MAX);
        e.push(Event {
            at: secs(30.0),
            kind: EventKind::Dtmf('2'),
        });
        render_until(&mut e, secs(30.2));
        assert_eq!(e.due().one_moment, secs(30.5));
        assert!(e.calm <= secs(30.5), "calm until {:?}", e.calm);
        render_until(&mut e, secs(30.52));
        assert_eq!(e.balance_pending, Some((secs(30.0), true)));
        assert_eq!(e.due().one_moment, Duration::MAX);
    }
}
