//! `holdmix render`: the engine on a virtual clock, faster than real time,
//! with scripted events, into a WAV or raw file — or, with `--mohqueue`,
//! into Kamailio mohqueue's looping files ([`crate::export::mohqueue`]).

use crate::audio::cache::Cache;
use crate::audio::format::Format;
use crate::audio::sink::Sink;
use crate::cmd::replay::Replay;
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
    /// Local wall-clock time the call starts at (time-of-day windows);
    /// `None` is now.
    pub at: Option<crate::cli::At>,
    /// Fixes every random order (`--seed`, resolved: `random` is drawn
    /// before, so it can be shown).
    pub seed: u64,
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
    /// The seed and start that give this render again.
    pub replay: Replay,
    /// Errors in the playlist (logged): the render is what a call hears
    /// with them, and the command fails so that a script sees them.
    pub playlist_errors: usize,
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

/// A simulated call (`render`, `play`): its engine, with the playlist's
/// billing and hold plan, and what repeats it.
pub struct SimulatedCall {
    pub engine: Engine,
    pub billing: Option<crate::billing::BillingConfig>,
    pub plan: Option<crate::webhook::PlanConfig>,
    pub replay: Replay,
    /// The playlist's errors (a call plays on past them).
    pub errors: usize,
}

/// The playlist loaded and its problems logged, the random orders seeded,
/// the local start set for time-of-day windows (`at`, else now in the
/// playlist's zone), its sounds loaded.
pub fn simulated_call(
    playlist: &Path,
    cache: &Cache,
    rate: u32,
    seed: u64,
    at: Option<crate::cli::At>,
) -> Result<SimulatedCall> {
    let loaded = Scenario::load(playlist)?;
    crate::scenario::log_diagnostics(&loaded.diagnostics);
    let errors = (loaded.diagnostics.iter())
        .filter(|d| d.severity == crate::scenario::Severity::Error)
        .count();
    let scenario = loaded.scenario;
    let replay = Replay::new(seed, at, scenario.timezone.as_ref());
    let mut engine = Engine::new(&scenario, rate, seed);
    // Always set, "now" too: the call starts at the second `replay` shows.
    engine.set_local_start(replay.at);
    sources::load_all(engine.library_mut(), cache, rate);
    Ok(SimulatedCall {
        engine,
        billing: scenario.billing,
        plan: scenario.plan,
        replay,
        errors,
    })
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
    let SimulatedCall {
        mut engine,
        mut billing,
        mut plan,
        replay,
        errors,
    } = simulated_call(&opts.playlist, cache, rate, opts.seed, opts.at)?;
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
        let title = plot_title(&opts.playlist, duration, &replay);
        crate::plot::write_png(path, *width, *height, &title, m, &kept)?;
    }
    Ok(RenderSummary {
        frames: engine.frames(),
        exit,
        replay,
        playlist_errors: errors,
    })
}

/// The playlist, the length and the options that draw this picture again.
fn plot_title(playlist: &Path, duration: Duration, replay: &Replay) -> String {
    let name = playlist
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    format!("{name}, {} s — {replay}", duration.as_secs())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_title_names_the_seed_and_start_used() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 3, 9)
            .unwrap()
            .and_hms_opt(17, 5, 0)
            .unwrap();
        let replay = Replay { seed: 42, at };
        assert_eq!(
            plot_title(Path::new("playlists/demo.toml"), Duration::from_secs(90), &replay),
            "demo.toml, 90 s — --seed 42 --at 2026-03-09T17:05:00"
        );
    }
}
