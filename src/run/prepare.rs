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
use super::reload::{self, Watch};
use super::signals::unsignalled;
use super::timeline::Sink;
use super::timeline_file::{CallTimeline, TimelineDir};
use crate::audio::cache::Cache;
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
    /// `--hub-hung`: `hub` stopped writing this call; no greeting to wait for.
    pub hub_hung: bool,
    /// `--hub-checkpoints`: the name a hub kept the call's checkpoints under.
    pub hub_checkpoints: Option<String>,
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
    /// Where the first sources are mapped from.
    pub cache: Cache,
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
    /// The sources not mapped yet (those the first seconds play first),
    /// for the loader thread.
    pub pending: Vec<SourceId>,
    /// The playlist's watch, to start after the first write.
    pub watch: Option<Watch>,
    /// The timeline file asked for (an error of `--timeline` ends the run:
    /// it was asked for; one of `--timeline-dir` is logged and the call
    /// streams on without it).
    pub timeline: anyhow::Result<Option<Sink>>,
}

/// Starts the preparation; its result arrives on the receiver. The thread
/// never takes the stop signals (they must cut the audio thread's sleep).
/// A hosted call's runs on a thread the hub keeps (`util::workers`).
pub fn spawn(needs: Needs) -> std::io::Result<mpsc::Receiver<Prepared>> {
    let (tx, rx) = mpsc::sync_channel(1);
    let hosted = needs.hosted_by.is_some();
    let job = move || {
        // A bug here must not cost the caller the stream: silence.
        let p =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(&needs))).unwrap_or_else(|_| {
                tracing::error!("preparing the call failed: streaming silence");
                silent(needs.rate)
            });
        // The receiver is gone only when the call ended first.
        tx.send(p).ok();
    };
    unsignalled(|| crate::util::workers::start("prepare", hosted, job))?;
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
            !n.hub_hung,
        )),
        (None, None) => None,
    };
    let sub = hub.as_ref().and_then(HubLink::subscription);
    let hub_key = sub.map(|s| s.call_key.as_str());
    let mut checkpoints = Checkpoints::open(
        &n.identity,
        hub_key,
        n.hub_checkpoints.as_deref(),
        n.state_dir.as_deref(),
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    let snap = checkpoints.as_ref().and_then(|c| c.resumable(now_ms));
    // Its own file now, not at the first write (on the stream's thread).
    if let Some(c) = &mut checkpoints {
        c.create_file();
    }
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
    // The first seconds' sources mapped (and checked) here, off the
    // stream's thread: a hub's pacing thread starting a dead hub's
    // thousand calls spent a tenth of its time on them.
    let first = engine.first_needed();
    let pending = crate::sources::map_cached(engine.library_mut(), &n.cache, n.rate, &first);
    let watch = n.playlist.as_deref().map(reload::prepare);
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
        pending,
        watch,
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
        pending: Vec::new(),
        watch: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::engine::library::Slot;
    use clap::Parser;

    /// The preparation does what the stream's thread did at its start:
    /// the first sources mapped from the cache (none left pending), the
    /// call's checkpoint file made, the playlist's watch ready. The file,
    /// never written, goes with the prepared call.
    #[test]
    fn the_preparation_maps_the_first_sources_and_makes_the_checkpoint_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.join("m.wav"), spec).unwrap();
        for i in 0..16_000 {
            w.write_sample(((i as f32 * 0.2).sin() * 8000.0) as i16).unwrap();
        }
        w.finalize().unwrap();
        let pl = dir.join("p.toml");
        std::fs::write(&pl, "[music]\ntracks = [\"m.wav\"]\n").unwrap();
        let cache = Cache::open(Some(&dir.join("cache")));
        cache.load(&dir.join("m.wav"), 8000).unwrap();
        let calls = dir.join("calls");
        let argv = ["holdmix", "run", "--uniqueid", "1796000000.7", "--playlist"];
        let rest = [pl.to_str().unwrap(), "--state-dir", calls.to_str().unwrap()];
        let cli = Cli::try_parse_from(argv.iter().chain(rest.iter())).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let cfg = crate::config::run(args, &|_| None, |_| Ok(String::new()));
        let p = prepare(&Needs {
            playlist: cfg.playlist.clone(),
            identity: cfg.identity.clone(),
            state_dir: cfg.state_dir.clone(),
            hub: None,
            hub_token: None,
            hub_hung: false,
            hub_checkpoints: None,
            hosted_by: None,
            store: None,
            rate: 8000,
            language: None,
            timeline: None,
            timeline_dir: None,
            span: tracing::Span::none(),
            cache,
        });
        let lib = p.engine.library();
        let track = lib.ids().find(|&id| lib.path(id).ends_with("m.wav")).unwrap();
        assert!(matches!(lib.slot(track), Slot::Ready { .. }));
        assert!(!p.pending.contains(&track), "{:?}", p.pending);
        assert!(p.watch.is_some());
        let own = calls.join("1796000000.7").join(std::process::id().to_string());
        assert!(own.exists(), "no checkpoint file at {}", own.display());
        drop(p);
        assert!(!own.exists(), "never written, left behind");
    }
}
