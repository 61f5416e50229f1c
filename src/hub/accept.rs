//! The hub's side of the socket: accept generators, read each one's
//! `SUBSCRIBE` line, authorise it (its call's token, and a peer uid the
//! hub serves, from `SO_PEERCRED`), greet it with what the call table says
//! of its call once the table is rebuilt, add it to the subscribers, and
//! pass its `REDIRECT` lines on to the AMI session, for its own call's
//! channel only (never one named by the generator), and count its
//! `COUNT`/`OBSERVE` report lines in the metrics (`metrics::report`: fixed
//! words, anything else ignored). A client that is not authorised gets a
//! refusal and nothing else.
//!
//! One thread per connection, with a small stack, waiting in poll(2); at
//! most `max_clients` of them: a connection beyond that is closed at once.

use super::calls::SharedCalls;
use super::handover;
use super::protocol::{Redirect, Subscribe, refusal};
use super::relay::Relays;
use super::session::RedirectAsk;
use super::subscribers::{Sink, Subscriber, Subscribers};
use super::token::Key;
use crate::ami::wake::Sender;
use crate::util::ratelimit::{Limiter, WINDOW};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a generator may take to send its `SUBSCRIBE` line.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);
/// Who may subscribe, and how many at once.
pub(super) struct Gate {
    pub key: Arc<Key>,
    /// Peer uids served: the hub's own and any configured.
    pub uids: Vec<u32>,
    pub max_clients: usize,
    /// When the hub started (greetings wait for its rebuilt view).
    pub started: Instant,
    /// `--audio`: where hand-overs go (`None`: refused, `NO audio off`).
    pub audio: Option<Arc<super::audio::Audio>>,
    /// What a hosted call follows its events through (in-process).
    pub hosting: Option<Arc<super::local::Shared>>,
    /// Log lines about refused clients, at most one per cause a while.
    over_cap: Quiet,
    unauthorised: Quiet,
}

impl Gate {
    pub fn new(key: Arc<Key>, uids: Vec<u32>, max_clients: usize) -> Gate {
        Gate {
            key,
            uids,
            max_clients,
            started: Instant::now(),
            audio: None,
            hosting: None,
            over_cap: Quiet::default(),
            unauthorised: Quiet::default(),
        }
    }
}

pub(super) fn accept(
    listener: UnixListener,
    subs: Subscribers,
    calls: SharedCalls,
    redirects: Sender<RedirectAsk>,
    gate: Gate,
    relays: Arc<Relays>,
) {
    let gate = Arc::new(gate);
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin,
                // and say so once a minute, not ten times a second.
                static FAILED: Limiter = Limiter::new(WINDOW);
                if let Some(more) = FAILED.check() {
                    tracing::warn!("accept: {e}{more}");
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= gate.max_clients {
            // Closed at once (dropped): no thread, no descriptor kept.
            drop(stream);
            if let Some(more) = gate.over_cap.tick() {
                tracing::warn!(
                    max_clients = gate.max_clients,
                    refused_since = more,
                    "hub: connections at the cap; closing new ones"
                );
            }
            continue;
        }
        // A hand-over already whole in the socket (a client sends it as
        // it connects) is taken on this thread, which never waits on it:
        // no thread is made and ended for it, most of a hand-over's cost
        // in a herd (a hub's death sends all its calls to a standby hub
        // at once). Anything else is its thread's, as it was read.
        let first = match first_look(&stream) {
            Some((bytes, fd)) if bytes.starts_with(handover::MAGIC) && handover::is_whole(&bytes) => {
                hand_over(stream, bytes, fd, &gate);
                continue;
            }
            other => other,
        };
        let id = super::subscribers::next_id();
        let seat = Seat::take(&open);
        let (subs, calls, redirects, gate, relays) = (
            subs.clone(),
            calls.clone(),
            redirects.clone(),
            gate.clone(),
            relays.clone(),
        );
        // The SUBSCRIBE line is read off the accept loop, bounded in time;
        // the thread then waits for the generator's commands (one per held
        // call: a small stack).
        let spawned = std::thread::Builder::new().stack_size(128 * 1024).spawn(move || {
            let _seat = seat;
            serve(stream, first, id, &subs, &calls, &redirects, &gate, &relays);
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot serve a generator: {e}");
        }
    }
}

/// One of the `max_clients` places, given back when its thread ends (or
/// was never started: the closure holding it is dropped).
struct Seat(Arc<AtomicUsize>);

impl Seat {
    fn take(open: &Arc<AtomicUsize>) -> Seat {
        open.fetch_add(1, Ordering::Relaxed);
        Seat(open.clone())
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The bytes (and the fd riding on them) a new connection has sent so
/// far, read without waiting; `None` when nothing came yet.
fn first_look(stream: &UnixStream) -> Option<(Vec<u8>, Option<OwnedFd>)> {
    stream.set_nonblocking(true).ok()?;
    let mut buf = vec![0u8; 4096];
    let got = handover::recv_first(stream, &mut buf);
    // Back to blocking (bounded by its timeouts) whatever was read.
    stream.set_nonblocking(false).ok();
    let (n, fd) = got.ok()?;
    buf.truncate(n);
    Some((buf, fd))
}

/// One generator, from its `SUBSCRIBE` line until it goes. `first`: what
/// the accept loop read of it already.
#[allow(clippy::too_many_arguments)]
fn serve(
    stream: UnixStream,
    first: Option<(Vec<u8>, Option<OwnedFd>)>,
    id: u64,
    subs: &Subscribers,
    calls: &SharedCalls,
    redirects: &Sender<RedirectAsk>,
    gate: &Gate,
    relays: &Relays,
) {
    stream.set_read_timeout(Some(SUBSCRIBE_WAIT)).ok();
    stream.set_write_timeout(Some(SUBSCRIBE_WAIT)).ok();
    // The first bytes with recvmsg: a hand-over's pipe rides on them.
    let (first, fd) = match first {
        Some(read) => read,
        None => {
            let mut first = vec![0u8; 4096];
            let Ok((n, fd)) = handover::recv_first(&stream, &mut first) else {
                return;
            };
            first.truncate(n);
            (first, fd)
        }
    };
    let n = first.len();
    if n > 0 && (first.starts_with(handover::MAGIC) || handover::MAGIC.starts_with(&first)) {
        return hand_over(stream, first, fd, gate);
    }
    // A descriptor with anything else is not ours to keep.
    drop(fd);
    let mut line = String::new();
    let rest = std::io::Read::take(&stream, 4096u64.saturating_sub(n as u64));
    let mut reader = BufReader::new(std::io::Read::chain(&first[..], rest));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Commands the generator sent right behind its line are read already.
    let early = reader.buffer().to_vec();
    drop(reader);
    let peer = crate::control::socket::peer_uid(&stream);
    let sub = Subscribe::parse(&line);
    let why = match (&sub, peer) {
        (None, _) => Some("a subscription names its call's Uniqueid and token"),
        (_, None) => Some("no peer credentials"),
        (_, Some(uid)) if !gate.uids.contains(&uid) => Some("this user may not subscribe"),
        (Some(s), _) if !gate.key.verify(&s.uniqueid, &s.token) => Some("not this call's token"),
        _ => None,
    };
    let Some(Subscribe { uniqueid, .. }) = sub.filter(|_| why.is_none()) else {
        let why = why.unwrap_or("refused");
        if let Some(more) = gate.unauthorised.tick() {
            tracing::warn!(peer_uid = ?peer, refused_since = more, "hub: a client refused: {why}");
        }
        (&stream).write_all(&refusal(why).to_wire()).ok();
        return;
    };
    super::calls::hold_greeting(calls, gate.started, &uniqueid);
    let Some(stream) = greet(stream, id, &uniqueid, subs, calls) else {
        return;
    };
    tracing::debug!(uniqueid = %uniqueid, "generator subscribed");
    let _counted = crate::metrics::get().generator_connected();
    let from = Peer {
        id,
        uniqueid: &uniqueid,
        calls,
        redirects,
        relays,
    };
    read_commands(&stream, early, &from);
    // Gone (or dropped by the fan-out): forget it now, not at the
    // next event that happens to concern it.
    if let Ok(mut s) = subs.lock() {
        s.retain(|x| x.id != id);
    }
}

/// A hand-over (`hub --audio`): read whole, then taken or refused by
/// the audio side, which answers the client itself.
fn hand_over(stream: UnixStream, first: Vec<u8>, fd: Option<std::os::fd::OwnedFd>, gate: &Gate) {
    let asker = super::audio::Asker {
        peer_uid: crate::control::socket::peer_uid(&stream),
        key: &gate.key,
        hosting: gate.hosting.as_ref(),
    };
    match handover::read_rest(&stream, first, fd) {
        Ok((h, fd)) => super::audio::take(gate.audio.as_deref(), stream, h, fd, &asker),
        Err(e) => {
            if let Some(more) = gate.unauthorised.tick() {
                tracing::warn!(refused_since = more, "hub: {e}");
            }
            handover::say(&stream, &handover::Line::No("bad hand-over".into())).ok();
        }
    }
}

/// Greets the generator with what the call table says of its call and
/// adds it to the subscribers, in one step under both locks (subscribers,
/// then calls: the AMI session's order): every AMI message is then either
/// in the greeting (learned before) or handed to the generator (after),
/// never both (a caller ahead leaving would move its place twice) nor
/// neither. The greeting is written without blocking: a fresh socket has
/// room for it, and a lock is never held on a peer's pace.
fn greet(
    stream: UnixStream,
    id: u64,
    uniqueid: &str,
    subs: &Subscribers,
    calls: &SharedCalls,
) -> Option<Arc<UnixStream>> {
    stream.set_nonblocking(true).ok()?;
    // A poisoned lock (a panic elsewhere) still holds a usable table.
    let mut list = subs.lock().unwrap_or_else(|e| e.into_inner());
    let hello = calls.lock().unwrap_or_else(|e| e.into_inner()).greeting(uniqueid);
    let wire = hello.to_message().to_wire();
    match (&stream).write(&wire) {
        Ok(n) if n == wire.len() => {}
        _ => return None,
    }
    let stream = Arc::new(stream);
    list.push(Subscriber {
        sink: Sink::Socket(stream.clone()),
        id,
        uniqueid: uniqueid.to_string(),
        queue: (!hello.queue.is_empty()).then_some(hello.queue),
    });
    Some(stream)
}

/// One subscribed generator, as its command lines need it.
struct Peer<'a> {
    /// Its connection's number (a control answer is taken only from the
    /// connection the command went to).
    id: u64,
    uniqueid: &'a str,
    calls: &'a SharedCalls,
    redirects: &'a Sender<RedirectAsk>,
    relays: &'a Relays,
}

/// A generator's command lines, until it goes. Its socket is non-blocking
/// (for the fan-out's writes), so this waits in poll(2). A redirect goes
/// to the channel the call table has for this generator's own Uniqueid,
/// as it is now; no command names another call.
fn read_commands(stream: &UnixStream, early: Vec<u8>, from: &Peer<'_>) {
    use std::os::fd::AsRawFd;
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    let mut pending = early;
    loop {
        if !pending.is_empty() {
            let bytes = std::mem::take(&mut pending);
            commands(&bytes, &mut line, from);
            continue;
        }
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let n = match std::io::Read::read(&mut &*stream, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        commands(&buf[..n], &mut line, from);
    }
}

/// The complete command lines in `bytes` (`line` holds a line's start
/// until its end comes).
fn commands(bytes: &[u8], line: &mut Vec<u8>, from: &Peer<'_>) {
    for &b in bytes {
        if b != b'\n' {
            // A line is a few tens of bytes (a control answer a few
            // hundred); a longer one is not ours (kept one byte past the
            // limit, so it stays too long to parse).
            if line.len() <= MAX_CONTROL {
                line.push(b);
            }
            continue;
        }
        let text = String::from_utf8_lossy(line).into_owned();
        line.clear();
        if text.starts_with("COUNT ") || text.starts_with("OBSERVE ") {
            crate::metrics::get().report_line(&text);
            continue;
        }
        if let Some(rest) = text.strip_prefix("CONTROL ") {
            if text.len() <= MAX_CONTROL {
                from.relays.answered(from.id, rest);
            }
            continue;
        }
        if text.len() > MAX_COMMAND {
            tracing::debug!("generator sent a line over {MAX_COMMAND} bytes: ignored");
            continue;
        }
        let Some(to) = Redirect::parse(&text) else {
            tracing::debug!("generator sent {text:?}: ignored");
            continue;
        };
        RedirectAsk::send_for(from.uniqueid, to, from.calls, from.redirects);
    }
}

/// Longest command line read (a redirect or a report is tens of bytes).
const MAX_COMMAND: usize = 256;
/// Longest control answer read (a status is a few hundred bytes).
const MAX_CONTROL: usize = 4096;

/// A log line's rate limit: the first at once, then at most one every
/// 10 s, saying how many were left out. Hand-written (a few lines): the
/// shared limiter is not in this tree yet.
#[derive(Default)]
struct Quiet(Mutex<Option<(Instant, u64)>>);

impl Quiet {
    const EVERY: Duration = Duration::from_secs(10);

    /// `Some(left out since the last line)` when a line may be logged now.
    fn tick(&self) -> Option<u64> {
        let mut g = self.0.lock().ok()?;
        match &mut *g {
            Some((last, skipped)) if last.elapsed() < Self::EVERY => {
                *skipped += 1;
                None
            }
            slot => {
                let skipped = slot.map(|(_, n)| n).unwrap_or(0);
                *slot = Some((Instant::now(), 0));
                Some(skipped)
            }
        }
    }
}
