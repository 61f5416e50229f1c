//! Hot reload for `run`: the playlist file is looked at every two seconds;
//! a new version is read, and handed over if it is valid, by a thread.
//!
//! Polling, not inotify: closing an inotify instance waits for an SRCU grace
//! period, which made every call's exit take 5-30 ms instead of 1 ms
//! (measured), and Asterisk kills these processes by the thousand.
//!
//! On a local filesystem the audio thread makes the `stat` itself (a
//! [`Poller`], a few microseconds once every 50 ticks): a thread that wakes
//! every two seconds costs a whole wake-up each time, as much as the 50
//! ticks' work together. Only a change starts a thread, to read and parse.
//! Anywhere else (NFS, SMB, FUSE: a hung server must not stall the sound),
//! a thread of its own polls, on whole multiples of two seconds, in the
//! same instant as the other calls' watchers.
//!
//! A `stat` never opens the file, so a FIFO or a device put where the
//! playlist was cannot block a poll; the reader thread opens it by the
//! rule of `util::files` (no blocking, regular files only, at most 4 MiB)
//! and refuses it with one log line. A version that is empty or has
//! nothing to play is refused like one with errors (`scenario::playable`).

use super::signals::unsignalled;
use crate::scenario::{Scenario, accept, load_valid, refuse_unreadable};
use crate::util::files::{self, Kind};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A new playlist version, or why it was refused.
pub type Reloaded = Result<Box<Scenario>, String>;

/// How often the playlist file is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// Filesystems whose `stat` never waits for a server (`statfs` magic
/// numbers from linux/magic.h): ext2/3/4, XFS, Btrfs, tmpfs, overlayfs,
/// ramfs, F2FS, ZFS, squashfs. Anything else is polled off the audio thread.
const LOCAL_FS: [u32; 9] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x794C_7630,
    0x8584_58F6,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0x7371_7368,
];

/// What identifies a version of the file on disk: a save by rename changes
/// the inode, an edit in place the mtime or size.
type Stamp = (u64, i64, i64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

/// Whether `path` is on a filesystem in [`LOCAL_FS`].
fn is_local(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path and a zeroed statfs the call fills in.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut fs) } != 0 {
        return false;
    }
    // As u32: the magic numbers are 32-bit, and `f_type` is signed on some targets.
    LOCAL_FS.contains(&(fs.f_type as u32))
}

/// A watch of the playlist made ready and not started (it has no sender
/// yet). A call's preparation makes it, on its own thread, so the
/// `statfs`, the directory's path walk and the file's read are not its
/// stream's (a hub's pacing thread starts a thousand calls at once when a
/// hub dies: docs/hub-audio.md).
pub struct Watch {
    path: PathBuf,
    /// What a local file's poller has looked at; `None`: not local.
    local: Option<Looked>,
}

/// Prepares the watch of `playlist` (see [`Watch`]).
pub fn prepare(playlist: &Path) -> Watch {
    Watch {
        path: playlist.to_path_buf(),
        local: is_local(playlist).then(|| Looked::new(playlist)),
    }
}

impl Watch {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts it; new versions arrive on `tx`. A [`Poller`] when the file
    /// is local: the caller calls [`Poller::poll_due`] every tick; else a
    /// thread of its own polls.
    pub fn start(self, tx: crate::util::bell::Sender<Reloaded>) -> std::io::Result<Option<Poller>> {
        match self.local {
            Some(looked) => Ok(Some(Poller {
                path: self.path,
                next: POLL,
                looked,
                tx,
            })),
            None => {
                spawn(&self.path, tx)?;
                Ok(None)
            }
        }
    }
}

/// Looks at a local playlist file from the audio thread (see the module).
pub struct Poller {
    path: PathBuf,
    /// Stream time of the next look.
    next: Duration,
    looked: Looked,
    tx: crate::util::bell::Sender<Reloaded>,
}

/// A local file's poller, as far as it is made without a sender.
struct Looked {
    /// The file's directory, held open: a poll looks up one name, not the
    /// whole path (the cold path walk was most of a poll's cost).
    dir: Option<OwnedFd>,
    name: OsString,
    seen: Option<Stamp>,
    /// The version in use. A reader thread holds the lock while it reads
    /// and parses, so versions are handed over in the order they were saved.
    bytes: Arc<Mutex<Option<String>>>,
}

impl Looked {
    fn new(path: &Path) -> Looked {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Only a directory reached without symlinks: a link repointed later
        // (a deploy switching `current`) must be followed, as a path stat does.
        let plain = std::fs::canonicalize(parent).is_ok_and(|c| c == parent);
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Looked {
            dir: plain
                .then(|| rustix::fs::open(parent, flags, Mode::empty()).ok())
                .flatten(),
            name: path.file_name().map(OsString::from).unwrap_or_default(),
            seen: stamp(path),
            bytes: Arc::new(Mutex::new(read_text(path))),
        }
    }
}

impl Poller {
    #[cfg(test)]
    fn new(path: &Path, tx: crate::util::bell::Sender<Reloaded>) -> Poller {
        Poller {
            path: path.to_path_buf(),
            next: POLL,
            looked: Looked::new(path),
            tx,
        }
    }

    fn stamp(&self) -> Option<Stamp> {
        let Some(dir) = &self.looked.dir else {
            return stamp(&self.path);
        };
        // A directory removed or renamed since: back to the path.
        let Ok(st) = rustix::fs::statat(dir, self.looked.name.as_os_str(), AtFlags::empty()) else {
            return stamp(&self.path);
        };
        // The fields' types differ between targets.
        #[allow(clippy::unnecessary_cast)]
        Some((
            st.st_ino as u64,
            st.st_mtime as i64,
            st.st_mtime_nsec as i64,
            st.st_size as u64,
        ))
    }

    /// Polls if [`POLL`] has passed since the last look, `now` being the
    /// stream time.
    pub fn poll_due(&mut self, now: Duration) {
        if now >= self.next {
            self.next = now + POLL;
            self.poll();
        }
    }

    /// A `stat`; a change is read and parsed by a thread, not here.
    fn poll(&mut self) {
        let now = self.stamp();
        if now.is_none() || now == self.looked.seen {
            return;
        }
        self.looked.seen = now;
        let (path, bytes, tx) = (self.path.clone(), self.looked.bytes.clone(), self.tx.clone());
        let span = tracing::Span::current();
        // The stop signals stay the audio thread's.
        let spawned = unsignalled(|| {
            std::thread::Builder::new()
                .name("reload".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let _g = span.enter();
                    let mut held = bytes.lock().unwrap_or_else(PoisonError::into_inner);
                    read_new(&path, &mut held, &tx);
                })
        });
        if let Err(e) = spawned {
            tracing::warn!(playlist = %self.path.display(), "cannot read the changed playlist: {e}");
            // Looked at again at the next poll.
            self.looked.seen = None;
        }
    }
}

/// The playlist's text as it is now, if it can be read.
fn read_text(path: &Path) -> Option<String> {
    files::read_string(path, Kind::Playlist).ok()
}

/// Reads the file at `path` and, unless its text is that of the version
/// in use (a touch, a save without edits), sends it; what cannot be read
/// (a FIFO, a device, a file too large) is sent as refused. False once
/// nobody listens.
fn read_new(path: &Path, held: &mut Option<String>, tx: &crate::util::bell::Sender<Reloaded>) -> bool {
    let text = match files::read_string(path, Kind::Playlist) {
        Ok(t) => t,
        // Gone between the stat and the open (a save replacing it): the
        // next change is looked at.
        Err(e) if e.is_missing() => return true,
        // The version in use stays the one held: the same text saved back
        // later is no change.
        Err(e) => return tx.send(Err(refuse_unreadable(&e))).is_ok(),
    };
    if held.as_ref() == Some(&text) {
        return true;
    }
    // Parsed from the text compared, not read again: what is handed over
    // is what was judged new.
    let version = accept(path, &text);
    *held = Some(text);
    tx.send(version.map(Box::new)).is_ok()
}

/// A thread that polls `playlist` on its own; new versions arrive on `tx`.
fn spawn(playlist: &Path, tx: crate::util::bell::Sender<Reloaded>) -> std::io::Result<()> {
    let path = playlist.to_path_buf();
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("watch".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _g = span.enter();
            let mut seen = stamp(&path);
            let mut bytes = read_text(&path);
            loop {
                crate::audio::clock::sleep_to_next_multiple(POLL);
                let now = stamp(&path);
                if now.is_none() || now == seen {
                    continue;
                }
                seen = now;
                if !read_new(&path, &mut bytes, &tx) {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Sends the version at `path` (a `reload` typed on the event feed).
pub fn reload_now(path: &Path, tx: &crate::util::bell::Sender<Reloaded>) {
    tx.send(load_valid(path).map(Box::new)).ok();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::bell::Bell;
    use std::sync::mpsc::RecvTimeoutError;

    /// Saves `text` over `path` by rename, as editors do: a new inode.
    fn save(path: &Path, text: &str) {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    /// A playlist file in a directory of its own.
    fn first_version() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        save(&path, "# first\n");
        (dir, path)
    }

    /// Waits up to `wait` for the broken version saved, refused.
    fn expect_refused(rx: &std::sync::mpsc::Receiver<Reloaded>, wait: Duration) {
        match rx.recv_timeout(wait) {
            Ok(Err(reason)) => assert!(reason.contains("error"), "{reason}"),
            Ok(Ok(_)) => panic!("a broken playlist was accepted"),
            Err(e) => panic!("no new version: {e}"),
        }
    }

    /// A playlist with something to play.
    fn valid() -> String {
        let music = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-audio/music");
        format!("[music]\ntracks = [{music:?}]\n")
    }

    #[test]
    fn a_fifo_renamed_over_the_playlist_is_refused_once_and_reload_goes_on() {
        let (dir, path) = first_version();
        let (tx, rx) = Bell::new().channel::<Reloaded>();
        let mut poller = Poller::new(&path, tx);
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("path");
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        std::fs::rename(&fifo, &path).expect("rename");
        poller.poll();
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Err(reason)) => assert!(reason.contains("is a FIFO, not a regular file"), "{reason}"),
            Ok(Ok(_)) => panic!("a FIFO was taken as a playlist"),
            Err(e) => panic!("the reader blocked on the FIFO: {e}"),
        }
        // Looked at again, unchanged: nothing more said.
        poller.poll();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)).err(),
            Some(RecvTimeoutError::Timeout)
        );
        save(&path, &valid());
        poller.poll();
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(s)) => assert!(!s.music.tracks.is_empty()),
            Ok(Err(reason)) => panic!("refused: {reason}"),
            Err(e) => panic!("hot reload died after the FIFO: {e}"),
        }
    }

    #[test]
    fn a_playlist_truncated_in_place_is_refused() {
        let (_dir, path) = first_version();
        save(&path, &valid());
        let (tx, rx) = Bell::new().channel::<Reloaded>();
        let mut poller = Poller::new(&path, tx);
        // What `> file` does: the same inode, now empty.
        std::fs::File::create(&path).expect("truncate");
        poller.poll();
        expect_refused(&rx, Duration::from_secs(5));
    }

    #[test]
    fn only_local_filesystems_are_polled_inline() {
        assert!(!is_local(Path::new("/proc/self/status")), "procfs");
        assert!(!is_local(Path::new("/nonexistent/holdmix.toml")));
        if Path::new("/dev/shm").is_dir() {
            assert!(is_local(Path::new("/dev/shm")), "tmpfs");
        }
    }

    #[test]
    fn the_poller_hands_over_changed_bytes_only() {
        let (_dir, path) = first_version();
        let (tx, rx) = Bell::new().channel::<Reloaded>();
        let mut poller = Poller::new(&path, tx);
        let parent = path.parent().expect("a directory");
        let plain = std::fs::canonicalize(parent).is_ok_and(|c| c == parent);
        assert_eq!(poller.looked.dir.is_some(), plain, "the directory is held open");
        assert_eq!(poller.stamp(), stamp(&path));
        poller.poll();
        // A save of the same bytes is not a new version.
        save(&path, "# first\n");
        poller.poll();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)).err(),
            Some(RecvTimeoutError::Timeout)
        );
        save(&path, "[music\n");
        poller.poll();
        expect_refused(&rx, Duration::from_secs(5));
    }

    #[test]
    fn the_poller_follows_a_repointed_symlink() {
        let (dir, a) = first_version();
        let b = dir.path().join("b");
        std::fs::create_dir(&b).expect("mkdir");
        save(&b.join("p.toml"), "[music\n");
        let link = dir.path().join("current");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        let (tx, rx) = Bell::new().channel::<Reloaded>();
        let mut poller = Poller::new(&link.join(a.file_name().expect("name")), tx);
        assert!(
            poller.looked.dir.is_none(),
            "a path through a symlink is looked up whole"
        );
        // A deploy switches the link to a new release.
        std::fs::remove_file(&link).expect("unlink");
        std::os::unix::fs::symlink(&b, &link).expect("symlink");
        poller.poll();
        expect_refused(&rx, Duration::from_secs(5));
    }

    #[test]
    fn a_thread_polls_a_file_elsewhere() {
        let (_dir, path) = first_version();
        let (tx, rx) = Bell::new().channel::<Reloaded>();
        spawn(&path, tx).expect("thread");
        // The thread takes the first version's stamp when it starts.
        std::thread::sleep(Duration::from_millis(200));
        save(&path, "[music\n");
        // The thread looks every 2 s.
        expect_refused(&rx, POLL * 3);
    }
}
