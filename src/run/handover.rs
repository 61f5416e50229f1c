//! `run --hub`'s side of the hand-over (docs/hub-audio.md): before
//! streaming, hand stdout's pipe to the hub (`hub --audio`), then wait
//! (at zero CPU for a watched hub) while the hub streams the call: the
//! exit comes with the hub's `END`, or a stop signal (told to the hub as
//! `STOP n`). If the hub dies (its connection closes without `END`: also
//! how a hub that stopped pacing ends, killed by its watchdog) or,
//! unwatched, hangs (the pipe runs dry), the call is taken over here and
//! streamed from its checkpoint, which the hub kept where this process
//! would have: the stream goes on and the welcome is not played again. A
//! refusal (`NO`), no hub, or no answer within a second: the call streams
//! here as always. A standby hub (`-S`) is offered the call first in each
//! of these cases, and resumes it from the same checkpoint.

use super::exit::Exit;
use super::signals::{STOP_SIGNALS, StopFlag};
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
/// Between the looks that confirm a dry look: not a multiple of Asterisk's
/// 20 ms frame, so they fall at different phases of its 40 ms read cycle.
/// Looks 40 ms (or a second) apart all land at the same phase: right after
/// a read of a live hub's thin start-up lead, they found the pipe dry three
/// times in a row, and live calls were taken over (a loaded suite, 3 s
/// after `OK`).
const CONFIRM: Duration = Duration::from_millis(25);
/// Looks in a row that find the pipe dry before the call is taken over:
/// five (the first and four [`CONFIRM`]s, 100 ms, at five phases of the read
/// cycle), so a hub late by a tick under load is not taken for a hung one;
/// a hung hub is seen within about 140 ms.
const DRY_LOOKS: u32 = 5;
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
    /// `hung`: the first hub (`--hub`, whose events the stream follows)
    /// stopped writing with its socket open, so its greeting would not
    /// come either. `checkpoints`: the name a hub said the call's
    /// checkpoints go by (`CHECKPOINTS`), if one did.
    TakeOver { hung: bool, checkpoints: Option<String> },
}

/// Hands the call over if this run may (`--hub`, no `--standalone`,
/// stdout a pipe), and waits for its end. The standby hub (`-S`) gets the
/// call when the first hub does not take it or stops streaming it; only
/// when neither streams it does it stream here.
pub fn hand_over(cfg: &RunConfig, stop: &StopFlag) -> Outcome {
    if cfg.standalone || !pipe::is_pipe(std::io::stdout().as_raw_fd()) {
        return Outcome::Standalone;
    }
    let mut outcome = Outcome::Standalone;
    let mut first_hung = false;
    // What the hubs said the call's checkpoints go by: passed on to the
    // standby, which may not know the call's key.
    let mut named = cfg.hub_checkpoints.clone();
    for (i, socket) in [cfg.hub.as_deref(), cfg.standby_hub.as_deref()]
        .into_iter()
        .enumerate()
    {
        let Some(socket) = socket else {
            continue;
        };
        let told = named.as_deref().filter(|_| cfg.hub_checkpoints.is_none());
        let Some((conn, after)) = offer(socket, told) else {
            continue;
        };
        tracing::info!(hub = %socket.display(), "the hub streams the call");
        match wait(&conn, after, stop, cfg.format.frame_bytes(), &mut named) {
            // On to the standby: it resumes the call from the checkpoint
            // the hub kept, as this process would.
            Outcome::TakeOver { hung, .. } => {
                first_hung |= hung && i == 0;
                outcome = Outcome::TakeOver {
                    hung: first_hung,
                    checkpoints: named.clone(),
                }
            }
            done => return done,
        }
    }
    outcome
}

/// Connects, sends the hand-over, and takes the answer: the connection
/// when the hub said `OK`, and the lines that came with it. `checkpoints`:
/// the name an earlier hub kept the call's checkpoints under, added to the
/// args (`--hub-checkpoints`).
fn offer(socket: &Path, checkpoints: Option<&str>) -> Option<(UnixStream, Vec<Option<Line>>)> {
    let conn = crate::hub::follow::connect(socket)?;
    conn.set_read_timeout(Some(ANSWER_WAIT)).ok()?;
    conn.set_write_timeout(Some(ANSWER_WAIT)).ok()?;
    // First: after a `--` it would be no flag.
    let mut args: Vec<OsString> = match checkpoints {
        Some(name) => vec!["--hub-checkpoints".into(), name.into()],
        None => Vec::new(),
    };
    args.extend(run_args());
    let h = match Handover::of_process(args, &|n| std::env::var_os(n)) {
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
        Some(Line::Ok) => Some((conn, got)),
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

/// After `OK`: sleeps in ppoll(2) on the connection, looking at the pipe
/// every [`DRY_CHECK`] (never while the hub says `WATCHED`, until it says
/// `UNWATCHED`: its watchdog kills a hub that stops pacing, which closes
/// the connection, and the wait has no timeout), until the call's end or
/// the hub's.
/// `after`: the lines that came with `OK`; `named` gets the name the hub
/// says the call's checkpoints go by.
fn wait(
    conn: &UnixStream,
    after: Vec<Option<Line>>,
    stop: &StopFlag,
    frame_bytes: usize,
    named: &mut Option<String>,
) -> Outcome {
    let out = std::io::stdout().as_raw_fd();
    let mut check = DryCheck::new(Instant::now());
    let mut looked = Instant::now();
    let mut lines = Lines::default();
    let mut got = after;
    let mut buf = [0u8; 256];
    conn.set_nonblocking(true).ok();
    let signals = Masked::block();
    loop {
        // `END` and the close come together: the words first.
        for l in got.drain(..) {
            match l {
                Some(Line::End(code)) => {
                    tracing::info!(code, "the hub ended the call");
                    return Outcome::Ended(code);
                }
                Some(Line::Watched) if !check.watched => {
                    tracing::debug!("the hub is watched: the pipe is not looked at");
                    check.watched = true;
                }
                Some(Line::Unwatched) if check.watched => {
                    tracing::info!("the hub's watchdog is gone: looking at the pipe again");
                    check.unwatched();
                    looked = Instant::now();
                }
                Some(Line::Checkpoints(name)) => *named = Some(name),
                _ => {}
            }
        }
        if let Some(exit) = stop.get() {
            if let Exit::Signal(sig) = exit {
                handover::say(conn, &Line::Stop(sig)).ok();
            }
            return Outcome::Stopped(exit);
        }
        let left = check.period().map(|p| p.saturating_sub(looked.elapsed()));
        if left != Some(Duration::ZERO) {
            if signals.poll(conn, left) {
                let gone = loop {
                    match (&*conn).read(&mut buf) {
                        Ok(0) => break true,
                        Ok(n) => lines.feed(&buf[..n], &mut got),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break true,
                    }
                };
                if gone && !got.iter().any(|l| matches!(l, Some(Line::End(_)))) {
                    return taken_over(conn, "the hub is gone", false);
                }
                // The words first (at the loop's top).
                continue;
            }
            // A signal, or woken early: seen at the top.
            if check.period().is_none_or(|p| looked.elapsed() < p) {
                continue;
            }
        }
        looked = Instant::now();
        let queued = pipe::queued_bytes(out).unwrap_or(0);
        if check.look(queued, frame_bytes, looked) {
            return taken_over(conn, "the pipe ran dry", true);
        }
    }
}

/// The pipe-dry check: whether a look finds the hub hung.
struct DryCheck {
    since: Instant,
    /// The hub's lead has been seen: a dry pipe from now on means a hang.
    written: bool,
    /// Looks in a row that found the pipe dry.
    dry: u32,
    /// The hub said `WATCHED`.
    watched: bool,
}

impl DryCheck {
    fn new(since: Instant) -> DryCheck {
        DryCheck {
            since,
            written: false,
            dry: 0,
            watched: false,
        }
    }

    /// The hub said `UNWATCHED`: looks again, from a clean count (the
    /// pipe's lead was long since seen, or the first write is late).
    fn unwatched(&mut self) {
        self.watched = false;
        self.dry = 0;
    }

    /// From the last look to the next (`None`: no look, the hub is
    /// watched).
    fn period(&self) -> Option<Duration> {
        if self.watched {
            None
        } else if self.dry > 0 {
            Some(CONFIRM)
        } else {
            Some(DRY_CHECK)
        }
    }

    /// One look at `now`, finding `queued` bytes in the pipe: true when the
    /// call should be taken over.
    fn look(&mut self, queued: usize, frame_bytes: usize, now: Instant) -> bool {
        if queued >= frame_bytes {
            self.written |= queued >= ARMED_FRAMES * frame_bytes;
            self.dry = 0;
        } else if self.written || now.duration_since(self.since) >= FIRST_WRITE_WAIT {
            self.dry += 1;
        }
        self.dry >= DRY_LOOKS
    }
}

/// The stop signals, blocked during the wait and let in only inside
/// ppoll(2): one landing between the flag's check and the sleep would
/// otherwise be seen only at the sleep's end (never, for a watched hub).
/// The mask before is back on drop.
struct Masked {
    before: libc::sigset_t,
    /// `before` without the stop signals: ppoll's mask.
    open: libc::sigset_t,
}

impl Masked {
    fn block() -> Masked {
        // SAFETY: sigset_t is plain data that the calls fill and read.
        unsafe {
            let mut stops: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut stops);
            for s in STOP_SIGNALS {
                libc::sigaddset(&mut stops, s);
            }
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &stops, &mut before);
            let mut open = before;
            for s in STOP_SIGNALS {
                libc::sigdelset(&mut open, s);
            }
            Masked { before, open }
        }
    }

    /// Sleeps until `conn` is readable (or hung up), a stop signal, or
    /// `timeout` (`None`: no timeout); true when `conn` is ready.
    fn poll(&self, conn: &UnixStream, timeout: Option<Duration>) -> bool {
        let mut p = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as _,
        });
        let ts = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: one valid pollfd, a valid timespec (or none: no timeout)
        // and signal mask.
        let r = unsafe { libc::ppoll(&mut p, 1, ts, &self.open) };
        r > 0 && p.revents != 0
    }
}

impl Drop for Masked {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in `block`; a stop signal pending
        // meanwhile is taken now (its handler sets the flag the stream
        // sees).
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.before, std::ptr::null_mut()) };
    }
}

/// Tells the hub (best effort) and closes: the call is streamed here now.
fn taken_over(conn: &UnixStream, why: &str, hung: bool) -> Outcome {
    tracing::warn!("{why}: taking the call over");
    conn.set_nonblocking(true).ok();
    handover::say(conn, &Line::Taken).ok();
    Outcome::TakeOver {
        hung,
        checkpoints: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 320;

    #[test]
    fn an_unwatched_hub_gets_the_40_ms_dry_check() {
        let t = Instant::now();
        let mut c = DryCheck::new(t);
        assert_eq!(c.period(), Some(DRY_CHECK));
        // Not armed: a start-up lead emptied by the reader is no hang.
        assert!(!c.look(0, FRAME, t + Duration::from_millis(40)));
        assert!(!c.look(0, FRAME, t + Duration::from_millis(80)));
        assert!(!c.look(0, FRAME, t + Duration::from_millis(120)));
        assert_eq!(c.dry, 0);
        // Armed by three frames queued; then five dry looks take over,
        // confirmed 25 ms apart (phases 0, 25, 10, 35 and 20 ms of a 40 ms
        // read cycle: a live hub's lead is seen at one of them).
        assert!(!c.look(3 * FRAME, FRAME, t + Duration::from_millis(160)));
        assert_eq!(c.period(), Some(DRY_CHECK));
        assert!(!c.look(0, FRAME, t + Duration::from_millis(200)));
        assert_eq!(c.period(), Some(CONFIRM));
        let phases: std::collections::BTreeSet<u128> =
            (0..DRY_LOOKS).map(|i| (CONFIRM * i).as_millis() % 40).collect();
        assert_eq!(phases.len(), DRY_LOOKS as usize, "{phases:?}");
        assert!(!c.look(FRAME - 1, FRAME, t + Duration::from_millis(225)));
        assert!(!c.look(0, FRAME, t + Duration::from_millis(250)));
        // A live hub's lead at one of them: not dry.
        assert!(!c.look(FRAME, FRAME, t + Duration::from_millis(275)));
        assert_eq!(c.dry, 0);
        for i in 0..DRY_LOOKS {
            let at = t + Duration::from_millis(300) + CONFIRM * i;
            assert_eq!(c.look(0, FRAME, at), i + 1 == DRY_LOOKS);
        }
    }

    #[test]
    fn a_watched_hub_is_not_looked_at() {
        let t = Instant::now();
        let mut c = DryCheck::new(t);
        c.watched = true;
        // No look, so no timeout: its watchdog closes the connection of a
        // hub that stops pacing.
        assert_eq!(c.period(), None);
        // Watched after a dry look of the 40 ms check: still no look.
        let mut c = DryCheck::new(t);
        assert!(!c.look(3 * FRAME, FRAME, t + DRY_CHECK));
        assert!(!c.look(0, FRAME, t + 2 * DRY_CHECK));
        assert_eq!(c.period(), Some(CONFIRM));
        c.watched = true;
        assert_eq!(c.period(), None);
    }

    /// `UNWATCHED` (the hub's watchdog gone for good): the 40 ms looks
    /// again, and a pipe that stays dry is taken over as for a hub never
    /// watched, its lead having long been seen or not.
    #[test]
    fn an_unwatched_hub_is_looked_at_again() {
        let t = Instant::now();
        let mut c = DryCheck::new(t);
        c.watched = true;
        c.unwatched();
        assert_eq!(c.period(), Some(DRY_CHECK));
        let later = t + FIRST_WRITE_WAIT;
        for i in 0..DRY_LOOKS {
            let at = later + CONFIRM * i;
            assert_eq!(c.look(0, FRAME, at), i + 1 == DRY_LOOKS);
        }
        // Unwatched between two confirming looks: counted afresh.
        let mut c = DryCheck::new(t);
        assert!(!c.look(0, FRAME, later));
        c.watched = true;
        c.unwatched();
        assert_eq!((c.dry, c.period()), (0, Some(DRY_CHECK)));
    }

    #[test]
    fn the_words_after_ok_say_whether_the_hub_is_watched() {
        // What an old hub says, and what a watched one says, in one write.
        for (said, watched) in [(&b"OK\n"[..], false), (b"OK\nWATCHED\n", true)] {
            let mut got = Vec::new();
            Lines::default().feed(said, &mut got);
            assert_eq!(got.remove(0), Some(Line::Ok));
            assert_eq!(got.contains(&Some(Line::Watched)), watched);
        }
        // The hub's side writes exactly that.
        for watched in [false, true] {
            let (hub, client) = UnixStream::pair().unwrap();
            handover::say_ok(&hub, watched).unwrap();
            drop(hub);
            let mut text = String::new();
            (&client).read_to_string(&mut text).unwrap();
            assert_eq!(text, if watched { "OK\nWATCHED\n" } else { "OK\n" });
        }
    }
}
