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
//! imports. With `--metrics`, the hub serves Prometheus metrics
//! (`crate::metrics`): what it sees itself, and what its generators report
//! on the socket.
//!
//! Threads and blocking I/O, like the per-call client: one AMI thread, one
//! accept thread; writes to generators are non-blocking and a generator
//! that does not keep up is dropped (it falls back to its own session).

pub mod follow;
pub mod hangup;
pub mod protocol;
pub mod realtime;
pub mod token;

mod accept;
mod calls;
mod session;
mod subscribers;

pub use session::HubConfig;

use crate::ami::reconnect::{POLICY, keep_connected};
use calls::{Calls, SharedCalls};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
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
    let listener = bind(&cfg.socket)?;
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
        let addr = realtime::spawn_routed(rt, cfg.key.clone(), served, facts)?;
        tracing::info!(%addr, path = %path, "answering realtime class lookups");
    }
    let (accept_subs, accept_calls) = (subs.clone(), calls.clone());
    let mut uids = vec![own_uid()];
    uids.extend(&cfg.peer_uids);
    let gate = accept::Gate::new(cfg.key.clone(), uids, cfg.max_clients.max(1));
    let (redirect_tx, redirects) = crate::ami::wake::channel::<session::RedirectAsk>();
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept::accept(listener, accept_subs, accept_calls, redirect_tx, gate))?;
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

/// The socket, group-accessible but not world-writable. Something already
/// at `path` is replaced only when it is a stale socket of our own: a
/// socket (not a symlink, file or directory), owned by our uid, that
/// refuses connections. Anything else is left alone and named in the error.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let kind = meta.file_type();
            if !kind.is_socket() {
                let what = if kind.is_symlink() {
                    "a symlink"
                } else if kind.is_dir() {
                    "a directory"
                } else if kind.is_file() {
                    "a regular file"
                } else {
                    "not a socket"
                };
                anyhow::bail!(
                    "{}: {what} is there; not replacing it (remove it, or choose another --socket)",
                    path.display()
                );
            }
            let ours = own_uid();
            if meta.uid() != ours {
                anyhow::bail!(
                    "{}: a socket owned by uid {}, not ours ({ours}); not replacing it",
                    path.display(),
                    meta.uid()
                );
            }
            match UnixStream::connect(path) {
                Ok(_) => anyhow::bail!("{}: another hub is listening", path.display()),
                // Nobody listens: a stale socket from a previous hub.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                }
                Err(e) => anyhow::bail!("{}: {e}; not replacing it", path.display()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
    let listener = UnixListener::bind(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// The uid this hub runs as.
pub(crate) fn own_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}
