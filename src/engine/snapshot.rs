//! The call's state as a small serialisable value: what the caller has
//! heard, where the music is, the debounce clocks. A generator that Asterisk
//! kills and respawns for the same call resumes from it instead of starting
//! over (kept outside the engine, where the next process finds it).
//!
//! Sources are named by path, not by id, so a snapshot still applies when
//! the playlist changed between the two processes (what is gone is skipped).

use super::{Engine, TimelineEvent};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// A resumed call further back than this starts over (a stale file).
const MAX_GAP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every random order of the call (music shuffle, random advices).
    pub seed: u64,
    /// Stream time at the snapshot.
    pub at_ms: u64,
    /// When the call's stream started (unix ms): stream time + this = now.
    pub wall_start_ms: i64,
    pub music: Option<MusicAt>,
    /// Advices heard this call.
    pub heard: Vec<PathBuf>,
    pub advice_next_ms: u64,
    pub advice_playing: bool,
    /// Each advice group's place in its (seeded) order.
    pub advice_cursors: Vec<usize>,
    /// When each key was last accepted.
    pub keys: Vec<(char, u64)>,
    /// The last position said, and when.
    pub position_said: Option<(u64, u32)>,
    pub queue: QueueAt,
    /// When each `[[repeat]]` is next due.
    pub repeats: Vec<u64>,
    pub wait_next_ms: Option<u64>,
    pub dissuaded: bool,
    /// The call's language and who chose it (absent in older snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<(String, super::language::LanguageBy)>,
    /// The hold plan's items, keys and next ask (absent without `[plan]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::plan::PlanAt>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MusicAt {
    pub track: PathBuf,
    /// Samples into the track, at `rate`.
    pub offset: u64,
    pub rate: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueAt {
    pub position: Option<u32>,
    pub first: Option<(u64, u32)>,
    pub last_move_ms: Option<u64>,
    pub holdtime_ms: Option<u64>,
}

impl Snapshot {
    /// Time since the call's last process stopped.
    fn gap(&self, now_ms: i64) -> Duration {
        let stopped = self.wall_start_ms.saturating_add(self.at_ms as i64);
        Duration::from_millis(now_ms.saturating_sub(stopped).max(0) as u64)
    }

    /// Whether a process starting at `now_ms` goes on with this call (not
    /// a stale file).
    pub fn resumable(&self, now_ms: i64) -> bool {
        self.gap(now_ms) <= MAX_GAP
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn dur(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

impl Engine {
    /// Stream time (ms) and the music's offset in its track: what a
    /// checkpoint updates every tick.
    pub fn progress(&self) -> (u64, u64) {
        let offset = self.bed.now_playing().map_or(0, |(_, pos)| pos as u64);
        (ms(self.now()), offset)
    }

    /// The call's state now (after the last rendered frame).
    pub fn snapshot(&self) -> Snapshot {
        let music = self.bed.now_playing().map(|(id, pos)| MusicAt {
            track: self.lib.path(id).to_path_buf(),
            offset: pos as u64,
            rate: self.rate,
        });
        let (position, first, last_move, holdtime) = self.queue.parts();
        Snapshot {
            seed: self.seed,
            at_ms: ms(self.now()),
            wall_start_ms: self.wall_start.timestamp_millis(),
            music,
            heard: self
                .heard
                .iter()
                .map(|&id| self.lib.path(id).to_path_buf())
                .collect(),
            advice_next_ms: ms(self.advice_next),
            advice_playing: self.advice_playing,
            advice_cursors: self.advisor.cursors(),
            keys: self
                .keys
                .iter()
                .filter_map(|(&c, k)| k.last.map(|t| (c, ms(t))))
                .collect(),
            position_said: self.position_said.map(|(t, p)| (ms(t), p)),
            queue: QueueAt {
                position,
                first: first.map(|(t, p)| (ms(t), p)),
                last_move_ms: last_move.map(ms),
                holdtime_ms: holdtime.map(ms),
            },
            repeats: self.repeats.iter().map(|r| ms(r.next)).collect(),
            wait_next_ms: (self.wait_next != Duration::MAX).then(|| ms(self.wait_next)),
            dissuaded: self.dissuaded,
            language: self.language_choice(),
            plan: self.plan.snapshot(),
        }
    }

    /// An engine that goes on with the call `snap` was taken from, at
    /// `now_ms` (unix ms): stream time includes the time between the two
    /// processes (the caller lived through it), the music goes on from
    /// where it was written.
    pub fn resume(scenario: &Scenario, rate: u32, snap: &Snapshot, now_ms: i64) -> Engine {
        if !snap.resumable(now_ms) {
            return Engine::new(scenario, rate, snap.seed);
        }
        let gap = snap.gap(now_ms);
        // The same seed, so every random order is the one the caller was in;
        // heard advices are then left out of it.
        let mut e = Engine::unconfigured(scenario, rate, snap.seed);
        e.heard = snap.heard.iter().map(|p| e.lib.add(p)).collect();
        e.configure(scenario, false);
        // The language first: its advices are the ones the cursors are in.
        if let Some((code, by)) = &snap.language {
            e.choose_language(code, *by);
        }
        e.advisor.set_cursors(&snap.advice_cursors);
        let now = dur(snap.at_ms) + gap;
        e.frame = now.as_millis() as u64 / u64::from(crate::audio::format::FRAME_MS);
        let now = e.now();
        if let Some(at) = chrono::DateTime::from_timestamp_millis(snap.wall_start_ms) {
            e.wall_start = at;
        }
        e.advice_next = if snap.advice_playing {
            // It was cut off: the gap stands for the rest of it.
            now + e.advice_gap
        } else {
            dur(snap.advice_next_ms)
        };
        for &(c, t) in &snap.keys {
            if let Some(k) = e.keys.get_mut(&c) {
                k.last = Some(dur(t));
            }
        }
        e.position_said = snap.position_said.map(|(t, p)| (dur(t), p));
        e.queue.restore(
            snap.queue.position,
            snap.queue.first.map(|(t, p)| (dur(t), p)),
            snap.queue.last_move_ms.map(dur),
            snap.queue.holdtime_ms.map(dur),
        );
        for (r, &next) in e.repeats.iter_mut().zip(&snap.repeats) {
            r.next = dur(next);
        }
        if let Some(w) = snap.wait_next_ms {
            e.wait_next = dur(w);
        }
        e.dissuaded = snap.dissuaded;
        if let Some(p) = &snap.plan {
            e.plan.resume(p, now);
        }
        if let Some(m) = &snap.music {
            let id = e.lib.add(&m.track);
            if let Some(i) = e.bed.index_of(id) {
                let offset = m.offset * u64::from(rate) / u64::from(m.rate.max(1));
                e.bed.start_at(i, offset as usize);
            }
        }
        e.scratch.push(TimelineEvent::Resume {
            from: snap.at_ms as f64 / 1000.0,
            gap: gap.as_secs_f64(),
        });
        e
    }
}
