//! One call's stream, shaped like a generator of Asterisk's
//! `res_musiconhold.c`: [`Stream::start`] (alloc), [`Stream::tick`]
//! (generate: wake, write what the reader needs, prepare the next tick,
//! sleep) and [`Stream::finish`] (release).
//!
//! The engine is reached only through [`Ahead`], which hands out `&mut
//! Engine` only after taking back the frames it rendered ahead: a change
//! can never land behind audio already encoded.

use super::checkpoint::Checkpoints;
use super::events;
use super::exit::Exit;
use super::identity::who;
use super::inbox::Inbox;
use super::memory::CallerMemory;
use super::output::{OrphanGuard, Output};
use super::reload::{self, Poller};
use super::signals::{StopFlag, unsignalled};
use crate::audio::cache::Cache;
use crate::audio::clock::Clock;
use crate::audio::format::{FRAME_MS, Format};
use crate::audio::pacer::Pacer;
use crate::config::RunConfig;
use crate::engine::Engine;
use crate::engine::ahead::Ahead;
use crate::engine::timeline::TimelineWriter;
use crate::scenario::Scenario;
use crate::sources;
use crate::util::prefetch::Warm;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

/// When start-up pages are dropped: one second into the stream.
const TRIM_AFTER_FRAMES: u64 = 50;

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
    timeline: Option<TimelineWriter<BufWriter<File>>>,
    checkpoints: Option<Checkpoints>,
    memory: Option<CallerMemory>,
    orphans: Option<OrphanGuard>,
    /// For the orphan guard's log line.
    channel: Option<String>,
    trimmed: bool,
    /// The lines the next tick touches, fetched at once at the wake.
    warm: Warm,
}

impl<'a> Stream<'a> {
    /// Everything before the first frame: signals, the playlist, the call's
    /// checkpoint and identity, the caller's memory, the engine, the helper
    /// threads, stdout.
    pub fn start(cfg: &RunConfig, cache: &'a Cache) -> Result<Stream<'a>> {
        let stop = StopFlag::install()?;
        let format = cfg.format;
        let rate = format.rate();
        let scenario = load_scenario(cfg.playlist.as_deref());
        let checkpoints = Checkpoints::open(&cfg.identity, cfg.state_dir.as_deref());
        let now_ms = chrono::Utc::now().timestamp_millis();
        let snap = checkpoints.as_ref().and_then(|c| c.resumable(now_ms));
        // Through a hub, Asterisk itself says whose call a Uniqueid is.
        let hub = cfg
            .hub
            .as_deref()
            .map(|h| crate::hub::follow::subscribe(h, cfg.identity.uniqueid(), cfg.hub_token.as_deref()));
        let (caller, verified) = who(
            &cfg.identity,
            hub.as_ref().and_then(crate::hub::follow::HubLink::subscription),
        );
        // Caller memory only for a trusted number: never read or overwrite
        // another caller's.
        let (mut memory, remembered) = match CallerMemory::open(
            cfg.store.as_ref(),
            caller.as_deref().filter(|_| verified),
            snap.is_some(),
        ) {
            Some((m, r)) => (Some(m), r),
            None => (None, None),
        };
        let mut engine = match (&snap, &remembered) {
            (Some(snap), _) => {
                tracing::info!(from_ms = snap.at_ms, "resuming the call");
                Engine::resume(&scenario, rate, snap, now_ms)
            }
            // Random orders differ from call to call.
            (None, Some(m)) => Engine::remembering(&scenario, rate, fastrand::u64(..), m),
            (None, None) => Engine::new(&scenario, rate, fastrand::u64(..)),
        };
        // Nothing personal until the identity is trusted (AMI may confirm later).
        engine.set_personal(verified);
        if let Some(m) = &mut memory {
            m.follow(&engine);
        }
        let first = engine.first_needed();
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
        // Helper threads must not take the stop signals: only a handler
        // running on the audio thread cuts its sleep short.
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
        let timeline = match &cfg.timeline {
            Some(p) => Some(TimelineWriter::new(BufWriter::new(
                File::create(p).with_context(|| format!("{}: cannot create timeline", p.display()))?,
            ))),
            None => None,
        };

        let out = Output::stdout(format.frame_bytes())?;
        let frame = Duration::from_millis(u64::from(FRAME_MS));
        let lead = cfg
            .lead
            .map(|d| (d.as_nanos().div_ceil(frame.as_nanos()) as usize).max(1));
        let mut pacer = Pacer::new(format.frame_bytes(), out.is_pipe(), lead);
        if checkpoints.is_some() {
            pacer.verify_every(crate::audio::pacer::VERIFY_TICKS_CHECKPOINTED);
        }
        let clock = Clock::new(frame * pacer.period_frames() as u32);
        tracing::info!(format = ?format, pipe = out.is_pipe(), "streaming");
        Ok(Stream {
            ahead: Ahead::new(engine, format),
            orphans: OrphanGuard::new(cfg.orphan_after, &out),
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
            channel: cfg.identity.channel().map(str::to_string),
            trimmed: false,
            warm: Warm::default(),
        })
    }

    /// One wake: what came in, what the reader needs written, what the
    /// next tick needs ready; then the sleep to the next deadline. Returns
    /// why the stream ends, once it does.
    pub fn tick(&mut self) -> Option<Exit> {
        self.warm.fetch();
        // Something was sent to this thread (a key, a reload, a source).
        if self.inbox.bell.answer() {
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
            self.ahead.skip(plan.skip);
            tracing::warn!(frames = plan.skip, "reader stalled: skipping to the present");
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
        if let Some(p) = &mut self.poller {
            p.poll_due(self.frame * wall as u32);
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
        if let Some(t) = &mut self.timeline {
            t.write(&self.ahead.drain_timeline().collect::<Vec<_>>()).ok();
            t.flush().ok();
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

    /// Moves what happened to the timeline file, if any (out of line: most
    /// ticks have nothing).
    #[cold]
    #[inline(never)]
    fn write_timeline(&mut self) {
        let entries: Vec<_> = self.ahead.drain_timeline().collect();
        if let Some(t) = &mut self.timeline {
            t.write(&entries).ok();
            t.flush().ok();
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

/// A playlist that cannot be used is logged and replaced by silence: Asterisk
/// would respawn an exiting generator every 40 ms and the caller hear nothing.
fn load_scenario(path: Option<&std::path::Path>) -> Scenario {
    let Some(path) = path else {
        tracing::warn!("no playlist given: streaming silence");
        return Scenario::empty();
    };
    match Scenario::load(path) {
        Ok(loaded) => {
            crate::scenario::log_diagnostics(&loaded.diagnostics);
            loaded.scenario
        }
        Err(e) => {
            tracing::error!("{e:#}; streaming silence");
            Scenario::empty()
        }
    }
}
