//! The call's checkpoints across respawns, as the stream goes: every tick
//! that wrote and measured the pipe, the stream time and music offset of
//! what the reader took;
//! whenever something happened, and at least once a second, the whole
//! state. Only what was written counts, and what is still in the pipe or
//! ready to write was not heard: the next process plays it again.

use super::exit::Exit;
use crate::audio::format::FRAME_MS;
use crate::config::CallIdentity;
use crate::engine::Engine;
use crate::engine::snapshot::Snapshot;
use crate::state::{Checkpoint, StateDir};
use crate::util::prefetch::Warm;
use std::path::Path;

/// A checkpoint's snapshot is rewritten at least this often (and whenever
/// something happened); in between, only stream time and music offset.
const SNAPSHOT_EVERY_FRAMES: u64 = 50;

/// Where this call's checkpoints go, and the one this process writes.
pub struct Checkpoints {
    dir: StateDir,
    /// The name its files go by: the Uniqueid, or `call-<digest>` of a
    /// call key.
    uniqueid: String,
    /// Keyed by the call, not the channel: the call may be held again on
    /// another channel, so its hangup does not end it.
    by_call: bool,
    file: Option<Checkpoint>,
    /// Whether the file was tried: a directory that refuses it is logged
    /// once, not retried every tick.
    tried: bool,
    /// Whether the stream wrote frames: only then is the state at its end
    /// kept (the file is made before, by the preparation; a call whose
    /// first write failed kept nothing, and its next process starts over,
    /// welcome included).
    streamed: bool,
    /// The engine's frame at the last whole snapshot.
    snapshot_at: u64,
}

impl Checkpoints {
    /// Under the call's key when it has one (the hub's word, else the name
    /// a hub that hosted the call kept it under (`handed`: told at the
    /// hand-over, a take-over's only word of the key when no hub greets it
    /// now), else `--call-key`), else only for a call with a Uniqueid of
    /// its own: one from the environment may be another call's, and
    /// resuming (or forgetting) that call's state is worse than starting
    /// over.
    pub fn open(
        id: &CallIdentity,
        hub_key: Option<&str>,
        handed: Option<&str>,
        dir: Option<&Path>,
    ) -> Option<Checkpoints> {
        let keyed = hub_key
            .filter(|k| !k.is_empty())
            .map(call_file_name)
            .or_else(|| handed.filter(|n| is_call_file_name(n)).map(str::to_string))
            .or_else(|| id.call_key.as_deref().map(call_file_name));
        let (uniqueid, by_call) = match keyed {
            Some(name) => (name, true),
            None => (id.own_uniqueid()?.to_string(), false),
        };
        if by_call {
            tracing::info!(checkpoints = %uniqueid, "keyed by the call");
        }
        match StateDir::open(dir) {
            Ok(dir) => Some(Checkpoints {
                dir,
                by_call,
                uniqueid,
                file: None,
                tried: false,
                streamed: false,
                snapshot_at: 0,
            }),
            Err(e) => {
                tracing::warn!("{e}; a respawn of this call will start over");
                None
            }
        }
    }

    /// Creates this process's file of the call, if it was not tried yet
    /// (the first write does otherwise). The call's preparation does it,
    /// off the stream's thread: a hub's pacing thread starting a dead
    /// hub's thousand calls spent a tenth of its time creating them. A
    /// file never written is removed when dropped.
    pub fn create_file(&mut self) {
        if self.file.is_none() && !self.tried {
            self.tried = true;
            self.file = self
                .dir
                .writer(&self.uniqueid)
                .map_err(|e| tracing::warn!("cannot keep the call's state: {e}"))
                .ok();
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
        self.streamed = true;
        self.create_file();
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

    /// Notes what the next [`Checkpoints::after_write`] touches besides
    /// these fields (the stream notes them with its own): the file's
    /// per-tick fields (a page of their own per call, cold at each
    /// tick: a TLB and a cache miss, measured the largest of a hosted tick).
    pub fn note_hot(&self, w: &mut Warm) {
        if let Some(c) = &self.file {
            c.note_hot(w);
        }
    }

    /// At the end of the stream. `unread`: frames still in the pipe.
    pub fn at_exit(&mut self, engine: &Engine, exit: Exit, unread: u64) {
        if exit.call_over() && !self.by_call {
            // The call is over: nothing to resume.
            self.dir.forget(&self.uniqueid);
        } else if exit.unheard() {
            // Its engine ran on unheard: the checkpoint of what was read stays.
        } else if self.streamed
            && let Some(c) = &mut self.file
        {
            c.write(&heard_so_far(engine.snapshot(), unread, engine.frame_len()));
        }
        self.dir.sweep();
    }

    /// The name the call's checkpoints go by when it is keyed by the call
    /// (not its channel): what a hub hosting the call tells its client,
    /// so a take-over resumes from them without the key itself.
    pub fn call_name(&self) -> Option<&str> {
        self.by_call.then_some(self.uniqueid.as_str())
    }
}

/// Whether `name` is what [`call_file_name`] makes (`call-` and 32 hex
/// digits): the only name a hand-over may give (never a path).
pub fn is_call_file_name(name: &str) -> bool {
    name.strip_prefix("call-")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The file name of a call key's checkpoints: a digest, since a key is
/// any text (a Call-ID has `@`, may name a host) and file names are not.
fn call_file_name(key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("call-{hex}")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Given;
    use crate::scenario::Scenario;
    use crate::state::StateDir;

    /// The file is made before the stream writes (by the preparation); a
    /// call whose first write failed (the reader gone) keeps no state at
    /// its end, so its next process starts over, welcome included. Once
    /// frames were written, the state at the end is kept.
    #[test]
    fn the_state_at_the_end_is_kept_only_once_frames_were_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("calls");
        let id = CallIdentity {
            uniqueid: Some(Given {
                value: "1796000000.9".into(),
                in_argv: true,
            }),
            ..CallIdentity::default()
        };
        let engine = Engine::new(&Scenario::empty(), 8000, 1);
        let mut c = Checkpoints::open(&id, None, None, Some(&dir)).unwrap();
        c.create_file();
        c.at_exit(&engine, Exit::ReaderGone, 0);
        drop(c);
        let sd = StateDir::open(Some(&dir)).unwrap();
        assert!(
            sd.load("1796000000.9").is_none(),
            "a state kept with nothing heard"
        );
        let mut c = Checkpoints::open(&id, None, None, Some(&dir)).unwrap();
        c.create_file();
        c.after_write(&engine, false, 0);
        c.at_exit(&engine, Exit::ReaderGone, 0);
        drop(c);
        assert!(sd.load("1796000000.9").is_some(), "nothing kept after frames");
    }

    #[test]
    fn a_call_key_names_files_by_its_digest() {
        let id = "921b00e4-fec0-4a36-9397-a40ab74e1893@10.0.0.5";
        let name = call_file_name(id);
        // Safe as a file name whatever the key holds, and never the key.
        assert_eq!(name, call_file_name(id));
        assert_ne!(
            name,
            call_file_name("921b00e4-fec0-4a36-9397-a40ab74e1893@10.0.0.6")
        );
        assert!(name.starts_with("call-") && name.len() == 37, "{name}");
        assert!(name[5..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!call_file_name("../../etc/passwd").contains('/'));
        assert!(is_call_file_name(&name));
        for bad in [
            "call-",
            "call-../../etc/passwd",
            "1796000000.9",
            &name[..36],
            &format!("{name}0"),
        ] {
            assert!(!is_call_file_name(bad), "{bad}");
        }
    }
}
