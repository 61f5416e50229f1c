//! Hot reload for `run`: a thread that waits on inotify for the playlist to
//! change on disk, reads the new version and hands it over if it is valid.
//!
//! Hand-written on libc's inotify rather than the `notify` crate: one
//! blocking `read` on one fd in one thread is all this needs, and it costs
//! nothing while nothing changes (no polling wake-ups beside the audio).
//! The directory is watched, not the file, so editors that save by writing
//! a new file and renaming it over the old one are seen too.

use crate::scenario::{Scenario, load_valid};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// A new playlist version, or why it was refused.
pub type Reloaded = Result<Box<Scenario>, String>;

/// Editors write a file in several steps: wait this long after the last
/// change before reading it.
const SETTLE: Duration = Duration::from_millis(150);

/// Starts watching `playlist`; new versions arrive on `tx`.
pub fn spawn(playlist: &Path, tx: mpsc::Sender<Reloaded>) -> std::io::Result<()> {
    let path = std::path::absolute(playlist)?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let fd = Inotify::watch(&dir)?;
    let span = tracing::Span::current();
    std::thread::Builder::new().name("watch".into()).spawn(move || {
        let _g = span.enter();
        let mut last = std::fs::read(&path).ok();
        loop {
            match fd.wait_for(name.as_bytes()) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!("playlist watch stopped: {e}");
                    return;
                }
            }
            std::thread::sleep(SETTLE);
            // Unchanged bytes (a touch, a save without edits): nothing to do.
            let now = std::fs::read(&path).ok();
            if now.is_none() || now == last {
                continue;
            }
            last = now;
            let r = load_valid(&path).map(Box::new);
            if tx.send(r).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

/// Sends the version at `path` (a `reload` typed on the event feed).
pub fn reload_now(path: &Path, tx: &mpsc::Sender<Reloaded>) {
    tx.send(load_valid(path).map(Box::new)).ok();
}

struct Inotify(i32);

impl Inotify {
    fn watch(dir: &Path) -> std::io::Result<Inotify> {
        let c = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: plain syscalls; the fd is owned by the returned value.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE;
            if libc::inotify_add_watch(fd, c.as_ptr(), mask) < 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(Inotify(fd))
        }
    }

    /// Blocks until events arrive; true when one names `name`.
    fn wait_for(&self, name: &[u8]) -> std::io::Result<bool> {
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        // struct inotify_event: wd i32, mask u32, cookie u32, len u32, name[len].
        let buf = &buf[..n as usize];
        let mut at = 0;
        while at + 16 <= buf.len() {
            let len = u32::from_ne_bytes([buf[at + 12], buf[at + 13], buf[at + 14], buf[at + 15]]) as usize;
            let end = (at + 16 + len).min(buf.len());
            let field = &buf[at + 16..end];
            let event_name = field.split(|&b| b == 0).next().unwrap_or_default();
            if event_name == name {
                return Ok(true);
            }
            at = end;
        }
        Ok(false)
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        // SAFETY: closing the fd this value owns.
        unsafe { libc::close(self.0) };
    }
}
