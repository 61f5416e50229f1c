//! What a control socket asks of the engine (`say-position`, `music`,
//! `play`), as events like any other, and the small status it reads back.
//! The operator's word is acted on as a key's would be: its answer
//! cuts in, one level above the queue's announcements.

use super::event::{EventKind, MusicPick, Sound};
use super::timeline::TimelineEvent;
use super::{Engine, PRIO_QUEUE};
use std::sync::Arc;
use std::time::Duration;

/// Priority of what the operator asks said: a key answer's.
const PRIO_CONTROL: u8 = PRIO_QUEUE + 1;

/// What the engine is doing, for `status`: a copy, made on the audio thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Stream time of the next frame the engine renders.
    pub now: Duration,
    pub position: Option<u32>,
    /// The track playing (its file name).
    pub music: Option<Arc<str>>,
    /// The prompt being said (its file name).
    pub prompt: Option<Arc<str>>,
    /// The next prompt the clock brings: when (stream time) and what.
    pub next: Option<(Duration, &'static str)>,
    pub language: Option<String>,
}

impl Engine {
    /// A copy of what `status` shows.
    pub fn status(&self) -> Status {
        Status {
            now: self.now(),
            position: self.queue.position,
            music: self.bed.now_playing().map(|(id, _)| self.lib.name(id).clone()),
            prompt: self.speaker.playing().map(|id| self.lib.name(id).clone()),
            next: self.next_scheduled(),
            language: self.language().map(str::to_string),
        }
    }

    /// Acts on a control event (see [`EventKind::SayPosition`] and after).
    pub(super) fn controlled(&mut self, kind: EventKind, now: Duration) {
        match kind {
            EventKind::SayPosition => self.say_position(now, PRIO_CONTROL, true),
            EventKind::Music(pick) => self.pick_music(&pick),
            EventKind::Play(sound) => self.play_sound(sound),
            _ => {}
        }
    }

    fn pick_music(&mut self, pick: &MusicPick) {
        let switched = match pick {
            MusicPick::Next => self.bed.switch(&self.lib, 1, &mut self.scratch),
            MusicPick::Previous => self.bed.switch(&self.lib, -1, &mut self.scratch),
            MusicPick::Named(name) => match self.bed.index_named(&self.lib, name) {
                Some(i) => self.bed.switch_to(&self.lib, i, &mut self.scratch),
                None => false,
            },
        };
        if !switched {
            tracing::info!(pick = ?pick, "control: no such track ready in the music playing now");
        }
    }

    /// A sound decoded elsewhere becomes a source of its own (one per
    /// path: the driver bounds how many) and is said as one phrase.
    fn play_sound(&mut self, sound: Sound) {
        let id = self.lib.add(&sound.path);
        self.lib.set_ready(id, sound.clip);
        if self.lib.is_failed(id) {
            self.scratch.push(TimelineEvent::SourceError {
                file: self.lib.name(id).clone(),
            });
            return;
        }
        let label: Arc<str> = Arc::from("control");
        self.speak(vec![id], PRIO_CONTROL, true, &label);
    }
}
