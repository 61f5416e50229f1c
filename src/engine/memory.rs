//! What a caller's number remembers between calls: the music they were
//! listening to and where, and the advices they heard. The store keeps it;
//! the engine takes it before the first frame and gives it back at the end.

use super::{Engine, TimelineEvent};
use crate::scenario::{MusicStart, Scenario};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The track, as the playlist names it (an absolute path).
    pub music: Option<PathBuf>,
    pub offset: Duration,
    /// Advices heard (within the store's window).
    pub heard: Vec<PathBuf>,
}

impl Engine {
    /// Takes the caller's memory before the first frame: heard advices are
    /// left out of this call's orders; with `start = "remembered"`, the
    /// music starts where the caller left off.
    pub fn remember(&mut self, scenario: &Scenario, m: &Memory) {
        let before = self.heard.len();
        for p in &m.heard {
            let id = self.lib.add(p);
            self.heard.insert(id);
        }
        // Orders again from the call's seed, heard advices left out.
        self.rng = fastrand::Rng::with_seed(self.seed);
        self.configure(scenario, false);
        let mut resumed = false;
        if scenario.music.start == MusicStart::Remembered
            && let Some(track) = &m.music
        {
            let id = self.lib.add(track);
            if let Some(i) = self.bed.index_of(id) {
                let offset = (m.offset.as_secs_f64() * f64::from(self.rate)) as usize;
                self.bed.start_at(i, offset);
                resumed = true;
            }
        }
        self.scratch.push(TimelineEvent::Remembered {
            music: resumed,
            heard: self.heard.len() - before,
        });
    }

    /// The track playing now (cheap: for noticing a change).
    pub fn playing_track(&self) -> Option<super::library::SourceId> {
        self.bed.now_playing().map(|(id, _)| id)
    }

    /// What to remember of this call: the track playing and where, and the
    /// advices heard.
    pub fn memory(&self) -> Memory {
        let (music, offset) = match self.bed.now_playing() {
            Some((id, pos)) => (
                Some(self.lib.path(id).to_path_buf()),
                Duration::from_secs_f64(pos as f64 / f64::from(self.rate)),
            ),
            None => (None, Duration::ZERO),
        };
        Memory {
            music,
            offset,
            heard: self
                .heard
                .iter()
                .map(|&id| self.lib.path(id).to_path_buf())
                .collect(),
        }
    }
}
