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
    /// The language the caller chose with a key (a code; `None`: none).
    pub language: Option<String>,
}

impl Engine {
    /// An engine for a caller with this memory: heard advices are left out
    /// of the call's orders; with `start = "remembered"`, the music starts
    /// where the caller left off.
    pub fn remembering(scenario: &Scenario, rate: u32, seed: u64, m: &Memory) -> Engine {
        let mut e = Engine::unconfigured(scenario, rate, seed);
        for p in &m.heard {
            let id = e.lib.add(p);
            e.heard.insert(id);
        }
        e.configure(scenario, false);
        let mut resumed = false;
        if scenario.music.start == MusicStart::Remembered
            && let Some(track) = &m.music
        {
            let id = e.lib.add(track);
            if let Some(i) = e.bed.index_of(id) {
                let offset = (m.offset.as_secs_f64() * f64::from(e.rate)) as usize;
                e.bed.start_at(i, offset);
                resumed = true;
            }
        }
        if let Some(code) = &m.language {
            e.choose_language(code, super::language::LanguageBy::Caller);
        }
        e.scratch.push(TimelineEvent::Remembered {
            music: resumed,
            heard: e.heard.len(),
        });
        e
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
            language: self.caller_language().map(str::to_string),
        }
    }
}
