//! Per-call state across respawns. Asterisk kills and restarts the
//! generator of a call whenever hold music restarts (app_queue's own
//! announcements, `moh reload`); the next process for the same Uniqueid
//! resumes from the last one's checkpoint.
//!
//! Each process keeps its own checkpoint file, `<uniqueid>/<pid>`, in a
//! host-local tmpfs directory ([`layout`]), mapped into memory: the audio thread updates
//! it with plain stores (no syscall, no lock), it survives SIGKILL (the
//! page cache holds it), and no two processes ever write the same file. A
//! new process reads the newest file of its call before its first frame and
//! removes the older ones once its own holds the call. When the call is
//! over, the hub removes them all at its `Hangup`, and the directory's
//! file count is bounded ([`cleanup`]).

mod cleanup;
mod layout;
mod slots;

use crate::engine::snapshot::Snapshot;
use crate::util::files::{self, Kind};
use crate::util::mapguard::{Guard, guard};
pub use cleanup::MAX_FILES;
use layout::{Files, Flat, call_name};
use memmap2::MmapMut;
pub use slots::Fast;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Checkpoints of processes long gone are removed after this.
const EXPIRE: Duration = Duration::from_secs(3600);
/// A sweep of expired files runs at most this often per host.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// The directory of checkpoints.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// The call's files [`StateDir::load`] found (and its name), handed
    /// to its [`StateDir::writer`]: removing the older ones after the first
    /// snapshot then needs no second look (on a hub's pacing thread).
    found: std::sync::Mutex<Option<(String, Files)>>,
    /// Whether files of the flat layout are still looked for.
    flat: Flat,
}

impl Clone for StateDir {
    fn clone(&self) -> StateDir {
        StateDir::at(self.dir.clone())
    }
}

/// The default directory of a process with this `XDG_RUNTIME_DIR` and
/// uid: a call hosted by the hub uses its client's (docs/hub-audio.md), so
/// that the client finds the checkpoints when it takes the call over.
pub fn default_dir(runtime: Option<&std::ffi::OsStr>, uid: u32) -> PathBuf {
    match runtime {
        Some(r) if !r.is_empty() => PathBuf::from(r).join("holdmix/calls"),
        _ => PathBuf::from(format!("/dev/shm/holdmix-{uid}/calls")),
    }
}

impl StateDir {
    /// `dir`, or `$XDG_RUNTIME_DIR/holdmix/calls`, else
    /// `/dev/shm/holdmix-UID/calls`: tmpfs either way, private to the user.
    pub fn open(dir: Option<&Path>) -> Result<StateDir, String> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            // SAFETY: getuid has no preconditions.
            None => default_dir(std::env::var_os("XDG_RUNTIME_DIR").as_deref(), unsafe {
                libc::getuid()
            }),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: cannot create the call state directory: {e}", dir.display()))?;
        // In a shared tmpfs another user could have made these first (to
        // plant symlinks or forge snapshots): ours alone, or none.
        private_dir(&dir)?;
        if let Some(parent) = dir.parent().filter(|p| p.starts_with("/dev/shm/holdmix-")) {
            private_dir(parent)?;
        }
        Ok(StateDir::at(dir))
    }

    fn at(dir: PathBuf) -> StateDir {
        StateDir {
            dir,
            found: std::sync::Mutex::new(None),
            flat: Flat::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The newest checkpoint of this call, if any.
    pub fn load(&self, uniqueid: &str) -> Option<Snapshot> {
        let name = call_name(uniqueid)?;
        let mut best: Option<Snapshot> = None;
        let files = self.files_of(name);
        for (path, _) in &files {
            let Some(snap) = read_file(path) else { continue };
            if best.as_ref().is_none_or(|b| snap.at_ms > b.at_ms) {
                best = Some(snap);
            }
        }
        if let Ok(mut found) = self.found.lock() {
            *found = Some((name.to_string(), files));
        }
        best
    }

    /// This process's checkpoint for the call (created now).
    pub fn writer(&self, uniqueid: &str) -> Result<Checkpoint, String> {
        let name = call_name(uniqueid).ok_or("the Uniqueid has characters a file name cannot take")?;
        let (file, path) = layout::create(&self.dir, name, std::process::id())?;
        let id = file.metadata().ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        file.set_len(slots::FILE_BYTES as u64)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the file is ours alone to write (named by our pid); other
        // processes only read it, through the seqlock of `slots`.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
        // Only the pages written are the call's memory: read ahead, the
        // first fault would map the whole (sparse) file, 64 KiB a call.
        map.advise(memmap2::Advice::Random).ok();
        Ok(Checkpoint {
            // What the look found, if it was for this call.
            others: self.found.lock().ok().and_then(|mut f| {
                f.take()
                    .and_then(|(looked, files)| (looked == name).then_some(files))
            }),
            // Truncated by someone else, the file must not take the call
            // down with a SIGBUS (see mapguard): writes then go nowhere.
            _guard: guard(map.as_ptr(), map.len()),
            map,
            path,
            name: name.to_string(),
            dir: self.dir.clone(),
            generation: 0,
            json: Vec::with_capacity(4096),
            holds_call: false,
            id,
        })
    }

    /// The call is over: its checkpoints go (but those of processes still
    /// running: one may know better, and removes them when it is done).
    pub fn forget(&self, uniqueid: &str) {
        let me = std::process::id();
        if let Some(name) = call_name(uniqueid) {
            for (path, pid) in self.files_of(name) {
                if pid == me || !alive(pid) {
                    std::fs::remove_file(path).ok();
                }
            }
            layout::remove_if_empty(&self.dir, name);
        }
    }

    /// Removes checkpoints of dead processes not touched for an hour; at
    /// most once per ten minutes per host (a marker file's age says when).
    pub fn sweep(&self) {
        if !crate::util::marker::due(&self.dir.join(".swept"), SWEEP_EVERY) {
            return;
        }
        // One walk for both: opening each call's directory is the cost.
        let left = layout::walk(&self.dir, 100_000, &self.flat)
            .into_iter()
            .filter(|f| {
                let old = f
                    .modified
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > EXPIRE);
                !(old && !alive(f.pid) && std::fs::remove_file(&f.path).is_ok())
            })
            .collect();
        self.bound_among(left, MAX_FILES);
    }

    /// The call's files: in its own directory, and flat ones while any
    /// may be left ([`layout`]).
    fn files_of(&self, name: &str) -> Files {
        layout::files_of(&self.dir, name, self.flat.looked_for(&self.dir))
    }
}

/// One process's checkpoint of its call.
pub struct Checkpoint {
    /// Dropped (unregistered) before the map is unmapped.
    _guard: Guard,
    map: MmapMut,
    path: PathBuf,
    /// The call's name (its Uniqueid, or a key's digest).
    name: String,
    dir: PathBuf,
    generation: u64,
    json: Vec<u8>,
    /// Set once a snapshot is written: older files may go then.
    holds_call: bool,
    /// The call's files when its checkpoints were looked for (`None`: not
    /// looked for, the directory is listed then).
    others: Option<Files>,
    /// The file's device and inode: another instance of the call in this
    /// process (a hub hosting it twice) replaces the file at the same path.
    id: Option<(u64, u64)>,
}

impl Checkpoint {
    /// Writes the whole snapshot. After the first one, the checkpoints of
    /// earlier processes of the call are removed (this one now has it all).
    pub fn write(&mut self, snap: &Snapshot) {
        self.json.clear();
        if serde_json::to_writer(&mut self.json, snap).is_err() {
            return;
        }
        self.generation += 1;
        if !slots::write_snapshot(&mut self.map, self.generation, &self.json) {
            tracing::warn!(bytes = self.json.len(), "call state too large to keep");
            return;
        }
        if !self.holds_call {
            self.holds_call = true;
            self.remove_others();
        }
    }

    /// Stream time and music offset, for the last written snapshot.
    pub fn write_fast(&mut self, at_ms: u64, offset: u64) {
        if self.generation > 0 {
            slots::write_fast(
                &mut self.map,
                Fast {
                    generation: self.generation,
                    at_ms,
                    offset,
                },
            );
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Notes the lines [`Checkpoint::write_fast`] touches (see `Warm`).
    pub fn note_hot(&self, w: &mut crate::util::prefetch::Warm) {
        w.add(&self.map);
        w.add(&self.generation);
        w.add_range(self.map.as_ptr() as usize, slots::FAST_BYTES);
    }

    fn remove_others(&mut self) {
        let me = std::process::id();
        let files = match self.others.take() {
            Some(files) => files,
            None => StateDir::at(self.dir.clone()).files_of(&self.name),
        };
        for (path, pid) in files {
            // A process still alive (Asterisk runs old and new side by side
            // for a moment) keeps its file until it is gone.
            if pid != me && !alive(pid) {
                std::fs::remove_file(path).ok();
            }
        }
    }
}

impl Drop for Checkpoint {
    /// A file that never held a snapshot (its call ended before its first
    /// write) has nothing to resume from: it goes.
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        // Only this file: one that replaced it at the path is another's.
        // (A file written is kept: no `stat` at each call's end.)
        if self.generation == 0
            && std::fs::symlink_metadata(&self.path).is_ok_and(|m| Some((m.dev(), m.ino())) == self.id)
        {
            std::fs::remove_file(&self.path).ok();
        }
    }
}

/// A directory that is ours, not a symlink, and closed to others.
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
        return Err(format!(
            "{}: not a private directory of this user (a symlink, another owner, or open to others)",
            dir.display()
        ));
    }
    Ok(())
}

/// Every checkpoint file fits the limit files of its kind are read to.
const _: () = assert!(slots::FILE_BYTES as u64 <= Kind::Checkpoint.limit());

/// The snapshot a checkpoint file holds, with its fast fields applied.
/// Only a regular file, not through a link, never blocking on a FIFO, at
/// most the checkpoint limit (see `util::files`): the directory is ours,
/// but what is in it is not trusted.
fn read_file(path: &Path) -> Option<Snapshot> {
    let (file, len) = match files::open(path, Kind::Checkpoint) {
        Ok(f) => f,
        Err(e) => {
            if !e.is_missing() {
                tracing::warn!("{e}; not resumed from it");
            }
            return None;
        }
    };
    if len < slots::FILE_BYTES as u64 {
        return None;
    }
    // SAFETY: mapped read-only; the writer only ever stores into it, and
    // `slots::read` takes a slot only if its sequence did not move while it
    // copied (the seqlock works on the shared pages, not on a copy).
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    // A file cut short while it is read reads as zeros, which the seqlock
    // then refuses, instead of a SIGBUS.
    let _guard = guard(map.as_ptr(), map.len());
    let (generation, json, fast) = slots::read(&map)?;
    let mut snap: Snapshot = serde_json::from_slice(&json).ok()?;
    if let Some(f) = fast.filter(|f| f.generation == generation) {
        snap.at_ms = snap.at_ms.max(f.at_ms);
        if let Some(m) = &mut snap.music {
            m.offset = f.offset;
        }
    }
    Some(snap)
}

/// Whether a process with this pid exists (ours to signal or not).
pub fn alive(pid: u32) -> bool {
    // 0 and what does not fit a pid_t would name process groups, not a process.
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::MusicAt;

    #[test]
    fn newest_checkpoint_wins_and_fast_fields_apply() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = StateDir::open(Some(&tmp.path().join("calls"))).unwrap();
        assert!(sd.load("1700000000.1").is_none());
        let mut w = sd.writer("1700000000.1").unwrap();
        let mut snap = Snapshot {
            seed: 7,
            at_ms: 1000,
            music: Some(MusicAt {
                track: "/m/a.wav".into(),
                offset: 8000,
                rate: 8000,
            }),
            ..Snapshot::default()
        };
        w.write(&snap);
        w.write_fast(1040, 8320);
        let got = sd.load("1700000000.1").unwrap();
        assert_eq!((got.seed, got.at_ms, got.music.unwrap().offset), (7, 1040, 8320));
        // A new snapshot: fast fields of the old generation no longer apply.
        snap.at_ms = 2000;
        w.write(&snap);
        assert_eq!(sd.load("1700000000.1").unwrap().music.unwrap().offset, 8000);
        for bad in ["", "../x", ".hidden", "a/b", "x y", &"9".repeat(65)] {
            assert!(sd.load(bad).is_none());
            assert!(sd.writer(bad).is_err(), "{bad:?}");
        }
        sd.forget("1700000000.1");
        assert!(sd.load("1700000000.1").is_none());
    }

    /// A process's file is made before its first write (by the call's
    /// preparation): dropped without a snapshot, it goes; with one, it
    /// stays for the next process.
    #[test]
    fn a_file_never_written_goes_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = StateDir::open(Some(&tmp.path().join("calls"))).unwrap();
        let w = sd.writer("1700000000.4").unwrap();
        let path = w.path().to_path_buf();
        assert!(path.exists());
        drop(w);
        assert!(!path.exists(), "an empty file left behind");
        // Replaced at its path (the call hosted twice by one process): the
        // other's file stays.
        let first = sd.writer("1700000000.4").unwrap();
        let second = sd.writer("1700000000.4").unwrap();
        drop(first);
        assert!(path.exists(), "the other's file went");
        drop(second);
        assert!(!path.exists());
        let mut w = sd.writer("1700000000.4").unwrap();
        w.write(&Snapshot {
            at_ms: 700,
            ..Snapshot::default()
        });
        drop(w);
        assert_eq!(sd.load("1700000000.4").unwrap().at_ms, 700);
    }

    /// After its first snapshot a process removes the call's files of
    /// processes gone (those its look for checkpoints found, or, with no
    /// look, those listed then), never a live one's.
    #[test]
    fn the_files_of_processes_gone_go_after_the_first_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("calls");
        let call = "1700000000.3";
        for looked in [true, false] {
            let sd = StateDir::open(Some(&dir)).unwrap();
            let mut w = sd.writer(call).unwrap();
            w.write(&Snapshot {
                at_ms: 500,
                ..Snapshot::default()
            });
            // As if written by a process gone (above the kernel's pids) and
            // by one alive (init).
            let gone = dir.join(call).join("4194305");
            let alive = dir.join(call).join("1");
            std::fs::copy(w.path(), &gone).unwrap();
            std::fs::copy(w.path(), &alive).unwrap();
            let own = w.path().to_path_buf();
            drop(w);
            std::fs::remove_file(own).unwrap();
            let sd = StateDir::open(Some(&dir)).unwrap();
            if looked {
                assert_eq!(sd.load(call).unwrap().at_ms, 500);
            }
            let mut w = sd.writer(call).unwrap();
            assert!(gone.exists(), "nothing removed before a snapshot");
            w.write(&Snapshot::default());
            assert!(!gone.exists(), "looked: {looked}");
            assert!(alive.exists(), "looked: {looked}");
            std::fs::remove_file(&alive).unwrap();
            drop(w);
            sd.forget(call);
        }
    }

    /// A package upgraded under live calls leaves flat files
    /// (`<call>.<pid>`): their calls resume from them and remove them as
    /// from their own; once a listing finds none, the marker stops the
    /// flat look, and a listing that finds one again brings it back.
    #[test]
    fn an_upgrade_s_flat_files_are_resumed_until_none_is_left() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("calls");
        let call = "1700000000.4";
        // The old version's directory: a flat file (the same contents as a
        // file of now, written elsewhere), no marker.
        let mut w = StateDir::open(Some(&tmp.path().join("elsewhere")))
            .unwrap()
            .writer(call)
            .unwrap();
        w.write(&Snapshot {
            at_ms: 700,
            ..Snapshot::default()
        });
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let flat = dir.join(format!("{call}.4194305"));
        std::fs::copy(w.path(), &flat).unwrap();
        drop(w);

        let sd = StateDir::open(Some(&dir)).unwrap();
        assert_eq!(sd.load(call).unwrap().at_ms, 700, "resumed from the flat file");
        let mut w = sd.writer(call).unwrap();
        w.write(&Snapshot::default());
        assert!(!flat.exists(), "removed after the first snapshot");
        assert_eq!(sd.bound(MAX_FILES), 0);
        assert!(dir.join(layout::BY_CALL_ONLY).exists(), "none left: the marker");

        // A new process trusts the marker: a flat file written after it
        // (an old process still running) is not looked for...
        std::fs::copy(w.path(), &flat).unwrap();
        let other = "1700000000.5";
        std::fs::copy(w.path(), dir.join(format!("{other}.4194305"))).unwrap();
        let sd = StateDir::open(Some(&dir)).unwrap();
        assert!(sd.load(other).is_none());
        // ...until a listing of the whole directory finds it.
        sd.bound(MAX_FILES);
        assert!(!dir.join(layout::BY_CALL_ONLY).exists());
        assert!(StateDir::open(Some(&dir)).unwrap().load(other).is_some());
        drop(w);
    }

    #[test]
    fn a_checkpoint_file_truncated_under_its_writer_costs_no_crash() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = StateDir::open(Some(&tmp.path().join("calls"))).unwrap();
        let mut w = sd.writer("1700000000.2").unwrap();
        let snap = Snapshot {
            seed: 3,
            at_ms: 500,
            ..Snapshot::default()
        };
        w.write(&snap);
        for e in std::fs::read_dir(tmp.path().join("calls/1700000000.2")).unwrap() {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(e.unwrap().path())
                .unwrap();
            f.set_len(0).unwrap();
        }
        // Writes into the cut file: a SIGBUS without the guard.
        w.write(&snap);
        w.write_fast(600, 10);
        assert!(
            sd.load("1700000000.2").is_none(),
            "nothing resumable in an empty file"
        );
    }

    #[test]
    fn a_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(StateDir::open(Some(&shared)).is_err());
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), &link).unwrap();
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        assert!(StateDir::open(Some(&link)).is_err());
    }
}
