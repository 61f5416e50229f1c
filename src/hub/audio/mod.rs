//! `hub --audio`: the hub streams held calls itself. A call's process
//! (`run --hub`, `holdmix-shim`) hands over its stdout pipe (words in
//! [`super::handover`]); the hub checks it ([`take`]: the peer's uid, the
//! call's token, the cap, the args through `run`'s own parser and
//! `config::run`), answers `OK` and gives the call to the pacing thread
//! ([`pace`]), which streams every hosted call with `run`'s own Stream
//! code on one timer. A [`watchdog`] process kills the hub if that thread
//! stalls with calls hosted, so their clients take them over at once;
//! while none runs, the calls are told so (`UNWATCHED`) and their clients
//! look at their pipes.
//!
//! A hosted call keeps `run`'s config, but follows its events in-process
//! (`super::local`): greeted from the call table and fed by the fan-out
//! as a subscriber of its own, its redirects and control commands passed
//! directly, with no socket and no thread of its own. A call its client
//! takes back (`TAKEN`, the hub's death) subscribes over the socket again,
//! as a standalone `run --hub` does.

mod pace;
mod turns;
pub mod watchdog;

use super::handover::{Handover, Line, say, say_ok};
use super::token::Key;
use crate::audio::cache::Cache;
use crate::cli::{Cli, Command};
use crate::config::RunConfig;
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// Hosted calls at most by default (`--audio-max`).
pub const DEFAULT_MAX: usize = 2000;

/// The hub's audio side: where new calls go, and how many it streams.
pub struct Audio {
    arrivals: mpsc::Sender<Arrival>,
    /// Wakes the pacing thread for a new call (a pipe: its read end is in
    /// the thread's poll set).
    wake: OwnedFd,
    hosted: Arc<AtomicUsize>,
    max: usize,
    /// Whether a watchdog would kill a stalled hub now (then a call is
    /// told `WATCHED`).
    watched: watchdog::Watched,
}

/// A call handed over and accepted.
struct Arrival {
    conn: UnixStream,
    cfg: RunConfig,
    out: OwnedFd,
    span: tracing::Span,
    /// Its events, in-process (`None`: a hub without its call table).
    hub: Option<super::Local>,
    /// It was told `WATCHED` with its `OK` (the pacing thread tells it
    /// when that changes).
    watched: bool,
}

impl Audio {
    /// Starts the pacing thread and its watchdog (whose lines go to `log`,
    /// the hub's `--log`); calls share `cache`.
    pub fn spawn(max: usize, cache: &'static Cache, log: Option<&Path>) -> std::io::Result<Arc<Audio>> {
        let (tx, rx) = mpsc::channel();
        let (wake_r, wake_w) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK)?;
        let hosted = Arc::new(AtomicUsize::new(0));
        let count = hosted.clone();
        // The hosted calls' reports are this hub's own metrics.
        crate::metrics::send::install(|line| {
            if let Ok(text) = std::str::from_utf8(line.as_bytes()) {
                crate::metrics::get().report_line(text.trim_end());
            }
            true
        });
        let (beat, watched) = watchdog::Beat::start(log)?;
        std::thread::Builder::new()
            .name("audio".into())
            .spawn(move || pace::pace(rx, wake_r, cache, count, beat))?;
        Ok(Arc::new(Audio {
            arrivals: tx,
            wake: wake_w,
            hosted,
            max,
            watched,
        }))
    }
}

/// Who may hand over, as the accept path knows it.
pub struct Asker<'a> {
    pub peer_uid: Option<u32>,
    pub key: &'a Key,
    /// Where a call taken follows its events (the hub's table and fan-out).
    pub(in crate::hub) hosting: Option<&'a Arc<super::local::Shared>>,
}

/// A hand-over received on the hub's socket: refused with `NO <reason>`,
/// or accepted (`OK`) and handed to the pacing thread. `audio` is `None`
/// when the hub runs without `--audio`.
pub fn take(audio: Option<&Audio>, conn: UnixStream, h: Handover, fd: OwnedFd, asker: &Asker<'_>) {
    let refused = |why: &str| {
        tracing::info!(why, "hand-over refused");
        say(&conn, &Line::No(why.into())).ok();
    };
    let Some(audio) = audio else {
        return refused("audio off");
    };
    // The hub acts with the call's args (files read and written): only
    // as its own user.
    let own = super::own_uid();
    if !asker.peer_uid.is_some_and(|u| u == own || u == 0) {
        return refused("peer uid");
    }
    let Some(args) = run_args(&h) else {
        return refused("bad arguments");
    };
    let env = |name: &str| h.env(name).map(|v| v.to_string_lossy().into_owned());
    let uniqueid = args
        .identity
        .uniqueid
        .clone()
        .or_else(|| env(crate::config::UNIQUEID_ENV))
        .unwrap_or_default();
    let token = args.hub_token.clone().unwrap_or_default();
    if uniqueid.is_empty() || !asker.key.verify(&uniqueid, &token) {
        return refused("unauthorised");
    }
    // Counted here (the pacing thread gives it back): two hand-overs at
    // once cannot both take the last place.
    if audio.hosted.fetch_add(1, Ordering::AcqRel) >= audio.max {
        audio.hosted.fetch_sub(1, Ordering::AcqRel);
        return refused("full");
    }
    let secret = |file: Option<&Path>| match file {
        Some(_) => crate::ami::secret::read_secret(file),
        None => env("HOLDMIX_AMI_SECRET").ok_or_else(|| "no AMI secret handed over".to_string()),
    };
    let span = tracing::info_span!("call", uniqueid = %uniqueid, hosted = true);
    let mut cfg = {
        let _g = span.enter();
        crate::config::run(args, &env, secret)
    };
    // The client's default checkpoint directory, not the hub's: a take-over
    // resumes from what the hub kept.
    if cfg.state_dir.is_none() {
        let uid = asker.peer_uid.unwrap_or(own);
        cfg.state_dir = Some(crate::state::default_dir(h.env("XDG_RUNTIME_DIR"), uid));
    }
    let watched = audio.watched.now();
    if say_ok(&conn, watched).is_err() {
        audio.hosted.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    span.in_scope(|| tracing::info!("hand-over taken: the hub streams the call"));
    let arrival = Arrival {
        conn,
        cfg,
        out: fd,
        span,
        // For the Uniqueid the token proved: the call follows no other.
        hub: asker.hosting.map(|h| super::Local::new(h.clone(), uniqueid)),
        watched,
    };
    if audio.arrivals.send(arrival).is_err() {
        // The pacing thread is gone: the client sees its connection close
        // and takes the call over.
        audio.hosted.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    rustix::io::write(&audio.wake, &[1]).ok();
}

/// The hand-over's args through `run`'s own parser (global options after
/// `run` are taken and ignored), with relative paths made the client's.
fn run_args(h: &Handover) -> Option<crate::cli::RunArgs> {
    // Building clap's whole command (every subcommand's arguments) cost
    // more than parsing with it, for each hand-over of a herd (a hub's
    // death sends all its calls to the standby at once): built once.
    static CLI: OnceLock<Mutex<clap::Command>> = OnceLock::new();
    let argv = [OsString::from("holdmix"), OsString::from("run")]
        .into_iter()
        .chain(h.args.iter().cloned());
    let matches = {
        let mut cli = CLI
            .get_or_init(|| Mutex::new(Cli::command()))
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cli.try_get_matches_from_mut(argv).ok()?
    };
    let Ok(Cli {
        command: Command::Run(mut args),
        ..
    }) = Cli::from_arg_matches(&matches)
    else {
        return None;
    };
    let at = |p: &mut Option<PathBuf>| {
        if let Some(path) = p.as_mut()
            && path.is_relative()
            && path.as_os_str() != "-"
        {
            *path = h.cwd.join(&*path);
        }
    };
    at(&mut args.playlist);
    at(&mut args.events);
    at(&mut args.timeline);
    at(&mut args.timeline_dir);
    at(&mut args.ami_secret_file);
    at(&mut args.store_password_file);
    at(&mut args.state_dir);
    at(&mut args.hub);
    at(&mut args.standby_hub);
    at(&mut args.control);
    // `--events -` is the client's stdin, which the hub does not have.
    if args.events.as_deref() == Some(Path::new("-")) {
        return None;
    }
    Some(args)
}
