//! `holdmix run`: the engine on the real clock, writing whole frames to
//! stdout at the pace the reader (Asterisk) takes them.
//!
//! One thread does the audio: it sleeps to absolute deadlines (or until a
//! signal arrives), applies the events that came in, renders what the pacer
//! asks for and writes it with non-blocking, atomic writes. Sources missing
//! from the cache are decoded by a helper thread while the stream already
//! plays; events come from a reader thread. Neither ever blocks the audio.

use crate::audio::cache::Cache;
use crate::audio::clip::Clip;
use crate::audio::clock::{Clock, Wake, block_signals};
use crate::audio::format::{FRAME_MS, Format};
use crate::audio::pacer::Pacer;
use crate::audio::pipe;
use crate::audio::warm::Warm;
use crate::bell::{self, Bell};
use crate::engine::ahead::Ahead;
use crate::engine::library::SourceId;
use crate::engine::timeline::TimelineWriter;
use crate::engine::{BalanceAnswer, Engine, Event, EventKind, Request};
use crate::scenario::Scenario;
use crate::watch::Reloaded;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufWriter};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Largest single write: pipes keep writes up to 4096 bytes atomic.
const MAX_WRITE: usize = 4096;
/// The pipe buffer holdmix asks for: room for the largest lead plus a write,
/// in whole pages, instead of the default 64 KiB (4 s of slin).
const PIPE_SIZE: usize = 16 * 1024;
/// Events waiting between the reader thread and the audio thread.
const EVENT_CHANNEL: usize = 256;
/// When start-up pages are dropped: one second into the stream.
const TRIM_AFTER_FRAMES: u64 = 50;
/// Signals that end a run (Asterisk sends SIGHUP, then SIGTERM, then SIGKILL).
pub(crate) const STOP_SIGNALS: [i32; 3] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];

pub struct RunOptions {
    pub playlist: Option<PathBuf>,
    pub format: Format,
    /// `-` for stdin, or a file / FIFO to read event lines from.
    pub events: Option<PathBuf>,
    pub timeline: Option<PathBuf>,
    /// Audio kept queued in the pipe; `None` learns it from the reader.
    pub lead: Option<Duration>,
    /// This call's events from Asterisk's manager interface.
    pub ami: Option<crate::ami::client::AmiConfig>,
    /// A `holdmix hub` socket to take the call's events from.
    pub hub: Option<PathBuf>,
    pub channel: Option<String>,
    pub uniqueid: Option<String>,
    /// The caller's number, for billing lookups.
    pub caller: Option<String>,
    /// Where call checkpoints live (`None`: the default tmpfs directory).
    pub state_dir: Option<PathBuf>,
    /// Exit when nobody has read the stream for this long (`None`: never).
    pub orphan_after: Option<Duration>,
    /// The caller memory store (`None`: off).
    pub store: Option<crate::store::StoreOptions>,
    /// `--uniqueid` was on the command line (a realtime row's), not taken
    /// from the environment.
    pub uniqueid_in_argv: bool,
    /// `--caller` was on the command line, not taken from `PHONE`.
    pub caller_in_argv: bool,
}

/// A checkpoint's snapshot is rewritten at least this often (and whenever
/// something happened); in between, only stream time and music offset.
const SNAPSHOT_EVERY_FRAMES: u64 = 50;

/// Runs until a signal, a hangup event, or the reader going away. Returns the
/// reason, for the log line.
pub fn run(opts: &RunOptions, cache: &Cache) -> Result<String> {
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in STOP_SIGNALS {
        signal_hook::flag::register_usize(sig, signal.clone(), sig as usize)?;
    }

    let format = opts.format;
    let rate = format.rate();
    let scenario = load_scenario(opts.playlist.as_deref());
    let state = CallState::open(opts);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let snap = state
        .as_ref()
        .and_then(|s| s.dir.load(&s.uniqueid))
        .filter(|snap| snap.resumable(now_ms));
    // Through a hub, Asterisk itself says whose call a Uniqueid is.
    let hub = opts.hub.as_deref().and_then(|h| {
        // With a Uniqueid of its own, the hub's word on the channel is the
        // only one: not `CHANNEL` from the environment.
        let channel = opts.channel.as_deref().filter(|_| !opts.uniqueid_in_argv);
        crate::ami::hub::subscribe(h, channel, opts.uniqueid.as_deref())
    });
    if opts.hub.is_some() && hub.is_none() {
        tracing::warn!("no hub answers: using a session of our own");
    }
    let (caller, verified) = who(opts, hub.as_ref());
    // Caller memory only for a trusted number: never read or overwrite
    // another caller's.
    let (store, memory) = start_store(opts, caller.as_deref().filter(|_| verified), snap.is_some());
    let mut engine = match (&snap, &memory) {
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
    let mut checkpoint: Option<crate::state::Checkpoint> = None;
    let mut checkpoint_tried = false;
    let mut remembered_track = engine.playing_track();
    let mut snapshot_at = 0u64;
    // With no billing configured (and no event feed to answer), a balance
    // lookup fails at once: the caller hears "service unavailable".
    let answer_balance = opts.events.is_none();
    let billing_cfg = scenario.billing.clone();
    let first = engine.first_needed();
    let pending = engine.library_mut().map_cached(cache, rate, &first);
    // Helper threads must not take the stop signals: only a handler running
    // on the audio thread cuts its sleep short.
    let bell = Bell::new();
    let (reload_tx, reloads) = bell.channel::<Reloaded>();
    block_signals(&STOP_SIGNALS, true);
    let loaders: Vec<Loaded> = spawn_loader(&engine, pending, cache, rate, &bell)
        .into_iter()
        .collect();
    // Keys and queue events, from the event feed and from AMI, in one queue.
    let (event_tx, event_rx) = bell.sync_channel(EVENT_CHANNEL);
    if let Some(src) = opts.events.as_deref() {
        spawn_event_reader(src, opts.playlist.clone(), reload_tx.clone(), event_tx.clone());
    }
    let (ami_tx, ami_rx) = mpsc::channel();
    let started = match hub {
        Some(sub) => crate::ami::client::spawn_via_hub(
            sub,
            verified,
            opts.channel.clone().filter(|_| !opts.uniqueid_in_argv),
            opts.uniqueid.clone(),
            opts.ami.clone(),
            event_tx.clone(),
            ami_rx,
        ),
        None => match &opts.ami {
            Some(cfg) => crate::ami::client::spawn(cfg.clone(), event_tx.clone(), ami_rx),
            None => Ok(()),
        },
    };
    if let Err(e) = started {
        tracing::error!("cannot start following the call: {e}");
    }
    // Billing answers come back through the same queue as keys.
    let billing = billing_cfg
        .clone()
        .map(|b| crate::billing::Lookups::new(b, caller.clone(), event_tx.clone()));
    let mut inbox = Inbox {
        bell,
        loaders,
        reloads,
        events: event_rx,
        billing_cfg,
        billing,
        caller: caller.clone(),
        billing_tx: event_tx,
        answer_balance,
        ami_tx,
        cache,
        rate,
    };
    // Set when the audio thread polls the playlist itself (see watch).
    let mut poller = None;
    if let Some(p) = &opts.playlist {
        match crate::watch::start(p, reload_tx.clone()) {
            Ok(w) => poller = w,
            Err(e) => tracing::warn!(playlist = %p.display(), "cannot watch the playlist for changes: {e}"),
        }
    }
    block_signals(&STOP_SIGNALS, false);
    let mut timeline = match &opts.timeline {
        Some(p) => Some(TimelineWriter::new(BufWriter::new(
            File::create(p).with_context(|| format!("{}: cannot create timeline", p.display()))?,
        ))),
        None => None,
    };

    let out = std::io::stdout();
    let fd = out.as_raw_fd();
    let is_pipe = pipe::is_pipe(fd);
    if is_pipe {
        // Non-blocking: a stalled reader never blocks the audio thread, and a
        // write of at most 4096 bytes is then all or nothing.
        pipe::set_nonblocking(fd).context("stdout non-blocking")?;
        if let Err(e) = pipe::set_pipe_size(fd, PIPE_SIZE) {
            tracing::debug!("cannot shrink the pipe: {e}");
        }
    }
    let frame = Duration::from_millis(u64::from(FRAME_MS));
    let lead = opts
        .lead
        .map(|d| (d.as_nanos().div_ceil(frame.as_nanos()) as usize).max(1));
    let mut pacer = Pacer::new(format.frame_bytes(), is_pipe, lead);
    if state.is_some() {
        pacer.verify_every(crate::audio::pacer::VERIFY_TICKS_CHECKPOINTED);
    }
    let mut clock = Clock::new(frame * pacer.period_frames() as u32);
    let mut samples = vec![0.0f32; engine.frame_len()];
    // Frames rendered ahead while the engine is calm (see Ahead).
    let mut ahead = Ahead::new(&engine, format);
    tracing::info!(format = ?format, pipe = is_pipe, "streaming");

    let mut trimmed = false;
    // Asterisk can lose a generator (a start and a stop in the same few
    // ms): it never signals it nor reads it again. Nothing read for this
    // long means nobody will.
    let orphan_frames = opts
        .orphan_after
        .filter(|_| is_pipe)
        .map(|d| (d.as_millis() / u128::from(FRAME_MS)).max(1) as u64);
    let mut last_drained = 0u64;
    // The lines the next tick touches, fetched at once at the wake (see Warm).
    let mut warm = Warm::default();
    let reason = 'stream: loop {
        warm.fetch();
        // Something was sent to this thread (a key, a reload, a source).
        if inbox.bell.answer() {
            ahead.rewind(&mut engine);
            inbox.take_mail(&mut engine);
        }
        // Measured only when the pacer cannot predict it (see Pacer).
        let measured = (is_pipe && pacer.must_measure()).then(|| pipe::queued_bytes(fd).unwrap_or(0));
        if engine.has_requests() {
            ahead.rewind(&mut engine);
            inbox.serve_requests(&mut engine);
        }
        let wall = clock.units_at_wake(frame);
        let plan = pacer.plan(measured, wall);
        let queued = plan.queued;
        if plan.skip > 0 {
            ahead.skip(&mut engine, &mut samples, plan.skip);
            tracing::warn!(frames = plan.skip, "reader stalled: skipping to the present");
        }
        let fb = format.frame_bytes();
        let written = match write_frames(fd, ahead.take(&mut engine, &mut samples, plan.write), fb) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break 'stream "reader-gone".to_string(),
            Err(e) => {
                tracing::error!("write failed: {e}");
                break 'stream "write-error".to_string();
            }
        };
        // What the pipe holds now, without a second FIONREAD: a read racing
        // the write is then counted at the next tick instead (see Pacer).
        pacer.wrote(written, queued + written * format.frame_bytes());
        if !trimmed && wall >= TRIM_AFTER_FRAMES {
            // Start-up is over (the loader has mapped the cache by now):
            // its code is no longer needed.
            trimmed = true;
            let d = crate::footprint::drop_startup_pages();
            tracing::debug!(
                mappings = d.mappings,
                kib = d.resident_kib,
                "dropped start-up pages"
            );
        }
        if written > 0 {
            last_drained = wall;
        } else if let Some(limit) = orphan_frames
            && wall.saturating_sub(last_drained) >= limit
        {
            tracing::warn!(
                channel = opts.channel.as_deref().unwrap_or("-"),
                "nobody has read the stream for {:?}: an orphaned generator, exiting",
                opts.orphan_after.unwrap_or_default()
            );
            break 'stream "orphaned".to_string();
        }
        if is_pipe && written == 0 && pipe::reader_gone(fd) {
            // Nothing written (the pipe is full), so no EPIPE could tell us.
            break 'stream "reader-gone".to_string();
        }
        let happened = engine.has_timeline();
        if happened {
            write_timeline(&mut engine, timeline.as_mut());
        }
        // A new track (the caller's choice, or the list going on) is
        // remembered at once, not only at exit: a SIGKILL keeps it too.
        if happened
            && let (Some(st), Some(number)) = (&store, &caller)
            && engine.playing_track() != remembered_track
        {
            remembered_track = engine.playing_track();
            st.put(number, &engine.memory());
        }
        // Only what was written is checkpointed: a generator nobody reads
        // does not move the call on.
        if written > 0
            && let Some(s) = &state
        {
            if checkpoint.is_none() && !checkpoint_tried {
                // Once: a directory that refuses it is logged, not retried per tick.
                checkpoint_tried = true;
                checkpoint = s.writer();
            }
            if let Some(c) = &mut checkpoint {
                let frames = engine.frames();
                // Rendered and not heard: in the pipe and ready here.
                let unread = (queued / format.frame_bytes() + written + ahead.ready()) as u64;
                if happened || frames >= snapshot_at + SNAPSHOT_EVERY_FRAMES {
                    c.write(&heard_so_far(engine.snapshot(), unread, engine.frame_len()));
                    snapshot_at = frames;
                } else {
                    let (at, offset) = engine.progress();
                    let back = unread * u64::from(FRAME_MS);
                    c.write_fast(
                        at.saturating_sub(back),
                        offset.saturating_sub(unread * engine.frame_len() as u64),
                    );
                }
            }
        }
        if let Some(r) = engine.exit_reason() {
            break 'stream r.to_string();
        }
        let realign = pacer.take_realign();
        clock.set_period(frame * pacer.period_frames() as u32, realign);
        // After the write: rendering ahead never delays it.
        ahead.fill(&mut engine, &mut samples);
        if let Some(p) = &mut poller {
            p.poll_due(frame * wall as u32);
        }
        warm.clear();
        let period = pacer.period_frames();
        if ahead.ready() < period {
            engine.note_hot(&mut warm);
            warm.add(&samples[..]);
        }
        ahead.note_hot(period, &mut warm);
        warm.add(&pacer);
        warm.add(&clock);
        warm.add(&*signal);
        inbox.bell.note_hot(&mut warm);
        // A signal landing between this check and the sleep is seen at the
        // next tick, at most one period (40 ms) later.
        while signal.load(Ordering::SeqCst) == 0 && clock.wait() == Wake::Interrupted {}
        let sig = signal.load(Ordering::SeqCst);
        if sig != 0 {
            break 'stream signal_name(sig).to_string();
        }
    };
    // The engine goes back to what was written: the exit's time, the
    // checkpoint and the caller's memory are of what was heard.
    ahead.rewind(&mut engine);
    engine.finish(&reason);
    if let Some(s) = &state {
        if reason == "hangup" {
            // The call is over: nothing to resume.
            s.dir.forget(&s.uniqueid);
        } else if reason == "orphaned" {
            // Its engine ran on unheard: the checkpoint of what was read stays.
        } else if let Some(c) = &mut checkpoint {
            let unread = if is_pipe {
                pipe::queued_bytes(fd).unwrap_or(0) / format.frame_bytes()
            } else {
                0
            };
            c.write(&heard_so_far(
                engine.snapshot(),
                unread as u64,
                engine.frame_len(),
            ));
        }
        s.dir.sweep();
    }
    if let (Some(st), Some(number)) = (&store, &caller)
        && reason != "orphaned"
    {
        st.put(number, &engine.memory());
        // Inside Asterisk's kill window (SIGHUP, then SIGKILL 200 ms later).
        if !st.store.flush(STORE_FLUSH) {
            tracing::warn!("caller memory not written before exit");
        }
    }
    if let Some(t) = &mut timeline {
        t.write(&engine.drain_timeline().collect::<Vec<_>>()).ok();
        t.flush().ok();
    }
    tracing::info!(reason = %reason, frames = pacer.written(), read_frames = ?pacer.read_frames(), "exit");
    Ok(reason)
}

/// The caller's number, and whether it can be trusted to be this call's.
///
/// - A `--uniqueid` on the command line can only have come from the call's
///   own realtime row (Asterisk substitutes nothing in a static class's
///   `application`), so what the hub says of it is this call's, and only
///   that counts: no value from the environment.
/// - A `--caller` on the command line is the operator's word.
/// - A number from `PHONE` may be another call's (`ENV()` is process-wide):
///   untrusted until AMI confirms it.
fn who(opts: &RunOptions, hub: Option<&crate::ami::hub::Subscription>) -> (Option<String>, bool) {
    if let Some(sub) = hub.filter(|s| opts.uniqueid_in_argv && !s.channel.is_empty()) {
        let known = (!sub.caller.is_empty()).then(|| sub.caller.clone());
        if opts.caller_in_argv && opts.caller != known {
            tracing::warn!("the caller given is not the call's: no personal announcements");
            return (None, false);
        }
        tracing::info!(channel = %sub.channel, "identity from Asterisk through the hub");
        return (known, true);
    }
    (opts.caller.clone(), opts.caller_in_argv && opts.caller.is_some())
}

/// How long the exit waits for the caller memory to be written.
const STORE_FLUSH: Duration = Duration::from_millis(100);

/// Opens the caller memory store when the caller's number is known, and
/// reads what it remembers. A resumed call already has it all: the store is
/// then only for writing, and nothing waits for it.
fn start_store(
    opts: &RunOptions,
    caller: Option<&str>,
    resumed: bool,
) -> (Option<CallerStore>, Option<crate::engine::memory::Memory>) {
    let (Some(number), Some(store_opts)) = (caller, opts.store.as_ref()) else {
        return (None, None);
    };
    let mut o = store_opts.clone();
    if resumed {
        o.start_timeout = Duration::ZERO;
    }
    // The store's thread must not take the stop signals.
    block_signals(&STOP_SIGNALS, true);
    let (store, record) = crate::store::Store::start(&o, Some(number));
    block_signals(&STOP_SIGNALS, false);
    let Some(r) = record.filter(|_| !resumed) else {
        let earlier = BTreeMap::new();
        return (Some(CallerStore { store, earlier }), None);
    };
    let memory = crate::engine::memory::Memory {
        music: r.music.map(PathBuf::from),
        offset: Duration::from_millis(r.offset_ms),
        heard: r.heard.keys().map(PathBuf::from).collect(),
    };
    (
        Some(CallerStore {
            store,
            earlier: r.heard,
        }),
        Some(memory),
    )
}

/// The caller store of a call, and when the advices remembered from
/// earlier calls were heard (kept as they were: re-stamping them would
/// make the window slide forever for a caller who calls every day).
struct CallerStore {
    store: crate::store::Store,
    earlier: BTreeMap<String, i64>,
}

impl CallerStore {
    fn put(&self, number: &str, m: &crate::engine::memory::Memory) {
        let now = crate::store::unix_now();
        let rec = crate::store::CallerRecord {
            music: m.music.as_ref().map(|p| p.to_string_lossy().into_owned()),
            offset_ms: m.offset.as_millis() as u64,
            heard: m
                .heard
                .iter()
                .map(|p| {
                    let key = p.to_string_lossy().into_owned();
                    let at = self.earlier.get(&key).copied().unwrap_or(now);
                    (key, at)
                })
                .collect(),
        };
        self.store.put_caller(number, rec);
    }
}

/// The snapshot as of what the reader took: the frames still in the pipe
/// were never heard, so the next process plays them. (Only time and music
/// offset move back; a prompt started in them counts as said.)
fn heard_so_far(
    mut snap: crate::engine::snapshot::Snapshot,
    unread: u64,
    frame_len: usize,
) -> crate::engine::snapshot::Snapshot {
    snap.at_ms = snap.at_ms.saturating_sub(unread * u64::from(FRAME_MS));
    if let Some(m) = &mut snap.music {
        m.offset = m.offset.saturating_sub(unread * frame_len as u64);
    }
    snap
}

/// Where this call's checkpoints go, when it has a Uniqueid.
struct CallState {
    dir: crate::state::StateDir,
    uniqueid: String,
}

impl CallState {
    fn open(opts: &RunOptions) -> Option<CallState> {
        // A Uniqueid from the environment may be another call's: resuming
        // (or forgetting) that call's state is worse than starting over.
        let uniqueid = opts.uniqueid.clone().filter(|_| opts.uniqueid_in_argv)?;
        match crate::state::StateDir::open(opts.state_dir.as_deref()) {
            Ok(dir) => Some(CallState { dir, uniqueid }),
            Err(e) => {
                tracing::warn!("{e}; a respawn of this call will start over");
                None
            }
        }
    }

    fn writer(&self) -> Option<crate::state::Checkpoint> {
        self.dir
            .writer(&self.uniqueid)
            .map_err(|e| tracing::warn!("cannot keep the call's state: {e}"))
            .ok()
    }
}

fn signal_name(sig: usize) -> &'static str {
    match sig as i32 {
        libc::SIGHUP => "sighup",
        libc::SIGTERM => "sigterm",
        libc::SIGINT => "sigint",
        _ => "signal",
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

type Loaded = mpsc::Receiver<(SourceId, Result<Arc<Clip>, String>)>;

/// Moves what happened to the timeline file, if any (out of line: most
/// ticks have nothing).
#[cold]
#[inline(never)]
fn write_timeline(engine: &mut Engine, file: Option<&mut TimelineWriter<BufWriter<File>>>) {
    let entries: Vec<_> = engine.drain_timeline().collect();
    if let Some(t) = file {
        t.write(&entries).ok();
        t.flush().ok();
    }
}

/// What reaches the audio thread from elsewhere (keys, queue events,
/// billing answers, reloads, decoded sources) and what it asks of others
/// (lookups, redirects). Both are rare next to the ticks, so they live out
/// of line: the tick's own code stays small (see [`crate::bell`]).
struct Inbox<'a> {
    bell: Bell,
    loaders: Vec<Loaded>,
    reloads: mpsc::Receiver<Reloaded>,
    events: mpsc::Receiver<EventKind>,
    billing_cfg: Option<crate::billing::BillingConfig>,
    billing: Option<crate::billing::Lookups>,
    caller: Option<String>,
    billing_tx: bell::SyncSender<EventKind>,
    /// No billing and no event feed: a lookup fails at once.
    answer_balance: bool,
    ami_tx: mpsc::Sender<crate::ami::client::Command>,
    cache: &'a Cache,
    rate: u32,
}

impl Inbox<'_> {
    #[cold]
    #[inline(never)]
    fn take_mail(&mut self, engine: &mut Engine) {
        self.loaders.retain(|l| take_loaded(l, engine));
        for r in self.reloads.try_iter() {
            match r {
                Ok(s) => {
                    if s.billing != self.billing_cfg {
                        self.billing_cfg = s.billing.clone();
                        self.billing = self.billing_cfg.clone().map(|b| {
                            crate::billing::Lookups::new(b, self.caller.clone(), self.billing_tx.clone())
                        });
                    }
                    let added = engine.reload(&s);
                    block_signals(&STOP_SIGNALS, true);
                    self.loaders
                        .extend(spawn_loader(engine, added, self.cache, self.rate, &self.bell));
                    block_signals(&STOP_SIGNALS, false);
                }
                Err(reason) => engine.reload_refused(&reason),
            }
        }
        for kind in self.events.try_iter() {
            let at = engine.now();
            engine.push(Event { at, kind });
        }
    }

    #[cold]
    #[inline(never)]
    fn serve_requests(&mut self, engine: &mut Engine) {
        for r in engine.take_requests().collect::<Vec<_>>() {
            match r {
                Request::Balance if self.billing.is_some() => {
                    if let Some(b) = &mut self.billing {
                        // The lookup thread must not take the stop signals.
                        block_signals(&STOP_SIGNALS, true);
                        b.ask();
                        block_signals(&STOP_SIGNALS, false);
                    }
                }
                Request::Balance if self.answer_balance => {
                    let at = engine.now();
                    engine.push(Event {
                        at,
                        kind: EventKind::Balance(BalanceAnswer::Failed),
                    });
                }
                Request::Balance => {}
                // Nobody listens without --ami: the redirect is in the timeline only.
                Request::Redirect(to) => {
                    self.ami_tx.send(crate::ami::client::Command::Redirect(to)).ok();
                }
            }
        }
    }
}

/// Hands the sources a loader finished to the engine. False once the loader
/// is done and gone: its channel need not be polled again.
fn take_loaded(loaded: &Loaded, engine: &mut Engine) -> bool {
    loop {
        match loaded.try_recv() {
            Ok((id, Ok(clip))) => engine.library_mut().set_ready(id, clip),
            Ok((id, Err(e))) => {
                tracing::error!("cannot use audio file: {e}");
                engine.library_mut().set_failed(id);
            }
            Err(mpsc::TryRecvError::Empty) => return true,
            Err(mpsc::TryRecvError::Disconnected) => return false,
        }
    }
}

/// Decodes the sources the cache did not have, in the order they are needed.
fn spawn_loader(
    engine: &Engine,
    pending: Vec<SourceId>,
    cache: &Cache,
    rate: u32,
    bell: &Bell,
) -> Option<Loaded> {
    if pending.is_empty() {
        return None;
    }
    let jobs: Vec<(SourceId, PathBuf)> = pending
        .iter()
        .map(|&id| (id, engine.library().path(id).to_path_buf()))
        .collect();
    let cache = cache.clone();
    let (tx, rx) = bell.channel();
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("loader".into())
        .spawn(move || {
            let _g = span.enter();
            for (id, path) in jobs {
                let r = cache
                    .load(&path, rate)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"));
                if tx.send((id, r)).is_err() {
                    break;
                }
            }
        })
        .ok()?;
    Some(rx)
}

/// Reads event lines (`dtmf 3`) from stdin or a file; bad lines are logged.
/// A `reload` line re-reads the playlist (or the file it names) here, off
/// the audio thread.
fn spawn_event_reader(
    source: &std::path::Path,
    playlist: Option<PathBuf>,
    reloads: bell::Sender<Reloaded>,
    tx: bell::SyncSender<EventKind>,
) {
    let source = source.to_path_buf();
    let span = tracing::Span::current();
    let spawned = std::thread::Builder::new().name("events".into()).spawn(move || {
        let _g = span.enter();
        let input: Box<dyn BufRead> = if source.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match File::open(&source) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    tracing::error!(file = %source.display(), "cannot read events: {e}");
                    return;
                }
            }
        };
        let mut lines = BoundedLines::new(input);
        let mut n = 0usize;
        while let Some(line) = lines.next_line() {
            n += 1;
            let Some(line) = line else {
                tracing::warn!("events line {n}: longer than {MAX_EVENT_LINE} bytes, skipped");
                continue;
            };
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match EventKind::parse(text) {
                Ok(EventKind::Reload(path)) => match path.map(PathBuf::from).or_else(|| playlist.clone()) {
                    Some(p) => crate::watch::reload_now(&p, &reloads),
                    None => tracing::warn!("events line {n}: no playlist to reload"),
                },
                Ok(kind) => {
                    if let Err(mpsc::TrySendError::Disconnected(_)) = tx.try_send(kind) {
                        break;
                    }
                }
                Err(e) => tracing::warn!("events line {n}: {e:#}"),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the event reader: {e}");
    }
}

/// Longest event line kept (`dtmf 3` is 6 bytes; a path for `reload` fits).
const MAX_EVENT_LINE: usize = 4096;

/// Lines of at most [`MAX_EVENT_LINE`] bytes: a writer that never sends a
/// newline cannot make the reader buffer without limit (`BufRead::split`
/// would). `Some(None)` is a line that was too long and skipped.
struct BoundedLines<R: BufRead> {
    input: R,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(input: R) -> Self {
        BoundedLines { input }
    }

    fn next_line(&mut self) -> Option<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            };
            if buf.is_empty() {
                // End of input: a last line without a newline still counts.
                return (!line.is_empty() || too_long).then_some((!too_long).then_some(line));
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if line.len() + chunk.len() > MAX_EVENT_LINE {
                too_long = true;
                line.clear();
            } else if !too_long {
                line.extend_from_slice(chunk);
            }
            let used = done.unwrap_or(buf.len());
            self.input.consume(used);
            if done.is_some() {
                return Some((!too_long).then_some(line));
            }
        }
    }
}

/// Writes whole frames in writes of at most 4096 bytes. Returns the frames
/// written; a full pipe (EAGAIN) drops the rest rather than blocking.
fn write_frames(fd: i32, bytes: &[u8], frame_bytes: usize) -> std::io::Result<usize> {
    let chunk = (MAX_WRITE / frame_bytes) * frame_bytes;
    let mut done = 0;
    while done < bytes.len() {
        let end = (done + chunk).min(bytes.len());
        match pipe::write_once(fd, &bytes[done..end]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tracing::warn!(bytes = bytes.len() - done, "pipe full: dropping audio");
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done / frame_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let mut input = b"dtmf 1\n".to_vec();
        input.extend(vec![b'x'; MAX_EVENT_LINE * 3]);
        input.extend(b"\ndtmf 2\nlast");
        let mut lines = BoundedLines::new(std::io::BufReader::with_capacity(64, &input[..]));
        assert_eq!(lines.next_line(), Some(Some(b"dtmf 1".to_vec())));
        assert_eq!(lines.next_line(), Some(None));
        assert_eq!(lines.next_line(), Some(Some(b"dtmf 2".to_vec())));
        assert_eq!(lines.next_line(), Some(Some(b"last".to_vec())));
        assert_eq!(lines.next_line(), None);
    }
}
