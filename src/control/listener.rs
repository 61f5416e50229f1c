//! A control socket's server, for any [`Target`]: one call (`run
//! --control`), the hub's calls (`hub --control`), or the calls of an
//! AudioSocket server. It reads one command per line and writes one JSON
//! answer per line, and bounds what a hostile client can do: only the
//! process's own uid or root is served (`SO_PEERCRED`); at most
//! [`MAX_CLIENTS`] connections (more are told so and closed); a line is
//! at most [`MAX_LINE`] bytes (a longer one is answered and the
//! connection closed) and must be complete within [`LINE_WAIT`] of its
//! first byte (a slow drip is cut off); a connection idle for [`IDLE`] is
//! closed; an answer the client does not read within [`WRITE_WAIT`]
//! closes it. Each connection has a thread with a small stack and a
//! fixed buffer: memory does not grow with what a client sends, and the
//! audio thread is never waited on by it (the target's commands are
//! events and copies).

use super::protocol::{Answer, Command, MAX_LINE, Request};
use super::socket::{Bound, own_uid, peer_uid};
use crate::util::ratelimit::{Limiter, WINDOW};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CLIENTS: usize = 8;
/// A connection with no complete line for this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);
/// A line must be complete this long after its first byte.
pub const LINE_WAIT: Duration = Duration::from_secs(10);
/// An answer must be taken by the client within this.
pub const WRITE_WAIT: Duration = Duration::from_secs(2);
/// How often a waiting connection looks at its clocks.
const POLL: Duration = Duration::from_millis(250);

/// What a control socket controls. `run` implements it for its call (see
/// [`super::call`]), the hub for the calls it serves; `serve
/// --audiosocket` can for its own.
pub trait Target: Send + Sync + 'static {
    /// One JSON object per call (`list`): at least `call` (its Uniqueid or
    /// UUID), and what else is known (channel, queue, position; a caller
    /// masked with [`super::protocol::mask_caller`]).
    fn list(&self) -> Vec<Value>;
    /// Does `cmd` for `call` (by Uniqueid, UUID or channel; `None` on a
    /// one-call socket) and says how it went.
    fn command(&self, call: Option<&str>, cmd: Command) -> Answer;
}

/// Whether a line names its call first (`CALL COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OneCall,
    ManyCalls,
}

/// Serves `bound` on a thread of its own (start it with the stop signals
/// blocked); the socket file goes when `bound` is dropped, which the
/// caller keeps.
pub fn serve(bound: &Bound, target: Arc<dyn Target>, mode: Mode) -> std::io::Result<()> {
    let listener = bound.listener.try_clone()?;
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("control".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let _g = span.enter();
            accept(listener, target, mode)
        })?;
    Ok(())
}

fn accept(listener: UnixListener, target: Arc<dyn Target>, mode: Mode) {
    let open = Arc::new(AtomicUsize::new(0));
    static FULL: Limiter = Limiter::new(WINDOW);
    static FAILED: Limiter = Limiter::new(WINDOW);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                if let Some(more) = FAILED.check() {
                    tracing::warn!("control: accept: {e}{more}");
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= MAX_CLIENTS {
            refuse(&stream, "too many control connections; try again");
            if let Some(more) = FULL.check() {
                tracing::warn!(
                    max = MAX_CLIENTS,
                    "control: connections at the cap; closing new ones{more}"
                );
            }
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let seat = Seat(open.clone());
        let target = target.clone();
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new()
            .name("control-client".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _g = span.enter();
                let _seat = seat;
                client(stream, &*target, mode);
            });
        if let Err(e) = spawned {
            tracing::warn!("control: cannot serve a client: {e}");
        }
    }
}

/// A place among the [`MAX_CLIENTS`], given back when its thread ends (or
/// was never started: the closure holding it is dropped).
struct Seat(Arc<AtomicUsize>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One answer and the end, without waiting on the peer.
fn refuse(stream: &UnixStream, why: &str) {
    stream.set_nonblocking(true).ok();
    let line = Answer::error(why).to_line() + "\n";
    // Non-blocking: a client that does not read gets what fits.
    (&*stream).write_all(line.as_bytes()).ok();
}

/// Whether `uid` may control: the process's own, or root.
fn allowed(uid: Option<u32>) -> bool {
    uid.is_some_and(|u| u == own_uid() || u == 0)
}

fn client(stream: UnixStream, target: &dyn Target, mode: Mode) {
    static REFUSED: Limiter = Limiter::new(WINDOW);
    let peer = peer_uid(&stream);
    if !allowed(peer) {
        if let Some(more) = REFUSED.check() {
            tracing::warn!(peer_uid = ?peer, "control: a client of another user refused{more}");
        }
        refuse(&stream, "this user may not control this process");
        return;
    }
    if stream.set_read_timeout(Some(POLL)).is_err() || stream.set_write_timeout(Some(WRITE_WAIT)).is_err() {
        return;
    }
    let mut lines = Lines::new();
    let mut buf = [0u8; 512];
    let mut last = Instant::now();
    loop {
        let n = match (&stream).read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(_) => return,
        };
        let mut said = Vec::new();
        let over = lines.feed(&buf[..n], &mut said);
        for line in said {
            last = Instant::now();
            let answer = match line {
                Ok(text) => answer(target, mode, &text),
                Err(why) => Answer::error(why),
            };
            if (&stream).write_all((answer.to_line() + "\n").as_bytes()).is_err() {
                return;
            }
        }
        if let Some(why) = over {
            (&stream)
                .write_all((Answer::error(why).to_line() + "\n").as_bytes())
                .ok();
            return;
        }
        let timed_out = match lines.started {
            Some(t) => t.elapsed() > LINE_WAIT,
            None => last.elapsed() > IDLE,
        };
        if timed_out {
            let why = if lines.started.is_some() {
                "line not finished in time"
            } else {
                "idle"
            };
            (&stream)
                .write_all((Answer::error(why).to_line() + "\n").as_bytes())
                .ok();
            return;
        }
    }
}

fn answer(target: &dyn Target, mode: Mode, line: &str) -> Answer {
    match Request::parse(line, mode == Mode::ManyCalls) {
        Ok(Request::List) => {
            let mut m = serde_json::Map::new();
            m.insert("calls".into(), json!(target.list()));
            Answer::with(m)
        }
        Ok(Request::For(call, cmd)) => {
            if matches!(cmd, Command::Debug(_) | Command::Stop | Command::Play(_)) {
                tracing::info!(command = %cmd.to_line(), call = call.as_deref().unwrap_or("-"), "control command");
            }
            target.command(call.as_deref(), cmd)
        }
        Err(why) => Answer::error(why),
    }
}

/// Splits what a client sends into lines of at most [`MAX_LINE`] bytes,
/// in a buffer that never grows past that.
struct Lines {
    line: Vec<u8>,
    /// When the line being read got its first byte.
    started: Option<Instant>,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            line: Vec::with_capacity(MAX_LINE),
            started: None,
        }
    }

    /// Adds `bytes`; complete lines (or why one is not text) go to `out`.
    /// `Some(why)` when the client went past the limit: the connection ends.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Result<String, String>>) -> Option<String> {
        for &b in bytes {
            if b == b'\n' {
                let raw = std::mem::take(&mut self.line);
                self.line.reserve(MAX_LINE);
                self.started = None;
                out.push(match String::from_utf8(raw) {
                    Ok(s) => Ok(s.trim_end_matches('\r').to_string()),
                    Err(_) => Err("a command is UTF-8 text".into()),
                });
                continue;
            }
            if self.line.len() >= MAX_LINE {
                return Some(format!("line longer than {MAX_LINE} bytes"));
            }
            self.started.get_or_insert_with(Instant::now);
            self.line.push(b);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_any_byte_and_a_long_one_ends_the_client() {
        let input = b"status\nposition 3\r\n\xff\n";
        for split in 0..input.len() {
            let mut l = Lines::new();
            let mut out = Vec::new();
            assert_eq!(l.feed(&input[..split], &mut out), None);
            assert_eq!(l.feed(&input[split..], &mut out), None);
            assert_eq!(out.len(), 3);
            assert_eq!(out[0], Ok("status".into()));
            assert_eq!(out[1], Ok("position 3".into()));
            assert!(out[2].is_err());
        }
        let mut l = Lines::new();
        let mut out = Vec::new();
        assert!(l.feed(&vec![b'x'; MAX_LINE + 1], &mut out).is_some());
        assert!(l.line.capacity() <= 2 * MAX_LINE);
    }

    #[test]
    fn only_our_uid_and_root_may_control() {
        assert!(allowed(Some(own_uid())));
        assert!(allowed(Some(0)));
        assert!(!allowed(None));
        assert!(!allowed(Some(own_uid().wrapping_add(1)).filter(|&u| u != 0)));
    }
}
