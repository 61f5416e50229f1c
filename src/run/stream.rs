//! One call's stream, shaped like a generator of Asterisk's
//! `res_musiconhold.c`: [`Stream::start`] (alloc), [`Stream::tick`]
//! (generate: wake, write what the reader needs, prepare the next tick,
//! sleep) and [`Stream::finish`] (release).
//!
//! The engine is reached only through [`Ahead`], which hands out `&mut
//! Engine` only after taking back the frames it rendered ahead: a change
//! can never land behind audio already encoded.

use super::checkpoint::Checkpoints;
use super::control::{self, Control};
use super::events;
use super::exit::Exit;
use super::inbox::Inbox;
use super::lead_in::LeadIn;
use super::memory::CallerMemory;
use super::output::{OrphanGuard, Output};
use super::prepare::{self, Prepared};
use super::reload::{self, Poller};
use super::signals::{StopFlag, unsignalled};
use super::timeline::{Sink, record as record_timeline};
use crate::audio::cache::Cache;
use crate::audio::clock::Clock;
use crate::audio::format::{FRAME_MS, Format};
use crate::audio::pacer::Pacer;
use crate::config::RunConfig;
use crate::engine::ahead::Ahead;
use crate::sources;
use crate::util::prefetch::Warm;
use crate::util::ratelimit::{Limiter, WINDOW};
use anyhow::Result;
use std::time::Duration;

/// When start-up pages are dropped: one second into the stream.
const TRIM_AFTER_FRAMES: u64 = 50;

/// How often (in frames) the tick looks for truncated cache entries.
const CHECK_MAPS_EVERY: u64 = 50;

/// How long the first frame waits for the call to be prepared before
/// silence is written instead: one frame, so the reader (which takes one
/// every 20 ms) never finds the pipe empty and a signal is taken within
/// a few tens of milliseconds.
const FIRST_FRAME_WAIT: Duration = Duration::from_millis(FRAME_MS as u64);

/// How long the end waits for its reports to reach the hub.
const REPORT_FLUSH: Duration = Duration::from_millis(50);

/// What [`Stream::start`] gives: a stream, or the end that came first.
// Made once and moved into `run`'s frame: boxing would put the tick's
// state on the heap for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Started<'a> {
    Streaming(Stream<'a>),
    /// A signal (or the reader leaving) before the call was ready.
    Ended(Exit),
}

pub struct Stream<'a> {
    /// The engine and the frames rendered ahead of the clock.
    ahead: Ahead,
    stop: StopFlag,
    out: Output,
    pacer: Pacer,
    clock: Clock,
    /// One frame's duration (the clock's unit).
    frame: Duration,
    format: Format,
    inbox: Inbox<'a>,
    /// Set when the audio thread polls the playlist itself (see reload).
    poller: Option<Poller>,
    timeline: Option<Sink>,
    checkpoints: Option<Checkpoints>,
    memory: Option<CallerMemory>,
    orphans: Option<OrphanGuard>,
    /// For the orphan guard's log line.
    channel: Option<String>,
    trimmed: bool,
    /// The lines the next tick touches, fetched at once at the wake.
    warm: Warm,
    /// Truncated cache entries already logged, and when to look again.
    truncations: usize,
    next_map_check: u64,
    /// `--control` and the hub's relay: status requests to answer.
    control: Control,
}

impl<'a> Stream<'a> {
    /// Everything before the first frame. The slow part (playlist,
    /// checkpoint, identity, caller memory, engine) is prepared on a thread
    /// (see [`prepare`]): most calls have it within a frame and start on
    /// music as always; otherwise silence is written and signals are taken
    /// until it is ready, and the music then starts where it would have (the
    /// silence is a `late` event on the timeline). A signal before that ends
    /// the call with nothing to keep.
    pub fn start(cfg: &RunConfig, cache: &'a Cache) -> Result<Started<'a>> {
        let stop = StopFlag::install()?;
        // First: a path in the way ends the start before anything else.
        let control_socket = control::bind(cfg)?;
        let format = cfg.format;
        let rate = format.rate();
        let ready = prepare::spawn(prepare::Needs {
            playlist: cfg.playlist.clone(),
            identity: cfg.identity.clone(),
            state_dir: cfg.state_dir.clone(),
            hub: cfg.hub.clone(),
            hub_token: cfg.hub_token.clone(),
            store: cfg.store.clone(),
            rate,
            timeline: cfg.timeline.clone(),
            language: cfg.language.clone(),
            timeline_dir: cfg.timeline_dir.clone(),
            span: tracing::Span::current(),
        })?;
        let early = ready.recv_timeout(FIRST_FRAME_WAIT).ok();

        let out = Output::stdout(format.frame_bytes())?;
        let frame = Duration::from_millis(u64::from(FRAME_MS));
        let lead = cfg
            .lead
            .map(|d| (d.as_nanos().div_ceil(frame.as_nanos()) as usize).max(1));
        let mut pacer = Pacer::new(format.frame_bytes(), out.is_pipe(), lead);
        let mut clock = Clock::new(frame * pacer.period_frames() as u32);
        let mut orphans = OrphanGuard::new(cfg.orphan_after, &out);
        let channel = cfg.identity.channel().map(str::to_string);
        let p = match early {
            Some(p) => p,
            None => {
                let mut lead_in = LeadIn {
                    out: &out,
                    pacer: &mut pacer,
                    clock: &mut clock,
                    orphans: orphans.as_mut(),
                    channel: channel.as_deref(),
                    frame,
                    format,
                };
                match lead_in.until_ready(&ready, &stop) {
                    Ok(p) => p,
                    Err(exit) => {
                        tracing::info!(reason = %exit.reason(), frames = pacer.written(), "exit before the call was ready");
                        return Ok(Started::Ended(exit));
                    }
                }
            }
        };
        let Prepared {
            scenario,
            mut engine,
            checkpoints,
            memory,
            hub,
            caller,
            verified,
            first,
            timeline,
        } = p;
        let timeline = timeline?;
        let sub = hub.as_ref().and_then(|l| l.subscription());
        let facts = crate::control::call::Facts {
            uniqueid: cfg.identity.uniqueid().map(str::to_string),
            channel: cfg
                .identity
                .channel()
                .map(str::to_string)
                .or_else(|| sub.map(|s| s.channel.clone()).filter(|c| !c.is_empty())),
            caller: caller.clone(),
            queue: cfg
                .identity
                .queue
                .clone()
                .or_else(|| sub.map(|s| s.queue.clone()).filter(|q| !q.is_empty())),
            route: sub.map(|s| s.route.clone()).filter(|r| !r.is_empty()),
        };
        let pending = sources::map_cached(engine.library_mut(), cache, rate, &first);

        // With no billing configured (and no event feed to answer), a
        // balance lookup fails at once: the caller hears "service unavailable".
        let (mut inbox, commands) = Inbox::new(
            scenario.billing.clone(),
            caller,
            cfg.events.is_none(),
            cache,
            rate,
        );
        // The hold plan's asks carry the call's id, queue, route (the
        // hub's word) and (trusted) number.
        inbox.set_plan(
            scenario.plan.clone(),
            crate::webhook::Call {
                id: cfg.identity.uniqueid().map(str::to_string),
                caller: None,
                queue: facts.queue.clone(),
                route: facts.route.clone(),
            },
        );
        // A generator with a hub reports to it (see `metrics::send`).
        if hub.is_some() {
            let tx = inbox.command_sender();
            if crate::metrics::send::install(move |line| {
                tx.send(crate::ami::client::Command::Report(line)).is_ok()
            }) {
                crate::metrics::send::send(&crate::metrics::report::Report::Start);
            }
        }
        // Helper threads must not take the stop signals: only a handler
        // running on the audio thread cuts its sleep short.
        let (control, relay) =
            unsignalled(|| control::start(control_socket, facts, &inbox, cache, rate, hub.is_some()));
        let poller = unsignalled(|| {
            inbox.add_loader(sources::spawn_loader(
                engine.library(),
                pending,
                cache,
                rate,
                &inbox.bell,
            ));
            if let Some(src) = cfg.events.as_deref() {
                events::spawn_reader(
                    src,
                    cfg.playlist.clone(),
                    inbox.reload_sender(),
                    inbox.event_sender(),
                );
            }
            let started = match hub {
                Some(link) => crate::hub::follow::spawn_via_hub(
                    link,
                    verified,
                    cfg.identity.channel_to_follow().map(str::to_string),
                    cfg.ami.clone(),
                    inbox.event_sender(),
                    commands,
                    relay,
                ),
                None => match &cfg.ami {
                    Some(a) => crate::ami::client::spawn(a.clone(), inbox.event_sender(), commands),
                    None => Ok(()),
                },
            };
            if let Err(e) = started {
                tracing::error!("cannot start following the call: {e}");
            }
            cfg.playlist
                .as_deref()
                .and_then(|p| match reload::start(p, inbox.reload_sender()) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(playlist = %p.display(), "cannot watch the playlist for changes: {e}");
                        None
                    }
                })
        });

        if checkpoints.is_some() {
            pacer.verify_every(crate::audio::pacer::VERIFY_TICKS_CHECKPOINTED);
        }
        // Late: the silence written is outside the engine's time, so the
        // music (a resumed call's too) starts where it would have.
        if pacer.written() > 0 {
            engine.started_late(pacer.written());
        }
        tracing::info!(format = ?format, pipe = out.is_pipe(), "streaming");
        Ok(Started::Streaming(Stream {
            ahead: Ahead::new(engine, format),
            orphans,
            stop,
            out,
            pacer,
            clock,
            frame,
            format,
            inbox,
            poller,
            timeline,
            checkpoints,
            memory,
            channel,
            trimmed: false,
            warm: Warm::default(),
            truncations: crate::util::mapguard::truncations(),
            next_map_check: CHECK_MAPS_EVERY,
            control,
        }))
    }

    /// One wake: what came in, what the reader needs written, what the
    /// next tick needs ready; then the sleep to the next deadline. Returns
    /// why the stream ends, once it does.
    // One function for every tick, also those that only write: measured
    // (benches/tick_pages.py, docs/benchmarks.md), such a tick touches 8
    // code pages, and a loop of its own could save about five page walks
    // a wake (1-3 % of a tick, not measurable here), so it was not split.
    pub fn tick(&mut self) -> Option<Exit> {
        self.warm.fetch();
        // Something was sent to this thread (a key, a reload, a source).
        if self.inbox.bell.answer() {
            self.control.take_asks(&self.ahead);
            self.inbox.take_mail(self.ahead.change());
        }
        // Measured only when the pacer cannot predict it (see Pacer).
        let measured = (self.out.is_pipe() && self.pacer.must_measure()).then(|| self.out.queued());
        if self.ahead.engine().has_requests() {
            self.inbox.serve_requests(self.ahead.change());
        }
        let wall = self.clock.units_at_wake(self.frame);
        let plan = self.pacer.plan(measured, wall);
        if plan.skip > 0 {
            self.skip(plan.skip);
        }
        let written = match self.out.write(self.ahead.take(plan.write)) {
            Ok(n) => n,
            Err(exit) => return Some(exit),
        };
        let fb = self.format.frame_bytes();
        // What the pipe holds now, without a second FIONREAD: a read racing
        // the write is then counted at the next tick instead (see Pacer).
        self.pacer.wrote(written, plan.queued + written * fb);
        if !self.trimmed && wall >= TRIM_AFTER_FRAMES {
            self.trim();
        }
        if let Some(o) = &mut self.orphans
            && o.orphaned(wall, written, self.channel.as_deref())
        {
            return Some(Exit::Orphaned);
        }
        if self.out.reader_gone(written) {
            return Some(Exit::ReaderGone);
        }
        let happened = self.ahead.engine().has_timeline();
        if happened {
            self.write_timeline();
            if let Some(m) = &mut self.memory {
                m.after_change(self.ahead.engine());
            }
        }
        // Only what was written is checkpointed: a generator nobody reads
        // does not move the call on.
        if written > 0
            && let Some(c) = &mut self.checkpoints
        {
            // Rendered and not heard: in the pipe and ready here.
            let unread = (plan.queued / fb + written + self.ahead.ready()) as u64;
            c.after_write(self.ahead.engine(), happened, unread);
        }
        if let Some(ended) = self.ahead.engine().ended() {
            return Some(Exit::from(ended));
        }
        let realign = self.pacer.take_realign();
        self.clock
            .set_period(self.frame * self.pacer.period_frames() as u32, realign);
        // After the write: rendering ahead never delays it.
        self.ahead.fill();
        self.control.answer(&self.ahead);
        if let Some(p) = &mut self.poller {
            p.poll_due(self.frame * wall as u32);
        }
        if wall >= self.next_map_check {
            self.check_maps(wall);
        }
        self.note_hot();
        self.stop.sleep(&mut self.clock)
    }

    /// The end: the engine goes back to what was written, so the exit's
    /// time, the checkpoint and the caller's memory are of what was heard.
    pub fn finish(mut self, exit: Exit) {
        let reason = exit.reason();
        self.ahead.change().finish(reason);
        let engine = self.ahead.engine();
        if let Some(c) = &mut self.checkpoints {
            c.at_exit(engine, exit, self.out.queued_frames() as u64);
        }
        if let Some(m) = &self.memory {
            m.at_exit(engine, exit);
        }
        let entries: Vec<_> = self.ahead.drain_timeline().collect();
        record_timeline(self.timeline.as_mut(), &entries);
        // The exit's report goes out before the process does (bounded:
        // Asterisk's SIGKILL comes 200 ms after its SIGHUP).
        if !crate::metrics::send::flush(REPORT_FLUSH) {
            tracing::debug!("metrics: the last reports did not reach the hub in time");
        }
        tracing::info!(reason = %reason, frames = self.pacer.written(), read_frames = ?self.pacer.read_frames(), "exit");
    }

    /// Start-up is over (the loader has mapped the cache by now): its code
    /// is no longer needed.
    #[cold]
    #[inline(never)]
    fn trim(&mut self) {
        self.trimmed = true;
        let d = crate::util::footprint::drop_startup_pages();
        tracing::debug!(
            mappings = d.mappings,
            kib = d.resident_kib,
            "dropped start-up pages"
        );
    }

    /// Moves what happened to the log and the timeline file, if any (out
    /// of line: most ticks have nothing).
    #[cold]
    #[inline(never)]
    fn write_timeline(&mut self) {
        let entries: Vec<_> = self.ahead.drain_timeline().collect();
        record_timeline(self.timeline.as_mut(), &entries);
    }

    /// The reader stalled: the frames it missed are skipped. Logged once a
    /// minute with a count (a stalled reader skips every 240 ms).
    #[cold]
    #[inline(never)]
    fn skip(&mut self, frames: u64) {
        static STALLED: Limiter = Limiter::new(WINDOW);
        self.ahead.skip(frames);
        if let Some(more) = STALLED.check() {
            tracing::warn!(frames, "reader stalled: skipping to the present{more}");
        }
    }

    /// Says once that a cache entry was cut short under its map (the
    /// guard made the rest of it silence; see `util::mapguard`).
    #[cold]
    #[inline(never)]
    fn check_maps(&mut self, wall: u64) {
        self.next_map_check = wall + CHECK_MAPS_EVERY;
        let n = crate::util::mapguard::truncations();
        if n != self.truncations {
            self.truncations = n;
            tracing::warn!("a sound's cache file was truncated while it played: silence for the rest of it");
        }
    }

    /// Notes the memory the next tick will touch (see [`Warm`]).
    fn note_hot(&mut self) {
        self.warm.clear();
        self.ahead.note_hot(self.pacer.period_frames(), &mut self.warm);
        self.warm.add(&self.pacer);
        self.warm.add(&self.clock);
        self.warm.add(self.stop.cell());
        self.inbox.bell.note_hot(&mut self.warm);
    }
}
