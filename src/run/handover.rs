//! `run --hub`'s side of the hand-over (docs/hub-audio.md): before
//! streaming, hand stdout's pipe to the hub (`hub --audio`), then wait at
//! (almost) zero CPU while the hub streams the call: the exit comes with
//! the hub's `END`, or a stop signal (told to the hub as `STOP n`). If the
//! hub dies (its connection closes without `END`) or hangs (the pipe runs
//! dry), the call is taken over here within 100 ms and streamed from its
//! checkpoint, which the hub kept where this process would have: the
//! stream goes on and the welcome is not played again. A refusal (`NO`),
//! no hub, or no answer within a second: the call streams here as always.

use super::exit::Exit;
use super::signals::StopFlag;
use crate::audio::pipe;
use crate::config::RunConfig;
use crate::hub::handover::{self, Handover, Line, Lines};
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the hub's answer is waited for.
const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// Between two looks at the pipe (the spec's "at least 40 ms apart").
const DRY_CHECK: Duration = Duration::from_millis(40);
/// Looks in a row that find the pipe dry before the call is taken over:
/// three, so a hub late by a tick under load (the pipe holds a frame after
/// each of Asterisk's reads) is not taken for a hung one; a hung hub is
/// seen within about 120 ms.
const DRY_LOOKS: u32 = 3;
/// After `OK`, a pipe whose lead never built up is dry from this long on:
/// a hub just started holds its first calls' start for up to a second
/// (its view of the live calls), longer under load, while it writes
/// silence with a small lead.
const FIRST_WRITE_WAIT: Duration = Duration::from_millis(3000);
/// The hub has written (the dry check is armed) once this many frames
/// were seen queued: the pacer's start-up lead may be a frame or two, which
/// a reader taking two frames at a time empties (seen in the tests: a
/// take-over 120 ms after `OK` from a live hub).
const ARMED_FRAMES: usize = 3;

/// How the hand-over went.
pub enum Outcome {
    /// Not handed over (no hub audio, refused, no answer): stream here.
    Standalone,
    /// The hub streamed the call to its end: exit with this code.
    Ended(u8),
    /// A stop signal came while the hub streamed: the hub ends the call.
    Stopped(Exit),
    /// The hub died or hung: stream here, from the call's checkpoint.
    TakeOver,
}

/// Hands the call over if this run may (`--hub`, no `--standalone`,
/// stdout a pipe), and waits for its end.
pub fn hand_over(cfg: &RunConfig, stop: &StopFlag) -> Outcome {
    let Some(socket) = cfg.hub.as_deref().filter(|_| !cfg.standalone) else {
        return Outcome::Standalone;
    };
    let out = std::io::stdout();
    if !pipe::is_pipe(out.as_raw_fd()) {
        return Outcome::Standalone;
    }
    let Some(conn) = offer(socket) else {
        return Outcome::Standalone;
    };
    tracing::info!(hub = %socket.display(), "the hub streams the call");
    wait(&conn, stop, cfg.format.frame_bytes())
}

/// Connects, sends the hand-over, and takes the answer: the connection
/// when the hub said `OK`.
fn offer(socket: &Path) -> Option<UnixStream> {
    let conn = crate::hub::follow::connect(socket)?;
    conn.set_read_timeout(Some(ANSWER_WAIT)).ok()?;
    conn.set_write_timeout(Some(ANSWER_WAIT)).ok()?;
    let h = match Handover::of_process(run_args(), &|n| std::env::var_os(n)) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("cannot hand the call over: {e}");
            return None;
        }
    };
    if let Err(e) = handover::send(&conn, &h, std::io::stdout().as_fd()) {
        tracing::debug!("hand-over not sent: {e}");
        return None;
    }
    let started = Instant::now();
    let mut lines = Lines::default();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.is_empty() {
        let left = ANSWER_WAIT.saturating_sub(started.elapsed());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            tracing::warn!("the hub did not answer the hand-over: streaming here");
            return None;
        }
        match (&conn).read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => lines.feed(&buf[..n], &mut got),
        }
    }
    match got.remove(0) {
        Some(Line::Ok) => Some(conn),
        Some(Line::No(why)) => {
            tracing::info!("the hub streams no audio for this call ({why}): streaming here");
            None
        }
        _ => None,
    }
}

/// The words after `run` on this process's command line, as given.
fn run_args() -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .skip_while(|a| a != "run")
        .skip(1)
        .collect()
}

/// After `OK`: sleeps in poll(2) on the connection, looking at the pipe
/// every [`DRY_CHECK`], until the call's end or the hub's.
fn wait(conn: &UnixStream, stop: &StopFlag, frame_bytes: usize) -> Outcome {
    let out = std::io::stdout().as_raw_fd();
    let since = Instant::now();
    let mut written = false;
    let mut dry = 0;
    let mut looked = Instant::now();
    let mut lines = Lines::default();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    conn.set_nonblocking(true).ok();
    loop {
        if let Some(exit) = stop.get() {
            if let Exit::Signal(sig) = exit {
                handover::say(conn, &Line::Stop(sig)).ok();
            }
            return Outcome::Stopped(exit);
        }
        let mut fds = [rustix::event::PollFd::new(conn, rustix::event::PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: DRY_CHECK.as_nanos() as i64,
        };
        // A signal cuts the wait short (EINTR), and is seen above.
        let woke = rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(0);
        if woke > 0 {
            let gone = loop {
                match (&*conn).read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => lines.feed(&buf[..n], &mut got),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break true,
                }
            };
            // `END` and the close come together: the words first.
            for l in got.drain(..) {
                if let Some(Line::End(code)) = l {
                    tracing::info!(code, "the hub ended the call");
                    return Outcome::Ended(code);
                }
            }
            if gone {
                return taken_over(conn, "the hub is gone");
            }
            continue;
        }
        // Timed out (or a signal came): the pipe's look, 40 ms apart.
        if looked.elapsed() < DRY_CHECK {
            continue;
        }
        looked = Instant::now();
        let queued = pipe::queued_bytes(out).unwrap_or(0);
        if queued >= frame_bytes {
            written |= queued >= ARMED_FRAMES * frame_bytes;
            dry = 0;
        } else if written || since.elapsed() >= FIRST_WRITE_WAIT {
            dry += 1;
            if dry >= DRY_LOOKS {
                return taken_over(conn, "the pipe ran dry");
            }
        }
    }
}

/// Tells the hub (best effort) and closes: the call is streamed here now.
fn taken_over(conn: &UnixStream, why: &str) -> Outcome {
    tracing::warn!("{why}: taking the call over");
    conn.set_nonblocking(true).ok();
    handover::say(conn, &Line::Taken).ok();
    Outcome::TakeOver
}
