//! The lock that makes one process decode a given source while the others
//! wait for its entry: an advisory `flock` on a file beside the entry
//! (`<entry>.lock`). The kernel drops it when its holder exits, however it
//! exits, so a decoder killed half-way never wedges the others: the next
//! one takes the lock and decodes.
//!
//! The holder removes the lock file before it lets go, so a warm cache holds
//! entries only. Whoever takes a lock checks that the file it locked is
//! still the one at the path (it may have been removed between its `open`
//! and its `flock`) and starts again if not: the usual way to make
//! remove-on-release lock files safe.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; dropping it removes the lock file and releases the lock.
pub struct EntryLock {
    path: PathBuf,
    _file: File,
}

impl Drop for EntryLock {
    fn drop(&mut self) {
        // Removed while still held: nobody can lock this file afterwards
        // without noticing it is gone.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file for `entry`.
pub fn path_for(entry: &Path) -> PathBuf {
    let mut p = entry.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the lock at `path` if nobody holds it; `Ok(None)` if someone does.
pub fn try_lock(path: &Path) -> io::Result<Option<EntryLock>> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            // A lock file another user made: a read-only descriptor locks it too.
            .or_else(|_| File::open(path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let held = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                return Ok(Some(EntryLock {
                    path: path.to_path_buf(),
                    _file: file,
                }));
            }
            // Removed (or replaced) by its previous holder: lock the new one.
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits (polling) until the lock at `path` is free and takes it, or gives
/// up after `patience`: `Ok(None)` then.
pub fn lock_within(path: &Path, patience: Duration) -> io::Result<Option<EntryLock>> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(l) = try_lock(path)? {
            return Ok(Some(l));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_no_file_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("x.f32"));
        let a = try_lock(&path).unwrap().expect("free lock");
        assert!(try_lock(&path).unwrap().is_none(), "two holders");
        assert!(lock_within(&path, Duration::from_millis(50)).unwrap().is_none());
        drop(a);
        assert!(!path.exists(), "lock file left behind");
        let b = lock_within(&path, Duration::from_secs(5)).unwrap();
        assert!(b.is_some());
    }
}
