//! The one line `holdmix play` keeps up to date: the call's time, the
//! music, what is being said, what comes next and when, and the queue
//! position, from the engine's timeline entries as they come.

use crate::engine::timeline::{Entry, TimelineEvent};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Status {
    music: String,
    saying: Option<String>,
    position: Option<u32>,
    /// The last key and what it did.
    key: Option<String>,
    /// Something to show once (a redirect, a skip, an exit).
    note: Option<String>,
}

impl Status {
    pub fn update(&mut self, entries: &[Entry]) {
        for e in entries {
            match &e.event {
                TimelineEvent::MusicStart { file, .. } => self.music = file.to_string(),
                TimelineEvent::PromptStart { file, .. } => self.saying = Some(file.to_string()),
                TimelineEvent::PromptEnd { .. } => self.saying = None,
                TimelineEvent::Position { value } => self.position = Some(*value),
                TimelineEvent::Dtmf { digit, action } => {
                    self.key = Some(match action {
                        Some(a) => format!("{digit}: {a}"),
                        None => format!("{digit}: no action"),
                    })
                }
                TimelineEvent::Redirect { .. } => {
                    self.note = Some("redirected (the call would leave hold)".into())
                }
                TimelineEvent::Exit { reason } => self.note = Some(format!("ended: {reason}")),
                _ => {}
            }
        }
    }

    pub fn note(&mut self, text: String) {
        self.note = Some(text);
    }

    /// `now` the call's time; `next` the next scheduled prompt, if any.
    pub fn line(&mut self, now: Duration, next: Option<(Duration, &str)>) -> String {
        let s = now.as_secs();
        let mut line = format!("{:02}:{:02}  music {}", s / 60, s % 60, self.music);
        if let Some(p) = &self.saying {
            line += &format!(" | saying {p}");
        }
        if let Some((at, what)) = next {
            line += &format!(" | {what} in {} s", at.saturating_sub(now).as_secs());
        }
        if let Some(p) = self.position {
            line += &format!(" | position {p}");
        }
        if let Some(k) = &self.key {
            line += &format!(" | key {k}");
        }
        if let Some(n) = self.note.take() {
            line += &format!(" | {n}");
        }
        line
    }
}
