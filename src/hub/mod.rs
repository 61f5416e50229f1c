//! `holdmix hub`: one AMI session per host. Asterisk sends every event to
//! every manager session, so 500 held calls with a session each multiply its
//! work by 500; the hub holds one session and hands each generator, over a
//! Unix socket, only what concerns its call.
//!
//! On the socket (words in [`protocol`]), a generator subscribes for its
//! call by Uniqueid with that call's token ([`token`]: the hub's realtime
//! row gave it to that generator's argv alone), from a peer uid the hub
//! serves (`SO_PEERCRED`); anything else is refused and gets nothing. It is
//! greeted with what Asterisk said of its call (with its place in the
//! queue: app_queue's `QueueCallerJoin` comes before the generator starts,
//! so [`calls`] remembers it); then it gets events
//! exactly as Asterisk sent them: events naming its Uniqueid, and
//! queue-wide events of the queue its caller joined, stripped of other
//! callers' data ([`subscribers`]). The hub asks for `QueueStatus` every
//! 10 s, and for `CoreShowChannels` at each login to learn the calls
//! already up ([`calls`]); a hub that has just started greets nobody until
//! it has both lists (a restart under calls in progress), and once the
//! channel list is complete, the greeting's `Known: no` tells a generator
//! its call is already over. A generator may ask for a redirect: the hub
//! redirects that generator's own channel (never one named by the
//! generator). Connections are capped (`max_clients`).
//!
//! Layout: `session` (the AMI session, on the shared `ami` connection
//! layer), `calls`, `accept` and `subscribers` (the socket side), and
//! `realtime` (Asterisk's class lookups over HTTP, routed by the
//! `routes` file and by what `calls` remembers) are the server;
//! [`follow`] is a generator's side of the socket, which the server never
//! imports; `local` is what a call the hub hosts (`--audio`) has instead
//! of a socket: the same greeting and fan-out, in-process. With `--metrics`, the hub serves Prometheus metrics
//! (`crate::metrics`): what it sees itself, and what its generators report
//! on the socket.
//!
//! Threads and blocking I/O, like the per-call client: one AMI thread, one
//! accept thread; writes to generators are non-blocking and a generator
//! that does not keep up is dropped (it falls back to its own session).

pub mod audio;
pub mod follow;
pub mod handover;
pub mod hangup;
pub mod protocol;
pub mod realtime;
pub mod token;

mod accept;
mod calls;
mod local;
mod ready;
mod relay;
mod session;
mod subscribers;

pub use local::Local;
pub use session::HubConfig;

use crate::ami::reconnect::{POLICY, keep_connected};
use calls::{Calls, SharedCalls};
use std::path::Path;
use std::sync::{Arc, Mutex};
use subscribers::Subscribers;

/// Every held call costs the hub a descriptor (and one more for Asterisk's
/// realtime connection): the soft limit of 1024 goes up to the hard one.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Runs the hub until the process is stopped; with `realtime`, answers
/// Asterisk's class lookups too, routing each call by what the hub's AMI
/// session said of it.
pub fn run(
    cfg: &HubConfig,
    realtime: Option<(realtime::RealtimeConfig, realtime::Served)>,
) -> anyhow::Result<()> {
    raise_fd_limit();
    // Kept for the process's life: dropping it removes the socket.
    let bound = bind(&cfg.socket)?;
    let listener = bound.listener.try_clone()?;
    tracing::info!(socket = %cfg.socket.display(), ami = %cfg.ami, "hub listening");
    let subs: Subscribers = Arc::new(Mutex::new(Vec::new()));
    let calls: SharedCalls = Arc::new(Mutex::new(Calls::default()));
    if let Some((rt, served)) = realtime {
        let path = rt.path.clone();
        let known = calls.clone();
        let facts: realtime::row::FactsFn = Arc::new(move |uniqueid: &str| {
            let c = known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            c.by_uniqueid.get(uniqueid).map(calls::Call::facts)
        });
        let table = calls.clone();
        let picked: realtime::route_log::RouteLogFn = Arc::new(move |uniqueid: &str, route: &str| {
            let mut c = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            c.routed(uniqueid, route);
        });
        let addr = realtime::spawn_routed(rt, cfg.key.clone(), served, facts, picked)?;
        tracing::info!(%addr, path = %path, "answering realtime class lookups");
    }
    let (accept_subs, accept_calls) = (subs.clone(), calls.clone());
    let mut uids = vec![own_uid()];
    uids.extend(&cfg.peer_uids);
    let mut gate = accept::Gate::new(cfg.key.clone(), uids, cfg.max_clients.max(1));
    gate.audio = cfg.audio.clone();
    let (redirect_tx, redirects) = crate::ami::wake::channel::<session::RedirectAsk>();
    // The calls it hosts follow their events here, not over the socket.
    gate.hosting = Some(Arc::new(local::Shared {
        subs: subs.clone(),
        calls: calls.clone(),
        redirects: redirect_tx.clone(),
        started: gate.started,
    }));
    let relays = Arc::new(relay::Relays::default());
    // Kept for the process's life, as the generators' socket.
    let _control = match &cfg.control {
        Some(path) => {
            let bound = crate::control::socket::bind(path, 0o600, "--control")?;
            let target = relay::HubTarget {
                subs: subs.clone(),
                calls: calls.clone(),
                relays: relays.clone(),
            };
            crate::control::serve(&bound, Arc::new(target), crate::control::Mode::ManyCalls)?;
            tracing::info!(control = %path.display(), "hub control socket listening");
            Some(bound)
        }
        None => None,
    };
    let started = gate.started;
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept::accept(listener, accept_subs, accept_calls, redirect_tx, gate, relays))?;
    // systemd's `Type=notify`: ready once generators are greeted at once.
    ready::spawn(calls.clone(), started);
    if let Some(listen) = &cfg.metrics {
        let addr = crate::metrics::serve::spawn(listen)?;
        tracing::info!(%addr, "serving metrics at /metrics");
    }
    keep_connected(&cfg.ami, POLICY, || {
        let ended = session::session(cfg, &subs, &calls, &redirects);
        crate::metrics::get().ami_down();
        ended
    });
    Ok(())
}

/// The socket, group-accessible but not world-writable (a stale one of
/// ours replaced; see `control::socket::bind`).
fn bind(path: &Path) -> anyhow::Result<crate::control::socket::Bound> {
    crate::control::socket::bind(path, 0o660, "--socket")
}

/// The uid this hub runs as.
pub(crate) fn own_uid() -> u32 {
    crate::control::socket::own_uid()
}
