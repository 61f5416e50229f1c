//! The pacing thread of `hub --audio`: every hosted call on one thread and
//! one timer. It sleeps in epoll until the earliest call's deadline, with
//! every call's connection (to its shim) and the wake pipe (new calls)
//! registered once, so a shim hanging up, a `STOP` or a `TAKEN` ends its
//! call at once; at a deadline it ticks the calls due with `run`'s own
//! Stream code (`Stream::work`, no sleep of its own).
//!
//! A wake costs what its calls cost, not what the hub hosts: the
//! deadlines are kept by instant (`turns`), the connections an epoll set, so
//! a wake touches only the calls due and the clients that spoke. Calls
//! share wakes anyway: their deadlines fall on the host-wide grid
//! (`clock::GRID`), so at most a few instants a period wake the thread.
//!
//! A call ends here: by its client (hang-up or `STOP`: finished as a stop
//! signal would finish it, the checkpoint and the caller's memory
//! written; `TAKEN`: dropped, the client resumes it), or by itself (the
//! engine's hangup or leave, the reader gone: finished, `END 0`, the same
//! code a standalone `run` exits with). Either way its pipe is closed at
//! once.

use super::Arrival;
use super::turns::Turns;
use crate::audio::cache::Cache;
use crate::audio::clock::now_ns;
use crate::config::RunConfig;
use crate::hub::handover::{Line, Lines, say, say_now};
use crate::run::{Exit, Host, Polled, Starting, Stream};
use crate::util::prefetch::Warm;
use rustix::event::epoll::{self, EventData, EventFlags};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// One hosted call.
// In this order: what every step reads comes first, on one or two lines
// (see `Hosted::note_hot`), not spread over the 5 KiB of the rest.
#[repr(C)]
struct Hosted {
    /// Told apart from an earlier call in the same slot.
    id: u64,
    /// When it is next due (CLOCK_MONOTONIC ns).
    due: u64,
    /// The signal's number the client stopped the call with (0: none).
    /// Only this thread sets it, so a step reads it here, on the slot's
    /// first line, not in the shared cell (a page of its own per call).
    stopped: usize,
    /// The same, shared with the stream (read while it starts).
    stop: Arc<AtomicUsize>,
    /// The stream's first tick is yet to come (due at once, no wake).
    first: bool,
    /// The client took the call over: drop it, write nothing more.
    taken: bool,
    /// Its client was told `WATCHED` last (not `UNWATCHED`, or nothing).
    watched: bool,
    span: tracing::Span,
    phase: Option<Phase>,
    conn: UnixStream,
    cfg: RunConfig,
    lines: Lines,
}

// The stream is made once per call and moved at once.
#[allow(clippy::large_enum_variant)]
enum Phase {
    Starting(Starting),
    Streaming(Stream<'static>),
}

/// The wake pipe's mark in the epoll set (a call's is its slot).
const WAKE: u64 = u64::MAX;

/// Readiness events taken per wake; more wait for the next (at once).
const EVENTS: usize = 64;

/// Slots made room for at the first call (a few hundred KiB).
const SLOTS_AT_FIRST: usize = 64;

/// The most a wake spends starting and finishing calls: taking new ones
/// (each begins its preparation), making prepared ones streams (their
/// first tick included) and finishing those stopped. A standby taking a
/// dead hub's thousand calls at once spent more than 100 ms of one wake on
/// them, and its watchdog killed it as busy, sending every call to stream
/// on its own (docs/load.md); so did a thousand hang-ups at once. The rest
/// waits [`START_RETRY`]: the calls streaming keep their deadlines.
const START_BUDGET: u64 = 4_000_000;
/// When the calls a wake left to start are looked at again.
const START_RETRY: u64 = 1_000_000;
/// Calls being prepared at once, at most; more wait on the channel. Their
/// preparations run on threads of their own, and a herd of a thousand
/// runnable at once starves the pacing thread of its core.
const MAX_STARTING: usize = 64;

/// Asks for huge pages under the slots (where the kernel leaves that to a
/// program: `transparent_hugepage` is `madvise`): a tick reads a line or
/// two of each call's 5.6 KiB slot, so a thousand calls' slots take a
/// TLB entry each at 4 KiB a page and miss at every tick, not at 2 MiB.
/// Only whole huge pages inside the slots are backed so (a few hundred
/// slots' worth at least): a small hub's memory stays as it was.
fn huge_pages<T>(v: &Vec<T>) {
    const PAGE: usize = 4096;
    let start = v.as_ptr() as usize;
    let end = start + v.capacity() * std::mem::size_of::<T>();
    let (from, to) = (start.next_multiple_of(PAGE), end & !(PAGE - 1));
    if to > from {
        // SAFETY: the range lies inside the vector's own allocation, and
        // the advice changes how it is backed, never its contents.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

/// The hosted calls, their turns and their connections' epoll set.
struct Pacing {
    epoll: OwnedFd,
    /// Slots, reused: a call's slot is its mark in the epoll set.
    calls: Vec<Option<Hosted>>,
    /// By slot: the lines the call's next step touches first, noted at
    /// the end of its step (see [`Pacing::tick_due`]).
    hot: Vec<Warm>,
    free: Vec<usize>,
    turns: Turns,
    /// The turns due at this wake, in order (kept for its room).
    due: Vec<(u64, usize, u64)>,
    next_id: u64,
    /// Calls not streaming yet (see [`MAX_STARTING`]).
    starting: usize,
    /// New calls may be waiting that a wake left for the next.
    backlog: bool,
    /// Whether a watchdog watches: what every call's client is told.
    watched: bool,
}

/// The thread's loop, for the hub's life.
pub(super) fn pace(
    arrivals: mpsc::Receiver<Arrival>,
    wake: OwnedFd,
    cache: &'static Cache,
    hosted: Arc<AtomicUsize>,
    mut beat: super::watchdog::Beat,
) {
    few_arenas();
    let mut p = match Pacing::new(&wake) {
        Ok(p) => p,
        Err(e) => {
            // The receiver goes: every hand-over's connection closes, and
            // its client streams the call itself.
            tracing::error!("hub audio: cannot watch the calls: {e}");
            return;
        }
    };
    let mut events = Vec::with_capacity(EVENTS);
    let mut lines = Vec::new();
    loop {
        // The watchdog's heartbeat: when this thread woke, its next
        // deadline, and how many calls it hosts.
        let earliest = p.turns.earliest();
        beat.beat(now_ns(), earliest, p.calls.len() - p.free.len());
        p.wait(&mut events);
        // The clients first: a stop seen now is a write not made.
        let now = now_ns();
        let mut woken = false;
        for e in &events {
            match e.data.u64() {
                WAKE => woken = true,
                slot => p.client(slot as usize, now, &mut lines),
            }
        }
        if woken {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(&wake, &mut buf), Ok(n) if n > 0) {}
        }
        // After the wait, which may have been long (an idle hub): new
        // calls were told with their `OK` what the watchdog is now.
        p.watched_now(beat.watching(now));
        let budget = now + START_BUDGET;
        if woken || p.backlog {
            p.admit(&arrivals, cache, budget, &hosted);
        }
        let now = now_ns();
        p.tick_due(cache, now, budget, &hosted);
    }
}

/// Asks for the lines of a call's noted list itself (not yet the lines it
/// names: reading it would wait for them).
fn fetch_lines_of(w: &Warm) {
    let mut lines = Warm::default();
    lines.add(w);
    lines.fetch();
}

/// A hub that hosts calls runs threads for each of them (they follow the
/// calls' events), nearly all asleep: glibc's default of up to eight
/// malloc arenas a core spreads their allocations thin, about 40 KiB a
/// call more than two arenas hold (measured, docs/hub-audio.md "Cost").
/// Process-wide, set before the first call; arenas made before it stay.
fn few_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a parameter of glibc's allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

impl Pacing {
    fn new(wake: &OwnedFd) -> std::io::Result<Pacing> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(&epoll, wake, EventData::new_u64(WAKE), EventFlags::IN)?;
        Ok(Pacing {
            epoll,
            calls: Vec::new(),
            hot: Vec::new(),
            free: Vec::new(),
            turns: Turns::default(),
            due: Vec::new(),
            next_id: 0,
            starting: 0,
            backlog: false,
            watched: false,
        })
    }

    /// Whether a watchdog watches now: when that changed, every call's
    /// client is told (a call takes at most a short write; it changes
    /// when a watchdog starts or cannot be started again, not per tick).
    fn watched_now(&mut self, watched: bool) {
        if watched != self.watched {
            self.watched = watched;
            let what = if watched { "watched" } else { "unwatched" };
            tracing::info!(
                calls = self.calls.len() - self.free.len(),
                "the hosted calls are {what}"
            );
            for c in self.calls.iter_mut().flatten() {
                c.tell_watched(watched);
            }
        }
    }

    /// When the thread must wake next (CLOCK_MONOTONIC ns; `None`: only
    /// for a client's word or a new call): the earliest turn, or sooner
    /// the new calls a wake left waiting. Not while as many calls are
    /// being prepared as may be: only one of them finishing starting
    /// makes room, and their own turns (every 2 ms) wake the thread for
    /// that; a retry each millisecond then found nothing to do.
    fn next_wake(&self, now: u64) -> Option<u64> {
        let earliest = self.turns.earliest();
        let room = self.starting < MAX_STARTING;
        let retry = (self.backlog && room).then_some(now + START_RETRY);
        earliest.into_iter().chain(retry).min()
    }

    /// Sleeps until the earliest turn, a client's word or a new call.
    fn wait(&self, events: &mut Vec<epoll::Event>) {
        let now = now_ns();
        let timeout = self.next_wake(now).map(|due| {
            let left = due.saturating_sub(now);
            rustix::time::Timespec {
                tv_sec: (left / 1_000_000_000) as i64,
                tv_nsec: (left % 1_000_000_000) as i64,
            }
        });
        events.clear();
        // Whole milliseconds, rounded up (epoll_pwait): a wake at most a
        // millisecond late, well inside the pacing's half-period margin.
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => tracing::error!("hub audio: epoll: {e}"),
        }
    }

    /// Takes the new calls waiting, until `budget` (CLOCK_MONOTONIC ns)
    /// or [`MAX_STARTING`]; those left are taken at a later wake.
    fn admit(
        &mut self,
        arrivals: &mpsc::Receiver<Arrival>,
        cache: &Cache,
        budget: u64,
        hosted: &AtomicUsize,
    ) {
        self.backlog = true;
        while self.starting < MAX_STARTING && now_ns() < budget {
            let Ok(a) = arrivals.try_recv() else {
                self.backlog = false;
                return;
            };
            if self.add(a, cache) {
                self.starting += 1;
            } else {
                hosted.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// A new call: watched, begun, its first turn at once. False when it
    /// cannot be hosted (its connection then closes: the client streams).
    fn add(&mut self, a: Arrival, cache: &Cache) -> bool {
        let slot = self.free.pop().unwrap_or(self.calls.len());
        if let Err(e) = epoll::add(
            &self.epoll,
            &a.conn,
            EventData::new_u64(slot as u64),
            EventFlags::IN,
        ) {
            let _g = a.span.enter();
            tracing::error!("cannot host the call: its connection cannot be watched: {e}");
            self.free.push(slot);
            return false;
        }
        self.next_id += 1;
        // On failure its connection is closed, which also leaves the set.
        let Some(mut c) = Hosted::begin(a, self.next_id, cache) else {
            self.free.push(slot);
            return false;
        };
        // Told with its `OK` on the accept thread, a moment ago.
        c.tell_watched(self.watched);
        self.turns.push(c.due, slot, c.id);
        if slot == self.calls.len() {
            if self.calls.len() == self.calls.capacity() {
                self.calls.reserve(self.calls.len().max(SLOTS_AT_FIRST));
                huge_pages(&self.calls);
            }
            self.calls.push(Some(c));
            self.hot.push(Warm::default());
        } else {
            self.calls[slot] = Some(c);
            self.hot[slot].clear();
        }
        true
    }

    /// The client of the call in `slot` spoke (or hung up): a stop or a
    /// take-over makes the call due at once.
    fn client(&mut self, slot: usize, now: u64, lines: &mut Vec<Option<Line>>) {
        let Some(c) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        c.read_client(lines);
        if (c.taken || c.stopped != 0) && c.due > now {
            c.due = now;
            self.turns.push(now, slot, c.id);
        }
    }

    /// Ticks every call due by `now`, each once; ends those that are over.
    ///
    /// A call's state is cold at its turn (a thousand calls' do not stay
    /// in the caches for 40 ms), and a tick's misses cost more than its
    /// work when they come one after another (measured, docs/hub-audio.md
    /// "Cost"). So the calls due are taken in order and each is asked for
    /// ahead of its step: the list of its lines two calls ahead, the lines
    /// themselves one call ahead, both while the calls before it step.
    ///
    /// A call that is starting or stopped steps only while the wake is
    /// within `budget` (see [`START_BUDGET`]); past it, it is due again
    /// [`START_RETRY`] later.
    fn tick_due(&mut self, cache: &'static Cache, now: u64, budget: u64, hosted: &AtomicUsize) {
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.turns.take_due(now, &mut due);
        for (i, &(at, slot, id)) in due.iter().enumerate() {
            if let Some(&(_, later, _)) = due.get(i + 2) {
                fetch_lines_of(&self.hot[later]);
            }
            if let Some(&(_, next, _)) = due.get(i + 1) {
                self.hot[next].fetch();
            }
            let Some(c) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if c.id != id || c.due != at {
                continue;
            }
            // Starting a call, or finishing one (its checkpoint, its
            // caller's memory, its timeline: a thousand hung up at once
            // took one wake past the watchdog's bound), waits past the
            // budget; a call taken over costs nothing to drop.
            let starting = c.is_starting();
            if (starting || c.stopped != 0) && !c.taken && now_ns() >= budget {
                c.due = now + START_RETRY;
                self.turns.push(c.due, slot, id);
                continue;
            }
            let alive = c.step(cache, now);
            if starting && !(alive && c.is_starting()) {
                self.starting -= 1;
            }
            if alive {
                // A deadline already past is taken at the next wake (at
                // once), never twice in this one.
                c.due = c.due.max(now + 1);
                self.turns.push(c.due, slot, id);
                let hot = &mut self.hot[slot];
                hot.clear();
                c.note_hot(hot);
            } else {
                // Dropped: its connection closes and leaves the epoll set.
                self.calls[slot] = None;
                self.free.push(slot);
                hosted.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.due = due;
    }
}

impl Hosted {
    fn is_starting(&self) -> bool {
        matches!(self.phase, Some(Phase::Starting(_)))
    }

    fn begin(a: Arrival, id: u64, cache: &Cache) -> Option<Hosted> {
        let stop = Arc::new(AtomicUsize::new(0));
        let _g = a.span.enter();
        let starting = match Stream::begin(
            &a.cfg,
            Host {
                out: a.out,
                stop: stop.clone(),
                hosted_by: a.hub,
            },
            cache,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot host the call: {e:#}");
                // The client takes it over on the connection's close.
                return None;
            }
        };
        a.conn.set_nonblocking(true).ok();
        drop(_g);
        Some(Hosted {
            watched: a.watched,
            id,
            conn: a.conn,
            cfg: a.cfg,
            span: a.span,
            phase: Some(Phase::Starting(starting)),
            due: now_ns(),
            first: true,
            lines: Lines::default(),
            stopped: 0,
            stop,
            taken: false,
        })
    }

    /// What the client sent: `STOP n`, `TAKEN`, or its end (a hang-up
    /// counts as Asterisk's SIGHUP, which it is, most often).
    fn read_client(&mut self, lines: &mut Vec<Option<Line>>) {
        let mut buf = [0u8; 256];
        loop {
            match (&self.conn).read(&mut buf) {
                Ok(0) => {
                    self.stop_with(libc::SIGHUP as usize);
                    break;
                }
                Ok(n) => self.lines.feed(&buf[..n], lines),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stop_with(libc::SIGHUP as usize);
                    break;
                }
            }
        }
        for l in lines.drain(..) {
            match l {
                Some(Line::Stop(sig)) => self.stop_with(sig as usize),
                Some(Line::Taken) => self.taken = true,
                _ => {}
            }
        }
    }

    /// Tells the client whether a watchdog watches, if it was told
    /// otherwise (best effort: a client gone is seen at its hang-up).
    fn tell_watched(&mut self, watched: bool) {
        if self.watched != watched {
            self.watched = watched;
            let line = if watched { Line::Watched } else { Line::Unwatched };
            say(&self.conn, &line).ok();
        }
    }

    /// The first stop asked for is the one kept.
    fn stop_with(&mut self, sig: usize) {
        if self.stopped == 0 && sig != 0 {
            self.stopped = sig;
            self.stop.store(sig, Ordering::Release);
        }
    }

    /// Notes the lines its next step reads first: its own fields (the
    /// stop among them), then its stream's (see `Stream::note_hot`).
    fn note_hot(&self, w: &mut Warm) {
        w.add_range(
            std::ptr::from_ref(self) as usize,
            std::mem::offset_of!(Hosted, phase),
        );
        if let Some(Phase::Streaming(s)) = &self.phase {
            s.note_hot(w);
        }
    }

    /// Ticks the call if it is due, or ends it; false once it is over.
    fn step(&mut self, cache: &'static Cache, now: u64) -> bool {
        let _g = self.span.enter();
        if self.taken {
            // The client streams it now: nothing more written, nothing
            // kept (its checkpoint is the client's to write).
            tracing::info!("the client took the call over");
            return false;
        }
        let stopped = match self.stopped {
            0 => None,
            sig => Some(Exit::Signal(sig as i32)),
        };
        if stopped.is_none() && now < self.due {
            return true;
        }
        if matches!(self.phase, Some(Phase::Starting(_))) {
            // Taken out only while it starts: a stream is ticked in place
            // (moving it costs a copy of a few KiB, each way, every tick).
            let Some(Phase::Starting(s)) = self.phase.take() else {
                return false;
            };
            match s.poll(&self.cfg, cache, now) {
                Ok(Polled::Pending(s, next)) => {
                    self.due = next;
                    self.phase = Some(Phase::Starting(s));
                    return true;
                }
                Ok(Polled::Streaming(s)) => {
                    // Keyed by the call: the client learns the name, so a
                    // take-over with no hub to greet it resumes the call.
                    if let Some(name) = s.checkpoints_name() {
                        say_now(&self.conn, &Line::Checkpoints(name.to_string()));
                    }
                    self.phase = Some(Phase::Streaming(s))
                }
                Ok(Polled::Ended(exit)) => {
                    self.end(exit, stopped.is_none());
                    return false;
                }
                Err(e) => {
                    tracing::error!("cannot host the call: {e:#}");
                    return false;
                }
            }
        }
        let Some(Phase::Streaming(stream)) = self.phase.as_mut() else {
            return false;
        };
        // Its stop is `stopped`: nothing but this thread sets the cell.
        let ended = match stopped {
            Some(exit) => Some((exit, false)),
            None => {
                if !self.first {
                    stream.woke_at(now);
                }
                self.first = false;
                stream.work().map(|exit| (exit, true))
            }
        };
        let Some((exit, by_itself)) = ended else {
            self.due = stream.next_deadline_ns();
            return true;
        };
        if let Some(Phase::Streaming(stream)) = self.phase.take() {
            // Finished and dropped: the pipe is closed before `END`.
            stream.finish(exit);
        }
        if by_itself {
            self.end(exit, true);
        } else {
            tracing::info!(reason = %exit, "hosted call ended by its client");
        }
        false
    }

    /// The call ended here (its pipe is closed by now): the client is
    /// told the code a standalone `run` exits with (always 0: every end
    /// of a stream is on purpose).
    fn end(&self, exit: Exit, tell: bool) {
        tracing::info!(reason = %exit, "hosted call ended");
        if tell {
            say(&self.conn, &Line::End(0)).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::os::fd::OwnedFd;

    /// A call handed over: the demo playlist, checkpoints in `dir`; with
    /// the client's end of its connection and the reader's of its pipe.
    fn arrival(dir: &std::path::Path) -> (Arrival, UnixStream, OwnedFd) {
        arrival_with(dir, &[])
    }

    /// [`arrival`] with more of `run`'s args.
    fn arrival_with(dir: &std::path::Path, extra: &[&str]) -> (Arrival, UnixStream, OwnedFd) {
        let argv = ["holdmix", "run", "--uniqueid", "1796000000.1", "--state-dir"];
        let argv = argv
            .iter()
            .copied()
            .chain([dir.to_str().unwrap()])
            .chain(extra.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let cfg = crate::config::run(args, &|_| None, |_| Ok(String::new()));
        let (conn, client) = UnixStream::pair().unwrap();
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        let a = Arrival {
            conn,
            cfg,
            out: write,
            span: tracing::Span::none(),
            hub: None,
            watched: false,
        };
        (a, client, read)
    }

    /// A herd of new calls is taken a few at a time: no more at once than
    /// [`MAX_STARTING`], none once a wake's budget is spent, and the rest
    /// wait on the channel for a later wake (which comes soon: the backlog
    /// shortens the wait).
    #[test]
    fn a_herd_of_calls_is_taken_a_budget_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(&tmp.path().join("cache")));
        let (wake, _w) = rustix::pipe::pipe().unwrap();
        let mut p = Pacing::new(&wake).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut ends = Vec::new();
        for _ in 0..MAX_STARTING + 10 {
            let (a, client, read) = arrival(tmp.path());
            tx.send(a).unwrap();
            ends.push((client, read));
        }
        let hosted = AtomicUsize::new(MAX_STARTING + 10);
        // A budget spent already: nothing taken, and the wake comes back.
        p.admit(&rx, &cache, 0, &hosted);
        assert_eq!((p.starting, p.backlog), (0, true));
        p.admit(&rx, &cache, u64::MAX, &hosted);
        assert_eq!((p.starting, p.backlog), (MAX_STARTING, true));
        // As many being prepared as may be: the thread wakes for their
        // turns (polled 2 ms apart), not a millisecond later for the
        // calls left waiting, which cannot be taken yet.
        let now = now_ns();
        let polled = now + 2 * START_RETRY;
        let mut all = Vec::new();
        p.turns.take_due(u64::MAX, &mut all);
        for (_, slot, id) in all {
            p.turns.push(polled, slot, id);
        }
        assert_eq!(p.next_wake(now), Some(polled));
        // One of them streaming: room, so the waiting calls are looked at
        // again a millisecond later.
        p.starting -= 1;
        assert_eq!(p.next_wake(now), Some(now + START_RETRY));
        // As if those had started streaming: the rest are taken, and
        // with none left no backlog.
        p.starting = 0;
        p.admit(&rx, &cache, u64::MAX, &hosted);
        assert_eq!((p.starting, p.backlog), (10, false));
        assert_eq!(p.turns.len(), MAX_STARTING + 10);
        assert_eq!(hosted.load(Ordering::Acquire), MAX_STARTING + 10, "none refused");
    }

    /// What a client reads on its connection now (without waiting).
    fn said(client: &UnixStream) -> String {
        client.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = (&*client).read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    /// Every hosted call's client hears when a watchdog starts or is gone
    /// for good, once; a new call told otherwise with its `OK` a moment
    /// before the change hears it when it is taken.
    #[test]
    fn the_clients_are_told_when_their_watchdog_comes_and_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(&tmp.path().join("cache")));
        let (wake, _w) = rustix::pipe::pipe().unwrap();
        let mut p = Pacing::new(&wake).unwrap();
        let (tx, rx) = mpsc::channel();
        let hosted = AtomicUsize::new(3);
        let (a, first, _r1) = arrival(tmp.path());
        tx.send(a).unwrap();
        p.admit(&rx, &cache, u64::MAX, &hosted);
        assert_eq!(said(&first), "", "told nothing new");
        p.watched_now(true);
        p.watched_now(true);
        assert_eq!(said(&first), "WATCHED\n");
        // Told `WATCHED` with its `OK`, as the hub is: nothing more.
        let (mut a, second, _r2) = arrival(tmp.path());
        a.watched = true;
        tx.send(a).unwrap();
        p.admit(&rx, &cache, u64::MAX, &hosted);
        assert_eq!(said(&second), "");
        p.watched_now(false);
        assert_eq!(
            (said(&first), said(&second)),
            ("UNWATCHED\n".into(), "UNWATCHED\n".into())
        );
        // Told `WATCHED` just before the watchdog was found gone.
        let (mut a, third, _r3) = arrival(tmp.path());
        a.watched = true;
        tx.send(a).unwrap();
        p.admit(&rx, &cache, u64::MAX, &hosted);
        assert_eq!(said(&third), "UNWATCHED\n");
        assert_eq!(said(&first), "");
    }

    /// A hosted call keyed by the call tells its client the name of its
    /// checkpoints once it streams (`CHECKPOINTS`), so a take-over with no
    /// hub to greet it resumes them: the name a hand-over brought, or the
    /// digest of its key (never the key). A call keyed by its Uniqueid
    /// is told nothing (its client keys it the same).
    #[test]
    fn a_call_keyed_by_the_call_is_told_its_checkpoints_name() {
        let tmp = tempfile::tempdir().unwrap();
        let cache: &'static Cache = Box::leak(Box::new(Cache::open(Some(&tmp.path().join("cache")))));
        let name = format!("call-{}", "5a".repeat(16));
        for (extra, told) in [
            (vec!["--hub-checkpoints", name.as_str()], Some(name.clone())),
            (vec!["--call-key", "k@10.0.0.5"], None),
            (vec![], None),
        ] {
            let (wake, _w) = rustix::pipe::pipe().unwrap();
            let mut p = Pacing::new(&wake).unwrap();
            let (tx, rx) = mpsc::channel();
            let (a, client, _read) = arrival_with(&tmp.path().join("calls"), &extra);
            tx.send(a).unwrap();
            let hosted = AtomicUsize::new(1);
            p.admit(&rx, cache, u64::MAX, &hosted);
            let started = std::time::Instant::now();
            let mut heard = String::new();
            while p.calls[0].as_ref().is_some_and(Hosted::is_starting) && started.elapsed().as_secs() < 10 {
                p.tick_due(cache, now_ns(), u64::MAX, &hosted);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert!(
                !p.calls[0].as_ref().unwrap().is_starting(),
                "{extra:?}: streaming"
            );
            heard += &said(&client);
            match (&told, extra.first()) {
                (Some(n), _) => assert_eq!(heard, format!("CHECKPOINTS {n}\n"), "{extra:?}"),
                (None, Some(_)) => {
                    let n = heard
                        .strip_prefix("CHECKPOINTS ")
                        .and_then(|n| n.strip_suffix('\n'));
                    assert!(
                        n.is_some_and(crate::run::checkpoint::is_call_file_name),
                        "{heard:?}"
                    );
                    assert!(!heard.contains("k@10.0.0.5"), "{heard:?}");
                }
                (None, None) => assert_eq!(heard, "", "keyed by its Uniqueid: nothing to tell"),
            }
        }
    }

    /// Past a wake's budget a starting call is not stepped: it is due again
    /// [`START_RETRY`] later, still starting; within it, it steps.
    #[test]
    fn past_the_budget_a_starting_call_waits_for_the_next_wake() {
        let tmp = tempfile::tempdir().unwrap();
        let cache: &'static Cache = Box::leak(Box::new(Cache::open(Some(&tmp.path().join("cache")))));
        let (wake, _w) = rustix::pipe::pipe().unwrap();
        let mut p = Pacing::new(&wake).unwrap();
        let (tx, rx) = mpsc::channel();
        let (a, mut client, _read) = arrival(&tmp.path().join("calls"));
        tx.send(a).unwrap();
        let hosted = AtomicUsize::new(1);
        p.admit(&rx, cache, u64::MAX, &hosted);
        assert_eq!(p.starting, 1);
        let now = now_ns();
        let due = |p: &Pacing| p.turns.earliest();
        p.tick_due(cache, now, 0, &hosted);
        assert_eq!(due(&p), Some(now + START_RETRY), "deferred");
        assert!(p.calls[0].as_ref().unwrap().is_starting());
        // Within the budget its preparation is polled (and, ready, it
        // streams): its turn is its own again.
        let later = now + START_RETRY;
        p.tick_due(cache, later, u64::MAX, &hosted);
        assert!(due(&p) > Some(later + START_RETRY), "polled: {:?}", due(&p));
        assert_eq!(p.turns.len(), 1);
        // Stopped by its client: past the budget its end waits too, then
        // it ends (its place among the starting given back).
        std::io::Write::write_all(&mut client, b"STOP 1\n").unwrap();
        let mut lines = Vec::new();
        let at = later + 2 * START_RETRY;
        p.client(0, at, &mut lines);
        p.tick_due(cache, at, 0, &hosted);
        assert!(p.calls[0].is_some(), "ended past the budget");
        p.tick_due(cache, at + START_RETRY, u64::MAX, &hosted);
        assert!(p.calls[0].is_none(), "not ended within it");
        assert_eq!((p.starting, hosted.load(Ordering::Acquire)), (0, 0));
    }
}
