//! The call's checkpoints across respawns, as the stream goes: every tick
//! that wrote, the stream time and music offset of what the reader took;
//! whenever something happened, and at least once a second, the whole
//! state. Only what was written counts, and what is still in the pipe or
//! ready to write was not heard: the next process plays it again.

use super::exit::Exit;
use crate::audio::format::FRAME_MS;
use crate::config::CallIdentity;
use crate::engine::Engine;
use crate::engine::snapshot::Snapshot;
use crate::state::{Checkpoint, StateDir};
use std::path::Path;

/// A checkpoint's snapshot is rewritten at least this often (and whenever
/// something happened); in between, only stream time and music offset.
const SNAPSHOT_EVERY_FRAMES: u64 = 50;

/// Where this call's checkpoints go, and the one this process writes.
pub struct Checkpoints {
    dir: StateDir,
    uniqueid: String,
    file: Option<Checkpoint>,
    /// Whether the file was tried: a directory that refuses it is logged
    /// once, not retried every tick.
    tried: bool,
    /// The engine's frame at the last whole snapshot.
    snapshot_at: u64,
}

impl Checkpoints {
    /// Only for a call with a Uniqueid of its own: one from the environment
    /// may be another call's, and resuming (or forgetting) that call's
    /// state is worse than starting over.
    pub fn open(id: &CallIdentity, dir: Option<&Path>) -> Option<Checkpoints> {
        let uniqueid = id.own_uniqueid()?.to_string();
        match StateDir::open(dir) {
            Ok(dir) => Some(Checkpoints {
                dir,
                uniqueid,
                file: None,
                tried: false,
                snapshot_at: 0,
            }),
            Err(e) => {
                tracing::warn!("{e}; a respawn of this call will start over");
                None
            }
        }
    }

    /// The newest checkpoint an earlier process of this call left, if it
    /// can still be resumed at `now_ms` (Unix milliseconds).
    pub fn resumable(&self, now_ms: i64) -> Option<Snapshot> {
        self.dir
            .load(&self.uniqueid)
            .filter(|snap| snap.resumable(now_ms))
    }

    /// After a tick that wrote frames. `unread`: frames rendered and not
    /// heard (in the pipe and ready to write); `happened`: the tick had
    /// timeline events, so the whole state is written.
    pub fn after_write(&mut self, engine: &Engine, happened: bool, unread: u64) {
        if self.file.is_none() && !self.tried {
            self.tried = true;
            self.file = self
                .dir
                .writer(&self.uniqueid)
                .map_err(|e| tracing::warn!("cannot keep the call's state: {e}"))
                .ok();
        }
        let Some(c) = &mut self.file else { return };
        let frames = engine.frames();
        if happened || frames >= self.snapshot_at + SNAPSHOT_EVERY_FRAMES {
            c.write(&heard_so_far(engine.snapshot(), unread, engine.frame_len()));
            self.snapshot_at = frames;
        } else {
            let (at, offset) = engine.progress();
            let back = unread * u64::from(FRAME_MS);
            c.write_fast(
                at.saturating_sub(back),
                offset.saturating_sub(unread * engine.frame_len() as u64),
            );
        }
    }

    /// At the end of the stream. `unread`: frames still in the pipe.
    pub fn at_exit(&mut self, engine: &Engine, exit: Exit, unread: u64) {
        if exit.call_over() {
            // The call is over: nothing to resume.
            self.dir.forget(&self.uniqueid);
        } else if exit.unheard() {
            // Its engine ran on unheard: the checkpoint of what was read stays.
        } else if let Some(c) = &mut self.file {
            c.write(&heard_so_far(engine.snapshot(), unread, engine.frame_len()));
        }
        self.dir.sweep();
    }
}

/// The snapshot as of what the reader took: the frames still in the pipe
/// were never heard, so the next process plays them. (Only time and music
/// offset move back; a prompt started in them counts as said.)
fn heard_so_far(mut snap: Snapshot, unread: u64, frame_len: usize) -> Snapshot {
    snap.at_ms = snap.at_ms.saturating_sub(unread * u64::from(FRAME_MS));
    if let Some(m) = &mut snap.music {
        m.offset = m.offset.saturating_sub(unread * frame_len as u64);
    }
    snap
}
