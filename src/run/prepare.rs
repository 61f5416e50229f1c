//! Everything a call needs before its first note, made on a thread of its
//! own: the playlist (read, parsed, globs walked), the call's checkpoint,
//! the hub's word on whose call it is, the caller's memory and the engine.
//!
//! Any of these can take long or hang (a playlist on a FIFO, a hung NFS
//! share, a `**` over a huge tree, a database that does not answer). The
//! audio thread must not: Asterisk reads a frame every 20 ms and kills a
//! generator that ignores SIGHUP within 200 ms. So the audio thread waits
//! for this one for at most a frame, then writes silence and takes signals
//! while it goes on (see `Stream::start`).

use super::checkpoint::Checkpoints;
use super::identity::who;
use super::memory::CallerMemory;
use super::signals::unsignalled;
use super::timeline::Sink;
use super::timeline_file::{CallTimeline, TimelineDir};
use crate::config::CallIdentity;
use crate::engine::Engine;
use crate::engine::library::SourceId;
use crate::hub::follow::HubLink;
use crate::scenario::Scenario;
use crate::store::StoreOptions;
use anyhow::Context;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;

/// What the preparation needs, owned: the thread may outlive the call.
pub struct Needs {
    pub playlist: Option<PathBuf>,
    pub identity: CallIdentity,
    pub state_dir: Option<PathBuf>,
    pub hub: Option<PathBuf>,
    /// This call's token for the hub (from its realtime row).
    pub hub_token: Option<String>,
    /// The hub hosting the call (`hub --audio`): greeted and fed
    /// in-process, not over `hub`'s socket.
    pub hosted_by: Option<crate::hub::Local>,
    pub store: Option<StoreOptions>,
    pub rate: u32,
    /// `--language`: the route's language choice.
    pub language: Option<String>,
    /// `--timeline`: created here, since a FIFO's open may wait.
    pub timeline: Option<PathBuf>,
    /// `--timeline-dir`: the call's own file there, opened here too.
    pub timeline_dir: Option<TimelineDir>,
    /// The call's log span, so the preparation's lines are the call's.
    pub span: tracing::Span,
}

/// A call ready to stream.
pub struct Prepared {
    pub scenario: Scenario,
    pub engine: Engine,
    pub checkpoints: Option<Checkpoints>,
    pub memory: Option<CallerMemory>,
    /// The link to the hub for this call, if one is configured.
    pub hub: Option<HubLink>,
    pub caller: Option<String>,
    pub verified: bool,
    /// The sources the first seconds play.
    pub first: Vec<SourceId>,
    /// The timeline file asked for (an error of `--timeline` ends the run:
    /// it was asked for; one of `--timeline-dir` is logged and the call
    /// streams on without it).
    pub timeline: anyhow::Result<Option<Sink>>,
}

/// Starts the preparation; its result arrives on the receiver. The thread
/// never takes the stop signals (they must cut the audio thread's sleep).
pub fn spawn(needs: Needs) -> std::io::Result<mpsc::Receiver<Prepared>> {
    let (tx, rx) = mpsc::sync_channel(1);
    unsignalled(|| {
        std::thread::Builder::new().name("prepare".into()).spawn(move || {
            // A bug here must not cost the caller the stream: silence.
            let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(&needs)))
                .unwrap_or_else(|_| {
                    tracing::error!("preparing the call failed: streaming silence");
                    silent(needs.rate)
                });
            // The receiver is gone only when the call ended first.
            tx.send(p).ok();
        })
    })?;
    Ok(rx)
}

/// The preparation itself, in order: each step may use what the ones
/// before it found.
pub fn prepare(n: &Needs) -> Prepared {
    let _span = n.span.enter();
    let scenario = load_scenario(n.playlist.as_deref());
    // Through a hub, Asterisk itself says whose call a Uniqueid is (and
    // what the call is known by across channels: its checkpoints' key).
    // The greeting may be held (a just-started hub, a call not seen yet):
    // here, not on the audio thread (a host's pacing thread included).
    let hub = match (&n.hosted_by, n.hub.as_deref()) {
        (Some(local), _) => Some(crate::hub::follow::subscribe_hosted(
            local,
            n.identity.channel_to_follow(),
        )),
        (None, Some(h)) => Some(crate::hub::follow::subscribe(
            h,
            n.identity.uniqueid(),
            n.hub_token.as_deref(),
        )),
        (None, None) => None,
    };
    let sub = hub.as_ref().and_then(HubLink::subscription);
    let hub_key = sub.map(|s| s.call_key.as_str());
    let checkpoints = Checkpoints::open(&n.identity, hub_key, n.state_dir.as_deref());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let snap = checkpoints.as_ref().and_then(|c| c.resumable(now_ms));
    let (caller, verified) = who(&n.identity, sub);
    // Caller memory only for a trusted number: never read or overwrite
    // another caller's.
    // The old hack's `queue_music` may keep an index into the track list.
    let store = n.store.clone().map(|mut o| {
        o.tracks = scenario
            .music
            .tracks
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        o
    });
    let (mut memory, remembered) = match CallerMemory::open(
        store.as_ref(),
        caller.as_deref().filter(|_| verified),
        snap.is_some(),
    ) {
        Some((m, r)) => (Some(m), r),
        None => (None, None),
    };
    let mut engine = match (&snap, &remembered) {
        (Some(snap), _) => {
            tracing::info!(from_ms = snap.at_ms, "resuming the call");
            Engine::resume(&scenario, n.rate, snap, now_ms)
        }
        // Random orders differ from call to call.
        (None, Some(m)) => Engine::remembering(&scenario, n.rate, fastrand::u64(..), m),
        (None, None) => Engine::new(&scenario, n.rate, fastrand::u64(..)),
    };
    // The route's language; the caller's own (remembered) outranks it.
    if let Some(code) = &n.language {
        engine.choose_language(code, crate::engine::language::LanguageBy::Route);
    }
    // Nothing personal until the identity is trusted (AMI may confirm later).
    engine.set_personal(verified);
    if let Some(m) = &mut memory {
        m.follow(&engine);
    }
    let first = engine.first_needed();
    let timeline = match (&n.timeline, &n.timeline_dir) {
        (Some(p), _) => File::create(p)
            .with_context(|| format!("{}: cannot create timeline", p.display()))
            .map(|f| Some(Sink::plain(f, p.clone()))),
        (None, Some(d)) => {
            Ok(CallTimeline::open(d, n.identity.uniqueid(), chrono::Utc::now()).map(Sink::Call))
        }
        (None, None) => Ok(None),
    };
    Prepared {
        scenario,
        engine,
        checkpoints,
        memory,
        hub,
        caller,
        verified,
        first,
        timeline,
    }
}

/// A call with nothing to play, and nothing of the caller's.
fn silent(rate: u32) -> Prepared {
    let scenario = Scenario::empty();
    let engine = Engine::new(&scenario, rate, 0);
    Prepared {
        scenario,
        engine,
        checkpoints: None,
        memory: None,
        hub: None,
        caller: None,
        verified: false,
        first: Vec::new(),
        timeline: Ok(None),
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
