//! `holdmix run`: the engine on the real clock, writing whole frames to
//! stdout at the pace the reader (Asterisk) takes them.
//!
//! One thread does the audio ([`stream`]): it sleeps to absolute deadlines
//! (or until a stop signal arrives), applies what came in, renders what the
//! pacer asks for and writes it with non-blocking, atomic writes. Sources
//! missing from the cache are decoded by a helper thread while the stream
//! already plays; events come from reader threads ([`events`], AMI, the
//! hub), new playlist versions from [`reload`]; all of them reach the audio
//! thread through its [`inbox`]. Around the stream: who the caller is
//! ([`identity`]), the call's [`checkpoint`]s across respawns, the caller's
//! [`memory`] across calls, stdout and the orphan guard ([`output`]), the
//! [`signals`] that end it and the [`exit`] it ends with. What happened goes
//! to the log and, when asked, to a [`timeline`] file.

pub(crate) mod checkpoint;
mod control;
mod events;
mod exit;
mod handover;
mod identity;
mod inbox;
mod lead_in;
mod memory;
mod output;
mod prepare;
pub mod reload;
mod signals;
mod stream;
mod timeline;
pub mod timeline_file;
mod timeline_log;

pub use exit::Exit;
pub use signals::STOP_SIGNALS;
pub use stream::{Host, Polled, Started, Starting, Stream};

use crate::audio::cache::Cache;
use crate::config::RunConfig;

/// Streams until a signal, a hangup, or the reader going away.
pub fn run(cfg: &RunConfig, cache: &Cache) -> anyhow::Result<Exit> {
    // One flag from the first instant to the end: a stop that lands while
    // a call is taken back from the hub ends the stream that takes it.
    let stop = signals::StopFlag::install()?;
    // Through a hub that streams audio, the hub does it all (docs/hub-audio.md).
    let mut taken = None;
    if cfg.hub.is_some() && !cfg.standalone {
        match handover::hand_over(cfg, &stop) {
            handover::Outcome::Standalone => {}
            handover::Outcome::TakeOver { hung, checkpoints } => taken = Some((hung, checkpoints)),
            handover::Outcome::Stopped(exit) => return Ok(exit),
            handover::Outcome::Ended(0) => return Ok(Exit::Hangup),
            handover::Outcome::Ended(code) => {
                crate::util::logging::flush_at_exit();
                std::process::exit(code.into())
            }
        }
    }
    // Taken back from a hub: whether it hung, and where it kept the
    // call's checkpoints.
    let cfg: std::borrow::Cow<RunConfig> = match taken {
        Some((hung, checkpoints)) if hung || checkpoints.is_some() => std::borrow::Cow::Owned(RunConfig {
            hub_hung: hung || cfg.hub_hung,
            hub_checkpoints: checkpoints,
            ..cfg.clone()
        }),
        _ => std::borrow::Cow::Borrowed(cfg),
    };
    let mut stream = match Stream::start(&cfg, cache, stop)? {
        Started::Streaming(s) => s,
        Started::Ended(exit) => return Ok(exit),
    };
    let exit = match stream.first_tick() {
        Some(exit) => exit,
        None => loop {
            if let Some(exit) = stream.tick() {
                break exit;
            }
        },
    };
    stream.finish(exit);
    Ok(exit)
}
