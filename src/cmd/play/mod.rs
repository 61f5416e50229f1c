//! `holdmix play`: a call on the speakers, live. The engine renders frame
//! by frame as `run` would; the sound card's clock paces it (a frame waits
//! for room in a three-frame queue that the output drains). An output with
//! no clock (ALSA's `null`, a file) would take the call as fast as it is
//! made, so the wall clock bounds it too: what is heard never runs more
//! than [`AHEAD`] ahead of real time. Keys typed in the terminal act as the
//! caller's DTMF; one status line says what plays and what comes next.
//!
//! Only the output needs the `speaker` feature (rodio, and ALSA headers to
//! build it); without it, `play` says how to listen another way.

mod input;
#[cfg(feature = "speaker")]
mod speaker;
mod status;

use crate::audio::cache::Cache;
use crate::engine::timeline::TimelineWriter;
use crate::engine::{Event, EventKind, Request};
use anyhow::{Context, Result};
use input::Typed;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How far the audio handed to the output may run ahead of the wall clock:
/// more than the output's own queue and buffer (60 + 50 ms), so a real
/// device's clock is the one that paces.
const AHEAD: Duration = Duration::from_millis(250);

pub struct PlayOptions {
    pub playlist: PathBuf,
    /// 8000 or 16000.
    pub rate: u32,
    /// The output device's name (`--device`), else the default one.
    pub device: Option<String>,
    /// Stop after this much of the call.
    pub duration: Option<Duration>,
    /// Start this far into the call (rendered unheard).
    pub skip: Duration,
    pub at: Option<crate::cli::At>,
    /// `--seed`, resolved (`random` drawn before).
    pub seed: u64,
    pub caller: Option<String>,
    pub timeline: Option<PathBuf>,
}

/// What the loop hears besides the terminal: a billing answer.
enum Input {
    Typed(Typed),
    Mistake(String),
    Balance(crate::engine::BalanceAnswer),
    Plan(crate::webhook::PlanAnswer),
}

#[cfg(not(feature = "speaker"))]
pub fn play(_opts: &PlayOptions, _cache: &Cache) -> Result<()> {
    anyhow::bail!(
        "this holdmix was built without the `speaker` feature (it needs libasound2-dev): \
         build it with `cargo build --release --features speaker`, or listen with sox: \
         `holdmix run --playlist FILE --events - | play -q -t raw -r 8000 -e signed -b 16 -c 1 -`"
    )
}

#[cfg(feature = "speaker")]
pub fn play(opts: &PlayOptions, cache: &Cache) -> Result<()> {
    if opts.device.as_deref() == Some("list") {
        let mut out = std::io::stdout().lock();
        for name in speaker::list()? {
            writeln!(out, "{name}")?;
        }
        return Ok(());
    }
    let out = speaker::Output::open(opts.device.as_deref(), opts.rate)?;
    run_call(opts, cache, |frame| out.send(frame))?;
    out.drain();
    Ok(())
}

/// The call itself; `send` hands each heard frame to the output and
/// returns false when the output is gone.
#[cfg_attr(not(feature = "speaker"), allow(dead_code))]
fn run_call(opts: &PlayOptions, cache: &Cache, mut send: impl FnMut(Vec<f32>) -> bool) -> Result<()> {
    let crate::cmd::render::SimulatedCall {
        mut engine,
        billing,
        plan,
        replay,
        ..
    } = crate::cmd::render::simulated_call(&opts.playlist, cache, opts.rate, opts.seed, opts.at)?;
    tracing::info!("playing; the same call again: {replay}");
    let mut timeline = match &opts.timeline {
        Some(p) => Some(TimelineWriter::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create timeline", p.display()))?,
        ))),
        None => None,
    };

    let (tx, rx) = mpsc::channel::<Input>();
    let typed = tx.clone();
    // Reads the terminal until it closes; a closed stdin (`< /dev/null`)
    // just means no keys.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let inputs = match input::parse(&line) {
                Ok(t) => t.into_iter().map(Input::Typed).collect(),
                Err(e) => vec![Input::Mistake(e)],
            };
            for i in inputs {
                if typed.send(i).is_err() {
                    return;
                }
            }
        }
    });

    let tty = std::io::stderr().is_terminal();
    let mut status = status::Status::default();
    let mut samples = vec![0.0f32; engine.frame_len()];
    let mut skip_to = opts.skip;
    let mut shown = Duration::ZERO;
    let mut heard = Duration::ZERO;
    let mut started: Option<Instant> = None;
    let frame = Duration::from_millis(u64::from(crate::audio::format::FRAME_MS));
    let mut reason = "quit".to_string();
    'call: loop {
        while let Ok(i) = rx.try_recv() {
            let at = engine.now();
            match i {
                Input::Typed(Typed::Quit) => break 'call,
                Input::Typed(Typed::Skip(d)) => {
                    skip_to = at + d;
                    status.note(format!("skipping {} s", d.as_secs()));
                }
                Input::Typed(Typed::Event(kind)) => engine.push(Event { at, kind }),
                Input::Balance(answer) => engine.push(Event {
                    at,
                    kind: EventKind::Balance(answer),
                }),
                Input::Plan(answer) => engine.push(Event {
                    at,
                    kind: EventKind::Plan(answer),
                }),
                Input::Mistake(e) => status.note(e),
            }
        }
        engine.render_frame(&mut samples);
        for r in engine.take_requests().collect::<Vec<_>>() {
            match r {
                // Off this thread: the sound must not wait for the network.
                Request::Balance => {
                    let (billing, caller, tx) = (billing.clone(), opts.caller.clone(), tx.clone());
                    std::thread::spawn(move || {
                        let answer = match &billing {
                            Some(b) => crate::billing::lookup_now(b, caller.as_deref()),
                            None => crate::engine::BalanceAnswer::Failed,
                        };
                        tx.send(Input::Balance(answer)).ok();
                    });
                }
                Request::Redirect(_) => {}
                // The hold plan, off this thread too (the engine asks only
                // with a `[plan]`, never two at once).
                Request::Plan(ask) => {
                    let (plan, tx) = (plan.clone(), tx.clone());
                    let call = crate::webhook::Call {
                        id: Some("play".into()),
                        caller: opts.caller.clone(),
                        ..Default::default()
                    };
                    std::thread::spawn(move || {
                        let answer = match &plan {
                            Some(p) => crate::webhook::ask_now(p, &call, &ask),
                            None => Err("no [plan]".into()),
                        };
                        tx.send(Input::Plan(answer)).ok();
                    });
                }
            }
        }
        let entries: Vec<_> = engine.drain_timeline().collect();
        status.update(&entries);
        if let Some(t) = &mut timeline {
            t.write(&entries)?;
        }
        let now = engine.now();
        if now >= skip_to {
            if !send(samples.clone()) {
                reason = "output-gone".into();
                break;
            }
            heard += frame;
            let since = started.get_or_insert_with(Instant::now).elapsed();
            if let Some(early) = heard.checked_sub(since + AHEAD) {
                std::thread::sleep(early);
            }
            if now >= shown + Duration::from_secs(1) {
                shown = now;
                show(&status.line(now, engine.next_scheduled()), tty);
            }
        }
        if let Some(ended) = engine.ended() {
            reason = ended.reason().to_string();
            break;
        }
        if opts.duration.is_some_and(|d| now >= d) {
            reason = "duration".into();
            break;
        }
    }
    engine.finish(&reason);
    let entries: Vec<_> = engine.drain_timeline().collect();
    status.update(&entries);
    show(&status.line(engine.now(), None), tty);
    if tty {
        eprintln!();
    }
    if let Some(t) = &mut timeline {
        t.write(&entries)?;
        t.flush()?;
    }
    Ok(())
}

/// On a terminal the line is rewritten in place; elsewhere (a log, a
/// test) each status is a line of its own.
fn show(line: &str, tty: bool) {
    let mut err = std::io::stderr().lock();
    if tty {
        write!(err, "\r\x1b[2K{line}").ok();
    } else {
        writeln!(err, "{line}").ok();
    }
    err.flush().ok();
}
