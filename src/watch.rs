//! Hot reload for `run`: a thread that looks at the playlist file every two
//! seconds, reads a new version when it changed and hands it over if it is
//! valid. It wakes on whole multiples of two seconds, in the same instant
//! as the other calls' watchers: one shared wake-up instead of one each.
//!
//! Polling, not inotify: closing an inotify instance waits for an SRCU grace
//! period, which made every call's exit take 5-30 ms instead of 1 ms
//! (measured), and Asterisk kills these processes by the thousand. A stat
//! every two seconds costs a few microseconds, off the audio thread (a
//! playlist on a hung NFS mount must not stall the sound).

use crate::scenario::{Scenario, load_valid};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// A new playlist version, or why it was refused.
pub type Reloaded = Result<Box<Scenario>, String>;

/// How often the playlist file is looked at.
const POLL: Duration = Duration::from_secs(2);

/// What identifies a version of the file on disk: a save by rename changes
/// the inode, an edit in place the mtime or size.
fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

/// Starts watching `playlist`; new versions arrive on `tx`.
pub fn spawn(playlist: &Path, tx: crate::bell::Sender<Reloaded>) -> std::io::Result<()> {
    let path = playlist.to_path_buf();
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("watch".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _g = span.enter();
            let mut seen = stamp(&path);
            let mut bytes = std::fs::read(&path).ok();
            loop {
                crate::audio::clock::sleep_to_next_multiple(POLL);
                let now = stamp(&path);
                if now.is_none() || now == seen {
                    continue;
                }
                seen = now;
                // Unchanged bytes (a touch, a save without edits): nothing to do.
                let new = std::fs::read(&path).ok();
                if new.is_none() || new == bytes {
                    continue;
                }
                bytes = new;
                if tx.send(load_valid(&path).map(Box::new)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Sends the version at `path` (a `reload` typed on the event feed).
pub fn reload_now(path: &Path, tx: &crate::bell::Sender<Reloaded>) {
    tx.send(load_valid(path).map(Box::new)).ok();
}
