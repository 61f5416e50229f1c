//! The pacing thread of `hub --audio`: every hosted call on one thread and
//! one timer. It sleeps in poll(2) until the earliest call's deadline,
//! with every call's connection (to its shim) and the wake pipe (new
//! calls) in the set, so a shim hanging up, a `STOP` or a `TAKEN` ends
//! its call at once; at a deadline it ticks each call due with `run`'s own
//! Stream code (`Stream::work`, no sleep of its own).
//!
//! A call ends here: by its client (hang-up or `STOP`: finished as a stop
//! signal would finish it, the checkpoint and the caller's memory
//! written; `TAKEN`: dropped, the client resumes it), or by itself (the
//! engine's hangup or leave, the reader gone: finished, `END 0`, the same
//! code a standalone `run` exits with). Either way its pipe is closed at
//! once. Plain poll(2) over all connections: measured cheap enough for
//! the first version (see docs/hub-audio.md); epoll is the next step at
//! thousands of calls.

use super::Arrival;
use crate::audio::cache::Cache;
use crate::audio::clock::now_ns;
use crate::config::RunConfig;
use crate::hub::handover::{Line, Lines, say};
use crate::run::{Exit, Host, Polled, Starting, Stream};
use rustix::event::{PollFd, PollFlags};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// One hosted call.
struct Hosted {
    conn: UnixStream,
    cfg: RunConfig,
    span: tracing::Span,
    phase: Option<Phase>,
    /// When it is next due (CLOCK_MONOTONIC ns).
    due: u64,
    /// The stream's first tick is yet to come (due at once, no wake).
    first: bool,
    lines: Lines,
    /// Set to a signal's number when the client stops the call.
    stop: Arc<AtomicUsize>,
    /// The client took the call over: drop it, write nothing more.
    taken: bool,
}

// The stream is made once per call and moved at once.
#[allow(clippy::large_enum_variant)]
enum Phase {
    Starting(Starting),
    Streaming(Stream<'static>),
}

/// The thread's loop, for the hub's life.
pub(super) fn pace(
    arrivals: mpsc::Receiver<Arrival>,
    wake: OwnedFd,
    cache: &'static Cache,
    hosted: Arc<AtomicUsize>,
    mut beat: super::watchdog::Beat,
) {
    let mut calls: Vec<Hosted> = Vec::new();
    let mut events = Vec::new();
    loop {
        let now = now_ns();
        let earliest = calls.iter().map(|c| c.due).min();
        beat.beat(now, earliest, calls.len());
        let timeout = earliest.map(|d| {
            let left = d.saturating_sub(now);
            rustix::time::Timespec {
                tv_sec: (left / 1_000_000_000) as i64,
                tv_nsec: (left % 1_000_000_000) as i64,
            }
        });
        let ready: Vec<(bool, bool)> = {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(calls.len() + 1);
            fds.push(PollFd::new(&wake, PollFlags::IN));
            for c in &calls {
                fds.push(PollFd::new(&c.conn, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => tracing::error!("hub audio: poll: {e}"),
            }
            fds.iter()
                .map(|f| {
                    let r = f.revents();
                    (
                        r.contains(PollFlags::IN),
                        r.intersects(PollFlags::HUP | PollFlags::ERR),
                    )
                })
                .collect()
        };
        // The clients first: a stop seen now is a write not made.
        for (c, &(readable, hup)) in calls.iter_mut().zip(&ready[1..]) {
            if readable || hup {
                c.read_client(&mut events);
            }
        }
        if ready[0].0 {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(&wake, &mut buf), Ok(n) if n > 0) {}
            while let Ok(a) = arrivals.try_recv() {
                if let Some(c) = Hosted::begin(a) {
                    calls.push(c);
                } else {
                    hosted.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        let now = now_ns();
        calls.retain_mut(|c| {
            let keep = c.step(cache, now);
            if !keep {
                hosted.fetch_sub(1, Ordering::AcqRel);
            }
            keep
        });
    }
}

impl Hosted {
    fn begin(a: Arrival) -> Option<Hosted> {
        let stop = Arc::new(AtomicUsize::new(0));
        let _g = a.span.enter();
        let starting = match Stream::begin(
            &a.cfg,
            Host {
                out: a.out,
                stop: stop.clone(),
                hosted_by: a.hub,
            },
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
            conn: a.conn,
            cfg: a.cfg,
            span: a.span,
            phase: Some(Phase::Starting(starting)),
            due: now_ns(),
            first: true,
            lines: Lines::default(),
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
                    self.stop
                        .compare_exchange(0, libc::SIGHUP as usize, Ordering::AcqRel, Ordering::Acquire)
                        .ok();
                    break;
                }
                Ok(n) => self.lines.feed(&buf[..n], lines),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stop
                        .compare_exchange(0, libc::SIGHUP as usize, Ordering::AcqRel, Ordering::Acquire)
                        .ok();
                    break;
                }
            }
        }
        for l in lines.drain(..) {
            match l {
                Some(Line::Stop(sig)) => {
                    self.stop
                        .compare_exchange(0, sig as usize, Ordering::AcqRel, Ordering::Acquire)
                        .ok();
                }
                Some(Line::Taken) => self.taken = true,
                _ => {}
            }
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
        let stopped = match self.stop.load(Ordering::Acquire) {
            0 => None,
            sig => Some(Exit::Signal(sig as i32)),
        };
        if stopped.is_none() && now < self.due {
            return true;
        }
        let phase = match self.phase.take() {
            Some(p) => p,
            None => return false,
        };
        let mut stream = match phase {
            Phase::Starting(s) => match s.poll(&self.cfg, cache, now) {
                Ok(Polled::Pending(s, next)) => {
                    self.due = next;
                    self.phase = Some(Phase::Starting(s));
                    return true;
                }
                Ok(Polled::Streaming(s)) => s,
                Ok(Polled::Ended(exit)) => {
                    self.end(exit, stopped.is_none());
                    return false;
                }
                Err(e) => {
                    tracing::error!("cannot host the call: {e:#}");
                    return false;
                }
            },
            Phase::Streaming(s) => s,
        };
        if let Some(exit) = stopped.or_else(|| stream.stopped()) {
            stream.finish(exit);
            tracing::info!(reason = %exit, "hosted call ended by its client");
            return false;
        }
        if !self.first {
            stream.woke_at(now);
        }
        self.first = false;
        match stream.work() {
            Some(exit) => {
                // Finished and dropped: the pipe is closed before `END`.
                stream.finish(exit);
                self.end(exit, true);
                false
            }
            None => {
                self.due = stream.next_deadline_ns();
                self.phase = Some(Phase::Streaming(stream));
                true
            }
        }
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
