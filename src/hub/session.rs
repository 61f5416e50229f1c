//! The hub's one AMI session: log in, ask for `CoreShowChannels` (the
//! calls already up) and for `QueueStatus` every 10 s, send the redirects
//! generators ask for, and hand every message to the call table and the
//! fan-out. Connecting, logging in and retrying are the AMI layer's
//! (`ami::connection`, `ami::reconnect`), as for a generator's own session.

use super::calls::{CHANNELS_ID, STATUS_ID, SharedCalls};
use super::protocol::Redirect;
use super::subscribers::{Subscribers, fan_out};
use crate::ami::codec::Item;
use crate::ami::connection::Connection;
use crate::ami::reconnect::Ended;
use crate::ami::wake::{Receiver, Sender};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the hub reaches Asterisk, where generators reach the hub, and whom
/// it serves there.
pub struct HubConfig {
    pub ami: String,
    pub user: String,
    pub secret: String,
    pub socket: PathBuf,
    /// The key of the calls' tokens (`token`), shared with the realtime
    /// rows that hand them out.
    pub key: std::sync::Arc<super::token::Key>,
    /// Peer uids served besides the hub's own (Asterisk's, when the hub
    /// runs as another user).
    pub peer_uids: Vec<u32>,
    /// Connections served at once; more are closed at once.
    pub max_clients: usize,
    /// Removes each call's checkpoints at its `Hangup` (issue 20, `hangup`).
    pub hangups: Option<super::hangup::Hangups>,
    /// Where Prometheus scrapes the hub's metrics (HOST:PORT), if anywhere.
    pub metrics: Option<String>,
    /// The control socket for every call served (`--control`), if any.
    pub control: Option<PathBuf>,
    /// `--audio`: the calls handed over are streamed here.
    pub audio: Option<std::sync::Arc<super::audio::Audio>>,
}

/// The ActionIDs of the hub's other actions (fixed: the answers need no
/// telling apart).
const LOGIN_ID: &str = "login";
const REDIRECT_ID: &str = "redirect";
/// How often the hub asks for `QueueStatus`.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// A redirect asked for by a generator, for its channel.
pub(super) struct RedirectAsk {
    pub channel: String,
    pub to: Redirect,
    /// A redirect is for now: one that waited out an AMI reconnect is
    /// dropped, not sprung on a caller who may be talking to an agent.
    pub asked: Instant,
}

const REDIRECT_FRESH: Duration = Duration::from_secs(2);

impl RedirectAsk {
    /// Asks the session to redirect the call `uniqueid`: its own channel,
    /// as the call table has it now (a generator, on the socket or hosted,
    /// never names another).
    pub fn send_for(uniqueid: &str, to: Redirect, calls: &SharedCalls, redirects: &Sender<RedirectAsk>) {
        let channel = calls
            .lock()
            .ok()
            .and_then(|c| c.by_uniqueid.get(uniqueid).map(|call| call.channel.clone()))
            .unwrap_or_default();
        if channel.is_empty() {
            tracing::warn!(uniqueid = %uniqueid, "a redirect for a call whose channel the hub does not know: dropped");
            return;
        }
        redirects
            .send(RedirectAsk {
                channel,
                to,
                asked: Instant::now(),
            })
            .ok();
    }
}

/// One AMI session; it only ever drops (never [`Ended::Done`]): the hub
/// runs until the process is stopped.
pub(super) fn session(
    cfg: &HubConfig,
    subs: &Subscribers,
    calls: &SharedCalls,
    redirects: &Receiver<RedirectAsk>,
) -> Result<Ended<()>, String> {
    // What happened while logged out is unknown until the list is in again.
    if let Ok(mut c) = calls.lock() {
        c.complete = false;
        c.queues_listed = false;
    }
    let mut conn = Connection::open(&cfg.ami)?;
    conn.login(&cfg.user, &cfg.secret, LOGIN_ID)?;
    tracing::info!(ami = %cfg.ami, "hub logged in");
    crate::metrics::get().ami_up();
    // The calls already up, for generators that ask about them.
    conn.send_as("CoreShowChannels", &[], CHANNELS_ID)?;
    let mut next_status = Instant::now();
    loop {
        while let Ok(r) = redirects.try_recv() {
            if r.asked.elapsed() > REDIRECT_FRESH {
                tracing::warn!(channel = %r.channel, "a redirect waited out an AMI reconnect: dropped");
                continue;
            }
            conn.send_as(
                "Redirect",
                &[
                    ("Channel", &r.channel),
                    ("Context", &r.to.context),
                    ("Exten", &r.to.exten),
                    ("Priority", &r.to.priority),
                ],
                REDIRECT_ID,
            )?;
            tracing::info!(channel = %r.channel, context = %r.to.context, exten = %r.to.exten, "caller redirected");
        }
        if Instant::now() >= next_status {
            conn.send_as("QueueStatus", &[], STATUS_ID)?;
            next_status = Instant::now() + STATUS_EVERY;
        }
        // Woken by a generator's redirect: it goes out now, not at the tick.
        let Some(items) = conn.read_or_wake(redirects)? else {
            return Ok(Ended::Dropped);
        };
        for item in items {
            let Item::Message(m) = item else { continue };
            // Subscribers, then calls (as `accept` greets): a generator
            // greeted now gets each message once, in its greeting or after.
            let mut list = subs.lock().unwrap_or_else(|e| e.into_inner());
            {
                let mut c = calls.lock().unwrap_or_else(|e| e.into_inner());
                c.learn(&m);
                crate::metrics::get().set_on_hold(c.on_hold());
            }
            cfg.hangups.iter().for_each(|h| h.seen(&m));
            fan_out(&m, &mut list);
        }
    }
}
