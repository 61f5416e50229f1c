//! stdout as Asterisk reads it: a pipe made non-blocking and small, written
//! in whole frames with atomic writes, measured with `FIONREAD`, and watched
//! for the reader going away (EPIPE, or POLLERR while the pipe is full) or
//! never reading at all (the orphan guard).

use super::exit::Exit;
use crate::audio::format::FRAME_MS;
use crate::audio::pipe;
use crate::util::ratelimit::{Limiter, WINDOW};
use anyhow::{Context, Result};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Largest single write: pipes keep writes up to 4096 bytes atomic.
const MAX_WRITE: usize = 4096;
/// The pipe buffer holdmix asks for: room for the largest lead plus a write,
/// in whole pages, instead of the default 64 KiB (4 s of slin).
const PIPE_SIZE: usize = 16 * 1024;

pub struct Output {
    fd: i32,
    /// A hosted call's pipe (handed over): closed when the output goes.
    /// `None` for stdout, which the process keeps.
    _owned: Option<std::os::fd::OwnedFd>,
    is_pipe: bool,
    frame_bytes: usize,
}

impl Output {
    /// stdout, set up for real-time writing when it is a pipe.
    pub fn stdout(frame_bytes: usize) -> Result<Output> {
        Output::on(std::io::stdout().as_raw_fd(), None, frame_bytes)
    }

    /// A pipe handed over by a call's process (the hub hosting the call),
    /// set up as stdout would be; closed when the output is dropped.
    pub fn from_fd(fd: std::os::fd::OwnedFd, frame_bytes: usize) -> Result<Output> {
        Output::on(fd.as_raw_fd(), Some(fd), frame_bytes)
    }

    fn on(fd: i32, owned: Option<std::os::fd::OwnedFd>, frame_bytes: usize) -> Result<Output> {
        let is_pipe = pipe::is_pipe(fd);
        if is_pipe {
            // Non-blocking: a stalled reader never blocks the audio thread, and a
            // write of at most 4096 bytes is then all or nothing.
            pipe::set_nonblocking(fd).context("stdout non-blocking")?;
            if let Err(e) = pipe::set_pipe_size(fd, PIPE_SIZE) {
                tracing::debug!("cannot shrink the pipe: {e}");
            }
        }
        Ok(Output {
            fd,
            _owned: owned,
            is_pipe,
            frame_bytes,
        })
    }

    pub fn is_pipe(&self) -> bool {
        self.is_pipe
    }

    /// Bytes waiting in the pipe (0 when stdout is not a pipe).
    pub fn queued(&self) -> usize {
        if self.is_pipe {
            pipe::queued_bytes(self.fd).unwrap_or(0)
        } else {
            0
        }
    }

    /// Frames waiting in the pipe: written and not heard yet.
    pub fn queued_frames(&self) -> usize {
        self.queued() / self.frame_bytes
    }

    /// Writes whole frames in writes of at most 4096 bytes. Returns the frames
    /// written; a full pipe (EAGAIN) drops the rest rather than blocking.
    pub fn write(&self, bytes: &[u8]) -> Result<usize, Exit> {
        match write_frames(self.fd, bytes, self.frame_bytes) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Exit::ReaderGone),
            Err(e) => {
                tracing::error!("write failed: {e}");
                Err(Exit::WriteError)
            }
        }
    }

    /// The reader is gone though no write said so: nothing was written (the
    /// pipe is full), so no EPIPE could tell.
    pub fn reader_gone(&self, written: usize) -> bool {
        self.is_pipe && written == 0 && pipe::reader_gone(self.fd)
    }
}

fn write_frames(fd: i32, bytes: &[u8], frame_bytes: usize) -> std::io::Result<usize> {
    let chunk = (MAX_WRITE / frame_bytes) * frame_bytes;
    let mut done = 0;
    while done < bytes.len() {
        let end = (done + chunk).min(bytes.len());
        match pipe::write_once(fd, &bytes[done..end]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // A tick's worth at a time: once, then a count a minute.
                static FULL: Limiter = Limiter::new(WINDOW);
                if let Some(more) = FULL.check() {
                    tracing::warn!(bytes = bytes.len() - done, "pipe full: dropping audio{more}");
                }
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done / frame_bytes)
}

/// Asterisk can lose a generator (a start and a stop in the same few ms):
/// it never signals it nor reads it again. Nothing read for this long
/// means nobody will.
pub struct OrphanGuard {
    after: Duration,
    limit_frames: u64,
    last_drained: u64,
}

impl OrphanGuard {
    /// `None` when off (`--orphan-after 0`) or stdout is not a pipe.
    pub fn new(after: Option<Duration>, out: &Output) -> Option<OrphanGuard> {
        let after = after.filter(|_| out.is_pipe())?;
        Some(OrphanGuard {
            after,
            limit_frames: (after.as_millis() / u128::from(FRAME_MS)).max(1) as u64,
            last_drained: 0,
        })
    }

    /// After a tick's write, at stream frame `wall`: whether the generator
    /// has been orphaned.
    pub fn orphaned(&mut self, wall: u64, written: usize, channel: Option<&str>) -> bool {
        if written > 0 {
            self.last_drained = wall;
            return false;
        }
        if wall.saturating_sub(self.last_drained) < self.limit_frames {
            return false;
        }
        tracing::warn!(
            channel = channel.unwrap_or("-"),
            "nobody has read the stream for {:?}: an orphaned generator, exiting",
            self.after
        );
        true
    }
}
