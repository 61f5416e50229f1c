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
use crate::audio::clock::{Clock, now_ns};
use crate::audio::format::{FRAME_MS, Format};
use crate::audio::pacer::Pacer;
use crate::config::RunConfig;
use crate::engine::ahead::Ahead;
use crate::engine::library::Library;
use crate::hub::follow::HubLink;
use crate::sources;
use crate::util::bell::Bell;
use crate::util::prefetch::Warm;
use crate::util::ratelimit::{Limiter, WINDOW};
use anyhow::Result;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Receiver;
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

// In this order: what every tick reads comes first (up to `ahead`), on a
// few lines noted as one range (see `Stream::note_hot`); spread over the
// stream's 5 KiB, each was a miss of its own at a hosted call's tick.
#[repr(C)]
pub struct Stream<'a> {
    /// Streamed by a host (`hub --audio`), not a process of its own.
    hosted: bool,
    trimmed: bool,
    format: Format,
    out: Output,
    /// One frame's duration (the clock's unit).
    frame: Duration,
    next_map_check: u64,
    /// When the poller looks next (wall frames; see `work`).
    next_poll: u64,
    stop: StopFlag,
    /// The inbox's doorbell, held here too: the tick reads only this.
    bell: Bell,
    pacer: Pacer,
    clock: Clock,
    orphans: Option<OrphanGuard>,
    /// For the orphan guard's log line.
    channel: Option<String>,
    /// Set when the audio thread polls the playlist itself (see reload);
    /// boxed: most calls have none, and a tick reads only the pointer.
    poller: Option<Box<Poller>>,
    /// `--control` and the hub's relay: status requests to answer.
    control: Control,
    checkpoints: Option<Checkpoints>,
    /// The engine and the frames rendered ahead of the clock.
    ahead: Ahead,
    inbox: Inbox<'a>,
    timeline: Option<Sink>,
    memory: Option<CallerMemory>,
    /// The lines the next tick touches, fetched at once at the wake.
    warm: Warm,
    /// Truncated cache entries already logged (see `check_maps`).
    truncations: usize,
    /// What starts after the first write (see [`Stream::first_tick`]).
    later: Option<Later<'a>>,
}

/// The start's threads that wait for the first write, given the call's
/// inbox and its sources; returns the playlist's poller, if any.
type Later<'a> = Box<dyn FnOnce(&mut Inbox<'a>, &Library) -> Option<Poller> + 'a>;

impl<'a> Stream<'a> {
    /// Everything before the first frame. The slow part (playlist,
    /// checkpoint, identity, caller memory, engine) is prepared on a thread
    /// (see [`prepare`]): most calls have it within a frame and start on
    /// music as always; otherwise silence is written and signals are taken
    /// until it is ready, and the music then starts where it would have (the
    /// silence is a `late` event on the timeline). A signal before that ends
    /// the call with nothing to keep. Its first tick is
    /// [`Stream::first_tick`], which starts the loader and the followers.
    /// `stop`: the run's flag, installed before anything else (a signal
    /// already in it ends the call at once).
    pub fn start(cfg: &RunConfig, cache: &'a Cache, stop: StopFlag) -> Result<Started<'a>> {
        let (control_socket, ready) = spawn_prepare(cfg, None, cache)?;
        let early = ready.recv_timeout(FIRST_FRAME_WAIT).ok();
        let out = Output::stdout(cfg.format.frame_bytes())?;
        let mut e = Early::new(cfg, stop, control_socket, ready, out, false);
        let p = match early {
            Some(p) => p,
            None => {
                let (mut lead_in, ready, stop) = e.lead_in();
                match lead_in.until_ready(ready, stop) {
                    Ok(p) => p,
                    Err(exit) => {
                        tracing::info!(reason = %exit.reason(), frames = e.pacer.written(), "exit before the call was ready");
                        return Ok(Started::Ended(exit));
                    }
                }
            }
        };
        Ok(Started::Streaming(Stream::ready(e, p, cfg, cache)?))
    }

    /// A call a host streams (`hub --audio`): its pipe and its stop cell
    /// are the host's, and nothing here waits: the host polls the
    /// [`Starting`] until the call is prepared, then ticks the stream with
    /// [`Stream::work`] at its deadlines, sleeping for all its calls.
    pub fn begin(cfg: &RunConfig, host: Host, cache: &Cache) -> Result<Starting> {
        let stop = StopFlag::shared(host.stop);
        let (control_socket, ready) = spawn_prepare(cfg, host.hosted_by, cache)?;
        let out = Output::from_fd(host.out, cfg.format.frame_bytes())?;
        Ok(Starting {
            early: Early::new(cfg, stop, control_socket, ready, out, true),
            begun: now_ns(),
            silence: Vec::new(),
            silent: false,
        })
    }

    /// The call is prepared: the rest of the start, from the stream's
    /// parts so far (`e`) and the prepared call (`p`).
    fn ready(e: Early, p: Prepared, cfg: &RunConfig, cache: &'a Cache) -> Result<Stream<'a>> {
        let Early {
            stop,
            control_socket,
            ready: _,
            out,
            mut pacer,
            clock,
            orphans,
            channel,
            frame,
            format,
            hosted,
        } = e;
        let rate = format.rate();
        let Prepared {
            scenario,
            mut engine,
            checkpoints,
            memory,
            hub,
            caller,
            verified,
            pending,
            watch,
            timeline,
        } = p;
        let timeline = timeline?;
        let sub = hub.as_ref().and_then(|l| l.subscription());
        // Hosted by a hub, in-process: its commands go there, its loaders
        // run on the hub's kept threads (as its preparation did).
        let in_process = hub
            .as_ref()
            .is_some_and(|l| matches!(l.relay(), crate::control::relay::RelayBy::InProcess));
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
        // With no billing configured (and no event feed to answer), a
        // balance lookup fails at once: the caller hears "service unavailable".
        let (mut inbox, commands) = Inbox::new(
            scenario.billing.clone(),
            caller,
            cfg.events.is_none(),
            cache,
            rate,
            in_process,
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
        // A hosted call's go to its host's sink (the hub's own metrics).
        if hosted {
            crate::metrics::send::send(&crate::metrics::report::Report::Start);
        } else if hub.is_some() {
            let tx = inbox.command_sender();
            if crate::metrics::send::install(move |line| {
                tx.send(crate::ami::client::Command::Report(line)).is_ok()
            }) {
                crate::metrics::send::send(&crate::metrics::report::Report::Start);
            }
        }
        // A hosted call's redirects go straight to its host.
        if let Some(to_host) = hub.as_ref().and_then(HubLink::commands) {
            inbox.route_commands(to_host);
        }
        // Helper threads must not take the stop signals: only a handler
        // running on the audio thread cuts its sleep short.
        let relay_by = hub.as_ref().map(HubLink::relay);
        let (control, relay) =
            unsignalled(|| control::start(control_socket, facts, &inbox, cache, rate, relay_by));
        // What the first frame does not need (the loader of the sources
        // still pending, the call's followers, the playlist's watch) starts
        // after the first write: when a hub dies, a hundred calls taken over
        // at once each reach their first frame sooner (docs/shim.md).
        let events = cfg.events.clone();
        let playlist = cfg.playlist.clone();
        let channel_to_follow = cfg.identity.channel_to_follow().map(str::to_string);
        let ami = cfg.ami.clone();
        let later: Later<'a> = Box::new(move |inbox, library| {
            inbox.add_loader(sources::spawn_loader(
                library,
                pending,
                cache,
                rate,
                &inbox.bell,
                in_process,
            ));
            if let Some(src) = events.as_deref() {
                events::spawn_reader(src, playlist, inbox.reload_sender(), inbox.event_sender());
            }
            let started = match hub {
                Some(link) => crate::hub::follow::spawn_via_hub(
                    link,
                    verified,
                    channel_to_follow,
                    ami,
                    inbox.event_sender(),
                    commands,
                    relay,
                ),
                None => match ami {
                    Some(a) => crate::ami::client::spawn(a, inbox.event_sender(), commands),
                    None => Ok(()),
                },
            };
            if let Err(e) = started {
                tracing::error!("cannot start following the call: {e}");
            }
            watch.and_then(|w| {
                let path = w.path().to_path_buf();
                match w.start(inbox.reload_sender()) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(playlist = %path.display(), "cannot watch the playlist for changes: {e}");
                        None
                    }
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
        tracing::info!(
            format = format.asterisk_name(),
            pipe = out.is_pipe(),
            hosted,
            "streaming"
        );
        let mut stream = Stream {
            bell: inbox.bell.clone(),
            ahead: Ahead::new(engine, format),
            orphans,
            stop,
            out,
            pacer,
            clock,
            frame,
            format,
            inbox,
            poller: None,
            timeline,
            checkpoints,
            memory,
            channel,
            // A host's pages are not the call's to drop.
            trimmed: hosted,
            hosted,
            warm: Warm::default(),
            truncations: crate::util::mapguard::truncations(),
            next_map_check: CHECK_MAPS_EVERY,
            // As the poller's own first look: `POLL` into the stream.
            next_poll: poll_frames(frame),
            control,
            later: Some(later),
        };
        // A host's first write is its own business: nothing waits for it.
        if hosted {
            stream.start_rest();
        }
        Ok(stream)
    }

    /// The first tick: as [`Stream::tick`], with the rest of the start
    /// (see `ready`) begun between its write and its sleep.
    pub fn first_tick(&mut self) -> Option<Exit> {
        if let Some(exit) = self.work() {
            return Some(exit);
        }
        self.start_rest();
        self.stop.sleep(&mut self.clock)
    }

    /// Starts what `ready` left for after the first write. Helper threads
    /// must not take the stop signals: only a handler running on the audio
    /// thread cuts its sleep short.
    #[cold]
    fn start_rest(&mut self) {
        if let Some(later) = self.later.take() {
            let (inbox, library) = (&mut self.inbox, self.ahead.engine().library());
            self.poller = unsignalled(|| later(inbox, library)).map(Box::new);
        }
    }

    /// One wake: what came in, what the reader needs written, what the
    /// next tick needs ready; then the sleep to the next deadline. Returns
    /// why the stream ends, once it does.
    // One function for every tick, also those that only write: measured
    // (benches/tick_pages.py, docs/benchmarks.md), such a tick touches 8
    // code pages, and a loop of its own could save about five page walks
    // a wake (1-3 % of a tick, not measurable here), so it was not split.
    pub fn tick(&mut self) -> Option<Exit> {
        if let Some(exit) = self.work() {
            return Some(exit);
        }
        self.stop.sleep(&mut self.clock)
    }

    /// A tick's work without its sleep: a host calls it at the stream's
    /// deadline ([`Stream::next_deadline_ns`]), after [`Stream::woke_at`].
    #[inline]
    pub fn work(&mut self) -> Option<Exit> {
        // A host asks for a call's lines itself, one call ahead (see
        // `Stream::note_hot`).
        if !self.hosted {
            self.warm.fetch();
        }
        // Something was sent to this thread (a key, a reload, a source).
        if self.bell.answer() {
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
        // does not move the call on. Nor is a tick that did not measure
        // the pipe (unless something happened): its prediction may claim
        // a read that never came, and the fields the last measured tick
        // set are at most a tick behind what was heard (a take-over
        // repeats that much, never skips); its page is left cold.
        if written > 0
            && (happened || measured.is_some() || !self.out.is_pipe())
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
        // Its box only when a look is due (`reload::POLL` apart, as its
        // own schedule): a cold line of its own otherwise read every tick.
        if wall >= self.next_poll
            && let Some(p) = &mut self.poller
        {
            p.poll_due(self.frame * wall as u32);
            self.next_poll = wall + poll_frames(self.frame);
        }
        if wall >= self.next_map_check {
            self.check_maps(wall);
        }
        if !self.hosted {
            self.note_own_hot();
        }
        None
    }

    /// The name the call's checkpoints go by, when they are keyed by the
    /// call (see `Checkpoints::call_name`).
    pub fn checkpoints_name(&self) -> Option<&str> {
        self.checkpoints.as_ref().and_then(Checkpoints::call_name)
    }

    /// When the next tick is due (CLOCK_MONOTONIC ns, see `clock::now_ns`).
    pub fn next_deadline_ns(&self) -> u64 {
        self.clock.next_deadline_ns()
    }

    /// A host woke for this stream at `now` (its deadline reached).
    pub fn woke_at(&mut self, now: u64) {
        self.clock.woke_at(now);
    }

    /// The stop its host asked for (a hosted stream), or a signal.
    pub fn stopped(&self) -> Option<Exit> {
        self.stop.get()
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
        // Asterisk's SIGKILL comes 200 ms after its SIGHUP). A host's sink
        // takes it at once, and its thread never waits.
        if !self.hosted && !crate::metrics::send::flush(REPORT_FLUSH) {
            tracing::debug!("metrics: the last reports did not reach the hub in time");
        }
        // The reader's read size, once learned (`-`: not yet).
        let read = self
            .pacer
            .read_frames()
            .map_or_else(|| "-".to_string(), |n| n.to_string());
        tracing::info!(reason = %reason, frames = self.pacer.written(), read_frames = %read, "exit");
    }

    /// Start-up is over (the loader has mapped the cache by now): its code
    /// is no longer needed.
    #[cold]
    #[inline(never)]
    fn trim(&mut self) {
        self.trimmed = true;
        crate::util::footprint::release_freed_heap();
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

    /// Notes the memory the next tick will touch (see [`Warm`]), the
    /// lines every tick reads first: a host ticking many calls asks for
    /// them while it ticks the call before (`hub::audio::pace`), so their
    /// misses overlap that work instead of stalling this one's.
    pub fn note_hot(&self, w: &mut Warm) {
        w.add_range(
            std::ptr::from_ref(self) as usize,
            std::mem::offset_of!(Stream<'static>, ahead),
        );
        // A host reads its own copy of the stop (see `hub::audio::pace`).
        if !self.hosted {
            w.add(self.stop.cell());
        }
        self.bell.note_hot(w);
        // Its page only when the next tick writes it (see `work`).
        if let Some(c) = &self.checkpoints
            && (self.pacer.must_measure() || !self.out.is_pipe())
        {
            c.note_hot(w);
        }
        self.ahead.note_hot(self.pacer.period_frames(), w);
    }

    /// The lines of a stream that asks for its own (a process of its own).
    fn note_own_hot(&mut self) {
        let mut w = std::mem::take(&mut self.warm);
        w.clear();
        self.note_hot(&mut w);
        self.warm = w;
    }
}

/// What a host gives a call it streams.
pub struct Host {
    /// The call's pipe (the reader's), handed over by its process.
    pub out: OwnedFd,
    /// The host stores a signal's number here to end the call.
    pub stop: Arc<AtomicUsize>,
    /// The hub hosting the call: its events in-process (see `hub::local`).
    pub hosted_by: Option<crate::hub::Local>,
}

/// The playlist poller's period (`reload::POLL`) in frames of `frame`.
fn poll_frames(frame: Duration) -> u64 {
    (reload::POLL.as_nanos() / frame.as_nanos().max(1)) as u64
}

/// Binds the control socket (a path in the way ends the start before
/// anything else) and starts preparing the call.
fn spawn_prepare(
    cfg: &RunConfig,
    hosted_by: Option<crate::hub::Local>,
    cache: &Cache,
) -> Result<(Option<control::Bound>, Receiver<Prepared>)> {
    let control_socket = control::bind(cfg)?;
    let ready = prepare::spawn(prepare::Needs {
        playlist: cfg.playlist.clone(),
        identity: cfg.identity.clone(),
        state_dir: cfg.state_dir.clone(),
        hub: cfg.hub.clone(),
        hub_token: cfg.hub_token.clone(),
        hub_hung: cfg.hub_hung,
        hub_checkpoints: cfg.hub_checkpoints.clone(),
        hosted_by,
        store: cfg.store.clone(),
        rate: cfg.format.rate(),
        timeline: cfg.timeline.clone(),
        language: cfg.language.clone(),
        timeline_dir: cfg.timeline_dir.clone(),
        span: tracing::Span::current(),
        cache: cache.clone(),
    })?;
    Ok((control_socket, ready))
}

/// The stream's parts before the call is prepared.
struct Early {
    stop: StopFlag,
    control_socket: Option<control::Bound>,
    ready: Receiver<Prepared>,
    out: Output,
    pacer: Pacer,
    clock: Clock,
    orphans: Option<OrphanGuard>,
    channel: Option<String>,
    frame: Duration,
    format: Format,
    hosted: bool,
}

impl Early {
    fn new(
        cfg: &RunConfig,
        stop: StopFlag,
        control_socket: Option<control::Bound>,
        ready: Receiver<Prepared>,
        out: Output,
        hosted: bool,
    ) -> Early {
        let format = cfg.format;
        let frame = Duration::from_millis(u64::from(FRAME_MS));
        let lead = cfg
            .lead
            .map(|d| (d.as_nanos().div_ceil(frame.as_nanos()) as usize).max(1));
        let pacer = Pacer::new(format.frame_bytes(), out.is_pipe(), lead);
        let clock = Clock::new(frame * pacer.period_frames() as u32);
        let orphans = OrphanGuard::new(cfg.orphan_after, &out);
        Early {
            stop,
            control_socket,
            ready,
            out,
            pacer,
            clock,
            orphans,
            channel: cfg.identity.channel().map(str::to_string),
            frame,
            format,
            hosted,
        }
    }

    fn restart_clock(&mut self) {
        self.clock = Clock::new(self.frame * self.pacer.period_frames() as u32);
    }

    /// The lead-in over these parts, and what it waits for.
    fn lead_in(&mut self) -> (LeadIn<'_>, &Receiver<Prepared>, &StopFlag) {
        let lead_in = LeadIn {
            out: &self.out,
            pacer: &mut self.pacer,
            clock: &mut self.clock,
            orphans: self.orphans.as_mut(),
            channel: self.channel.as_deref(),
            frame: self.frame,
            format: self.format,
        };
        (lead_in, &self.ready, &self.stop)
    }
}

/// A hosted call being prepared (see [`Stream::begin`]).
pub struct Starting {
    early: Early,
    /// When it began (CLOCK_MONOTONIC ns).
    begun: u64,
    silence: Vec<u8>,
    /// Silence has been written (the lead-in's clock is running).
    silent: bool,
}

/// What a poll of a [`Starting`] call gives.
// Made once per call and moved at once: boxing would gain nothing.
#[allow(clippy::large_enum_variant)]
pub enum Polled<'a> {
    /// Not ready: poll again at this time (CLOCK_MONOTONIC ns).
    Pending(Starting, u64),
    Streaming(Stream<'a>),
    /// The host's stop, or the reader leaving, before the call was ready.
    Ended(Exit),
}

/// While a hosted call waits for its first frame (as `start`'s wait of
/// [`FIRST_FRAME_WAIT`]), it is polled this often.
const FIRST_FRAME_POLL: u64 = 2_000_000;

impl Starting {
    /// One look at the call at `now` (CLOCK_MONOTONIC ns): ready, it is
    /// a stream (whose first tick is due at once); not yet, silence is
    /// written at its deadlines after the first frame's wait, as a
    /// standalone start does.
    pub fn poll<'a>(mut self, cfg: &RunConfig, cache: &'a Cache, now: u64) -> Result<Polled<'a>> {
        if let Some(exit) = self.early.stop.get() {
            return Ok(Polled::Ended(exit));
        }
        let waited = now.saturating_sub(self.begun);
        if self.silent {
            self.early.clock.woke_at(now);
        }
        let first_wait = waited < FIRST_FRAME_WAIT.as_nanos() as u64 && !self.silent;
        let ready = if first_wait {
            self.early.ready.try_recv().ok()
        } else {
            let (lead_in, ready, _) = self.early.lead_in();
            match lead_in.ready(ready) {
                Ok(p) => p,
                Err(exit) => return Ok(Polled::Ended(exit)),
            }
        };
        if !self.silent && (ready.is_some() || !first_wait) {
            // The first write: the stream's time starts here, as a
            // standalone clock made after the first frame's wait.
            self.early.restart_clock();
        }
        if let Some(p) = ready {
            return Ok(Polled::Streaming(Stream::ready(self.early, p, cfg, cache)?));
        }
        if first_wait {
            let next = (now + FIRST_FRAME_POLL).min(self.begun + FIRST_FRAME_WAIT.as_nanos() as u64);
            return Ok(Polled::Pending(self, next));
        }
        if !self.silent {
            tracing::warn!("the call is not ready after a frame: silence until it is");
            self.silent = true;
        }
        let mut silence = std::mem::take(&mut self.silence);
        let wrote = self.early.lead_in().0.silence_tick(&mut silence);
        self.silence = silence;
        if let Err(exit) = wrote {
            tracing::info!(reason = %exit.reason(), frames = self.early.pacer.written(), "exit before the call was ready");
            return Ok(Polled::Ended(exit));
        }
        let next = self.early.clock.next_deadline_ns();
        Ok(Polled::Pending(self, next))
    }
}
