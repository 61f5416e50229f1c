//! Where a call's checkpoint files lie: `DIR/<call>/<pid>`, a directory
//! per call, so that a process looks at its own call's one or two files
//! instead of listing every call's (a hub's thousand took 0.3 ms a
//! listing, at each call's start and at each hangup: `benches/state.rs`).
//!
//! Before, every file lay in `DIR` itself as `<call>.<pid>` ("flat"). A
//! package upgraded under live calls leaves such files, and their calls
//! must still resume from them: while any are there they are looked for
//! too. Once a listing of `DIR` finds none, the marker [`BY_CALL_ONLY`]
//! says so and nothing lists `DIR` for a call again; a later listing that
//! finds one (written by a process of the old version still running)
//! removes the marker.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

/// A call's checkpoint files and the pids they are named by.
pub(super) type Files = Vec<(PathBuf, u32)>;

/// The marker: no flat file is left in the directory.
pub(super) const BY_CALL_ONLY: &str = ".by-call-only";

/// Tries at creating a call's file while another process removes the
/// call's directory, which it does only once that is empty.
const CREATE_TRIES: usize = 4;

/// The name a call's files go by when its Uniqueid is safe as a file name:
/// Asterisk's are `[system-]seconds.sequence`. Anything else (a slash, a
/// dot start, 65+ characters) is refused rather than escaped: it is not
/// Asterisk's.
pub(super) fn call_name(uniqueid: &str) -> Option<&str> {
    let ok = !uniqueid.is_empty()
        && uniqueid.len() <= 64
        && !uniqueid.starts_with('.')
        && uniqueid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    ok.then_some(uniqueid)
}

/// Whether flat files are still looked for, as far as this process knows
/// (0: not known yet).
#[derive(Debug, Default)]
pub(super) struct Flat(AtomicU8);

const NONE_LEFT: u8 = 1;
const SOME_LEFT: u8 = 2;

impl Flat {
    /// Whether a call's flat files must be looked for in `dir`: the marker's
    /// word (one `lstat`), else one listing of `dir` that decides, once per
    /// process (and again after each walk, [`Flat::walked`]).
    pub(super) fn looked_for(&self, dir: &Path) -> bool {
        match self.0.load(Ordering::Relaxed) {
            NONE_LEFT => false,
            SOME_LEFT => true,
            _ if std::fs::symlink_metadata(dir.join(BY_CALL_ONLY)).is_ok() => {
                self.0.store(NONE_LEFT, Ordering::Relaxed);
                false
            }
            _ => {
                // Once per process until the marker is there.
                let any = std::fs::read_dir(dir)
                    .is_ok_and(|entries| entries.flatten().any(|e| flat_file(&e).is_some()));
                self.walked(dir, any);
                any
            }
        }
    }

    /// A listing of all of `dir` found flat files, or none: the marker
    /// follows.
    pub(super) fn walked(&self, dir: &Path, any: bool) {
        let marker = dir.join(BY_CALL_ONLY);
        if any {
            std::fs::remove_file(marker).ok();
            self.0.store(SOME_LEFT, Ordering::Relaxed);
        } else {
            // Never through a link: create_new does not follow one.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(marker)
                .ok();
            self.0.store(NONE_LEFT, Ordering::Relaxed);
        }
    }
}

/// The directory of a call's files.
pub(super) fn call_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A call's files: those in its directory, and its flat ones if `flat`.
pub(super) fn files_of(dir: &Path, name: &str, flat: bool) -> Files {
    let mut files: Files = std::fs::read_dir(call_dir(dir, name))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| Some((e.path(), e.file_name().to_str()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    if flat && let Ok(entries) = std::fs::read_dir(dir) {
        let prefix = format!("{name}.");
        files.extend(entries.flatten().filter_map(|e| {
            let pid = e.file_name().to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            Some((e.path(), pid))
        }));
    }
    files
}

/// Creates this process's file of the call, new (never through a link): a
/// leftover of an earlier process with the same pid is removed first.
pub(super) fn create(dir: &Path, name: &str, pid: u32) -> Result<(File, PathBuf), String> {
    let call = call_dir(dir, name);
    let path = call.join(pid.to_string());
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&path)
    };
    let mut last = None;
    for _ in 0..CREATE_TRIES {
        match DirBuilder::new().mode(0o700).create(&call) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("{}: {e}", call.display())),
        }
        let file = match open() {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                std::fs::remove_file(&path).ok();
                open()
            }
            other => other,
        };
        match file {
            Ok(f) => return Ok((f, path)),
            // The call's directory went between the two (emptied and
            // removed by another process): made again.
            Err(e) if e.kind() == ErrorKind::NotFound => last = Some(e),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{}: {}",
        path.display(),
        last.map_or_else(|| "not created".to_string(), |e| e.to_string())
    ))
}

/// Removes the call's directory if it is empty (a process creating its
/// file meanwhile makes it again: [`create`]).
pub(super) fn remove_if_empty(dir: &Path, name: &str) {
    std::fs::remove_dir(call_dir(dir, name)).ok();
}

/// One checkpoint file found by [`walk`].
pub(super) struct Found {
    pub path: PathBuf,
    pub pid: u32,
    pub modified: Option<SystemTime>,
}

/// Every checkpoint file of `dir`, at most `limit` entries looked at (a
/// directory that something floods stops the listing there: the next
/// walk goes on), each call's emptied directory removed on the way, and
/// whether any flat file was among them (which the marker then follows,
/// unless the listing was cut short).
pub(super) fn walk(dir: &Path, limit: usize, flat: &Flat) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut any_flat = false;
    let mut seen = 0;
    let found_at = |path: PathBuf, pid: u32, e: &std::fs::DirEntry| Found {
        modified: e.metadata().ok().and_then(|m| m.modified().ok()),
        path,
        pid,
    };
    for e in entries.flatten() {
        seen += 1;
        if seen > limit {
            return found;
        }
        if let Some(pid) = flat_file(&e) {
            any_flat = true;
            found.push(found_at(e.path(), pid, &e));
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        let Some(call) = name.to_str().filter(|n| kind.is_dir() && call_name(n).is_some()) else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(e.path()) else {
            continue;
        };
        let before = found.len();
        for f in files.flatten() {
            seen += 1;
            if seen > limit {
                return found;
            }
            let Some(pid) = f.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            found.push(found_at(f.path(), pid, &f));
        }
        if found.len() == before {
            remove_if_empty(dir, call);
        }
    }
    flat.walked(dir, any_flat);
    found
}

/// The pid a flat file (`<call>.<pid>`, a regular file) is named by.
fn flat_file(e: &std::fs::DirEntry) -> Option<u32> {
    if !e.file_type().is_ok_and(|t| t.is_file()) {
        return None;
    }
    let name = e.file_name();
    let name = name.to_str().filter(|n| !n.starts_with('.'))?;
    let (call, pid) = name.rsplit_once('.')?;
    call_name(call)?;
    pid.parse().ok()
}
