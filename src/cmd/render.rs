//! `holdmix render`: the engine on a virtual clock, faster than real time,
//! with scripted events, into a WAV or raw file — or, with `--mohqueue`,
//! into Kamailio mohqueue's looping files ([`crate::export::mohqueue`]).

use crate::audio::cache::Cache;
use crate::audio::format::Format;
use crate::audio::sink::Sink;
use crate::engine::timeline::{Entry, TimelineWriter};
use crate::engine::{BalanceAnswer, Engine, Event, EventKind, Request};
use crate::scenario::Scenario;
use crate::sources;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct RenderOptions {
    pub playlist: PathBuf,
    pub duration: Duration,
    pub output: PathBuf,
    pub format: Format,
    pub events: Vec<Event>,
    pub timeline: Option<PathBuf>,
    /// Local wall-clock time the call starts at (time-of-day windows).
    pub at: Option<chrono::NaiveDateTime>,
    /// Fixes every random order; `None` draws one.
    pub seed: Option<u64>,
    /// Draw the call as a PNG here, of this size.
    pub plot: Option<(PathBuf, u32, u32)>,
    /// The simulated caller's number, for billing lookups.
    pub caller: Option<String>,
    /// Write mohqueue's `mohfile.<payload type>` loops into this directory
    /// instead of `output`.
    pub mohqueue: Option<PathBuf>,
    /// With `mohqueue`: one subdirectory per route of this routes file.
    pub routes: Option<PathBuf>,
}

/// What a render produced.
#[derive(Debug)]
pub struct RenderSummary {
    pub frames: u64,
    pub exit: String,
}

pub fn render(opts: &RenderOptions, cache: &Cache) -> Result<RenderSummary> {
    if let Some(dir) = &opts.mohqueue {
        return crate::export::mohqueue::export(opts, dir, cache);
    }
    let format = opts.format;
    let mut sink = Sink::open(&opts.output, format)?;
    let mut bytes = Vec::with_capacity(format.frame_bytes());
    let summary = drive(opts, cache, format.rate(), opts.duration, &mut |samples| {
        bytes.clear();
        format.encode(samples, &mut bytes);
        sink.write(format, &bytes)
    })?;
    sink.finish()?;
    Ok(summary)
}

/// A simulated call's engine (`render`, `play`): the playlist loaded and
/// its problems logged, the random orders seeded (`seed`, else drawn), the
/// local start set for time-of-day windows, its sounds loaded; with the
/// playlist's billing and hold plan.
pub fn simulated_call(
    playlist: &Path,
    cache: &Cache,
    rate: u32,
    seed: Option<u64>,
    at: Option<chrono::NaiveDateTime>,
) -> Result<(
    Engine,
    Option<crate::billing::BillingConfig>,
    Option<crate::webhook::PlanConfig>,
)> {
    let loaded = Scenario::load(playlist)?;
    crate::scenario::log_diagnostics(&loaded.diagnostics);
    let scenario = loaded.scenario;
    let mut engine = Engine::new(&scenario, rate, seed.unwrap_or_else(|| fastrand::u64(..)));
    if let Some(at) = at {
        engine.set_local_start(at);
    }
    sources::load_all(engine.library_mut(), cache, rate);
    Ok((engine, scenario.billing, scenario.plan))
}

/// Runs the engine for `duration` at `rate` (its events, billing,
/// timeline and plot as `opts` says), handing each 20 ms frame to `emit`.
pub fn drive(
    opts: &RenderOptions,
    cache: &Cache,
    rate: u32,
    duration: Duration,
    emit: &mut dyn FnMut(&[f32]) -> Result<()>,
) -> Result<RenderSummary> {
    let (mut engine, mut billing, mut plan) =
        simulated_call(&opts.playlist, cache, rate, opts.seed, opts.at)?;
    // Scripted answers stand in for billing; without them the playlist's
    // billing is asked (at once: virtual time does not wait), and with no
    // billing a lookup fails.
    let answer_balance = !opts
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Balance(_)));

    let mut timeline = match &opts.timeline {
        Some(p) => Some(TimelineWriter::new(BufWriter::new(
            File::create(p).with_context(|| format!("{}: cannot create timeline", p.display()))?,
        ))),
        None => None,
    };
    let mut events = opts.events.clone();
    events.sort_by_key(|e| e.at);
    let mut events = events.into_iter().peekable();

    let frame = Duration::from_millis(u64::from(crate::audio::format::FRAME_MS));
    let total = duration.as_nanos().div_ceil(frame.as_nanos()) as u64;
    let mut samples = vec![0.0f32; engine.frame_len()];
    let mut meter = opts
        .plot
        .as_ref()
        .map(|_| crate::plot::LevelMeter::new(rate, Duration::from_millis(100)));
    let mut kept: Vec<Entry> = Vec::new();
    let mut exit = "duration".to_string();
    while engine.frames() < total {
        // An event is acted on at the first frame that starts at or after it.
        let frame_end = engine.now() + frame;
        while let Some(e) = events.next_if(|e| e.at < frame_end) {
            if let EventKind::Reload(path) = &e.kind {
                let path = path
                    .as_deref()
                    .map_or_else(|| opts.playlist.clone(), PathBuf::from);
                if let Some((b, p)) = reload(&mut engine, &path, cache, rate) {
                    billing = b;
                    plan = p;
                }
            } else {
                engine.push(e);
            }
        }
        engine.render_frame(&mut samples);
        if let Some(m) = &mut meter {
            m.push(&samples);
        }
        for r in engine.take_requests().collect::<Vec<_>>() {
            // The hold plan is asked at the virtual time: the render waits
            // for the answer (or the timeout), the stream's time does not.
            if let (Request::Plan(ask), Some(p)) = (&r, &plan) {
                let call = crate::webhook::Call {
                    id: Some("render".into()),
                    caller: opts.caller.clone(),
                    ..Default::default()
                };
                let answer = crate::webhook::ask_now(p, &call, ask);
                let at = engine.now();
                engine.push(Event {
                    at,
                    kind: EventKind::Plan(answer),
                });
            }
            if r == Request::Balance && answer_balance {
                let answer = match &billing {
                    Some(b) => crate::billing::lookup_now(b, opts.caller.as_deref()),
                    None => BalanceAnswer::Failed,
                };
                let at = engine.now();
                engine.push(Event {
                    at,
                    kind: EventKind::Balance(answer),
                });
            }
        }
        emit(&samples)?;
        let entries: Vec<Entry> = engine.drain_timeline().collect();
        if let Some(t) = &mut timeline {
            t.write(&entries)?;
        }
        if meter.is_some() {
            kept.extend(entries);
        }
        if let Some(ended) = engine.ended() {
            exit = ended.reason().to_string();
            break;
        }
    }
    engine.finish(&exit);
    let entries: Vec<Entry> = engine.drain_timeline().collect();
    if let Some(t) = &mut timeline {
        t.write(&entries)?;
        t.flush()?;
    }
    if let (Some((path, width, height)), Some(m)) = (&opts.plot, &meter) {
        kept.extend(entries);
        let title = format!(
            "{} — {} s",
            opts.playlist
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            duration.as_secs()
        );
        crate::plot::write_png(path, *width, *height, &title, m, &kept)?;
    }
    Ok(RenderSummary {
        frames: engine.frames(),
        exit,
    })
}

/// A new playlist version at this point of the render: applied when valid
/// (its billing and plan returned), else refused with its errors logged (the old one
/// stays).
fn reload(
    engine: &mut Engine,
    path: &Path,
    cache: &Cache,
    rate: u32,
) -> Option<(
    Option<crate::billing::BillingConfig>,
    Option<crate::webhook::PlanConfig>,
)> {
    match crate::scenario::load_valid(path) {
        Ok(s) => {
            engine.reload(&s);
            sources::load_all(engine.library_mut(), cache, rate);
            Some((s.billing, s.plan))
        }
        Err(reason) => {
            engine.reload_refused(&reason);
            None
        }
    }
}
