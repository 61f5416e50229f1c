//! A generator's own AMI session (when no hub serves the host): log in,
//! ask Asterisk to send only this channel's events where the manager user
//! may (`Filter`), ask for the queue's status at start and every 10 s, and
//! turn what concerns the call into engine events.
//!
//! One thread with blocking reads (1 s timeout) rather than an async
//! runtime: a single connection per process needs nothing more, and a call
//! then carries no runtime. The music never depends on it: every failure
//! (refused, dropped, garbage) is logged and retried with a backoff that
//! doubles up to 5 s.

use super::codec::{Decoder, Item};
use super::connection::{Connection, READ_TICK};
use super::reconnect::{Ended, POLICY, keep_connected};
use super::watch::ChannelWatch;
use crate::bell::SyncSender;
use crate::engine::EventKind;
use std::io::Read;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How to reach Asterisk and whom to follow.
#[derive(Clone)]
pub struct AmiConfig {
    pub addr: String,
    pub user: String,
    /// Never logged, never on a command line (from a file or the environment).
    pub secret: String,
    pub channel: Option<String>,
    pub uniqueid: Option<String>,
    /// The caller number this process was given (to confirm with Asterisk).
    pub caller: Option<String>,
    pub queue: Option<String>,
    pub status_every: Duration,
}

impl std::fmt::Debug for AmiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiConfig")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("secret", &"<hidden>")
            .field("channel", &self.channel)
            .finish()
    }
}

/// What the call asks of Asterisk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send the caller to this dialplan place (AMI `Redirect`).
    Redirect(crate::scenario::Redirect),
}

/// Starts the session thread; events for the call go to `tx`, commands
/// come from `commands` (sent within a second, at the next read tick).
pub fn spawn(cfg: AmiConfig, tx: SyncSender<EventKind>, commands: Receiver<Command>) -> std::io::Result<()> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("ami".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _g = span.enter();
            let mut watch = ChannelWatch::new(cfg.channel.as_deref(), cfg.uniqueid.as_deref());
            keep_connected(&cfg.addr, POLICY, || session(&cfg, &mut watch, &tx, &commands));
        })?;
    Ok(())
}

/// A session that ends for good: the call is over (hangup seen, or
/// nobody listens any more).
struct CallOver;

fn session(
    cfg: &AmiConfig,
    watch: &mut ChannelWatch,
    tx: &SyncSender<EventKind>,
    commands: &Receiver<Command>,
) -> Result<Ended<CallOver>, String> {
    let mut conn = Connection::open(&cfg.addr)?;
    let login = conn.next_id();
    conn.login(&cfg.user, &cfg.secret, &login)?;
    tracing::info!(ami = %cfg.addr, user = %cfg.user, "AMI logged in");
    if let Some(ch) = &cfg.channel {
        // Only this channel's events, when the user may set filters; the
        // watch filters anyway, so a refusal costs bandwidth, not correctness.
        let filter = format!("Channel: {}", regex_escape(ch));
        let id = conn.send("Filter", &[("Operation", "Add"), ("Filter", &filter)])?;
        if let Ok(r) = conn.response(&id, Duration::from_secs(2))
            && r.get("Response") != Some("Success")
        {
            tracing::info!(
                "AMI filter refused ({}): filtering here",
                r.get("Message").unwrap_or("?")
            );
        }
    }
    let verified = match confirm_identity(cfg, &mut conn) {
        Verdict::Confirmed => true,
        Verdict::NotConfirmed => false,
        Verdict::NoChannel => {
            // At start or after a reconnect: the call ended without us.
            tx.send(EventKind::Hangup).ok();
            return Ok(Ended::Done(CallOver));
        }
    };
    if tx.send(EventKind::Identity(verified)).is_err() {
        return Ok(Ended::Done(CallOver));
    }
    let mut next_status = Instant::now();
    loop {
        if Instant::now() >= next_status {
            let q: Vec<(&str, &str)> = cfg.queue.iter().map(|q| ("Queue", q.as_str())).collect();
            conn.send("QueueStatus", &q)?;
            next_status = Instant::now() + cfg.status_every;
        }
        for c in commands.try_iter() {
            match c {
                Command::Redirect(to) => {
                    let Some(ch) = &cfg.channel else {
                        tracing::warn!(
                            "redirect to {},{},{}: no --channel to redirect",
                            to.context,
                            to.exten,
                            to.priority
                        );
                        continue;
                    };
                    let prio = to.priority.to_string();
                    conn.send(
                        "Redirect",
                        &[
                            ("Channel", ch),
                            ("Context", &to.context),
                            ("Exten", &to.exten),
                            ("Priority", &prio),
                        ],
                    )?;
                    tracing::info!(context = %to.context, exten = %to.exten, "caller redirected");
                }
            }
        }
        // Messages that came while waiting for a response come first.
        let Some(items) = conn.read()? else {
            return Ok(Ended::Dropped);
        };
        for item in items {
            match item {
                Item::Message(m) => {
                    tracing::trace!(event = ?m.event(), response = ?m.get("Response"), "AMI message");
                    if let Some(e) = watch.on_message(&m) {
                        let over = e.ends_stream();
                        if tx.send(e).is_err() || over {
                            return Ok(Ended::Done(CallOver));
                        }
                    }
                }
                Item::Garbage(g) => tracing::warn!("AMI: not AMI: {:.80}", g),
                Item::Banner(_) => {}
            }
        }
    }
}

/// Asks Asterisk whether the channel exists and carries the caller number
/// this process was given. `ENV()` is process-wide in Asterisk, so a
/// generator can inherit another call's number; unconfirmed, nothing
/// personal is said.
fn confirm_identity(cfg: &AmiConfig, conn: &mut Connection) -> Verdict {
    let Some(ch) = &cfg.channel else {
        tracing::warn!("no --channel to confirm the call's identity: no personal announcements");
        return Verdict::NotConfirmed;
    };
    let answer = conn
        .send("Getvar", &[("Channel", ch), ("Variable", "CALLERID(num)")])
        .and_then(|id| conn.response(&id, Duration::from_secs(2)));
    let verdict = match &answer {
        Ok(r) if r.get("Response") == Some("Success") => match (&cfg.caller, r.get("Value")) {
            (Some(mine), Some(theirs)) if mine != theirs => {
                Err(format!("the channel's caller is not {mine}"))
            }
            _ => Ok(()),
        },
        Ok(r) if r.get("Message") == Some("No such channel") => {
            tracing::warn!(channel = %ch, "no such channel: the call is over, exiting");
            return Verdict::NoChannel;
        }
        Ok(r) => Err(r.get("Message").unwrap_or("refused").to_string()),
        Err(e) => Err(e.clone()),
    };
    let verdict = verdict
        .and_then(|()| held_or_queued(cfg, conn, ch))
        .and_then(|()| claim(conn, ch));
    match verdict {
        Ok(()) => {
            tracing::info!(channel = %ch, "identity confirmed");
            Verdict::Confirmed
        }
        Err(why) => {
            tracing::warn!(channel = %ch, "identity not confirmed ({why}): no personal announcements");
            Verdict::NotConfirmed
        }
    }
}

/// Whether Asterisk has the channel on hold (`CHANNEL(onhold)`, a bridge
/// hold) or waiting in a queue (an entry of `QueueStatus`): a channel that
/// is neither is not one hold music is playing to. (`MusicOnHold()` in the
/// dialplan is neither: such calls get nothing personal in this mode.)
fn held_or_queued(cfg: &AmiConfig, conn: &mut Connection, ch: &str) -> Result<(), String> {
    let id = conn.send("Getvar", &[("Channel", ch), ("Variable", "CHANNEL(onhold)")])?;
    let onhold = conn.response(&id, Duration::from_secs(2))?;
    if onhold.get("Value") == Some("1") {
        return Ok(());
    }
    let q: Vec<(&str, &str)> = cfg.queue.iter().map(|q| ("Queue", q.as_str())).collect();
    let id = conn.send("QueueStatus", &q)?;
    let entries = conn.list(&id, Duration::from_secs(2))?;
    if entries
        .iter()
        .any(|m| m.is("QueueEntry") && m.get("Channel") == Some(ch))
    {
        return Ok(());
    }
    Err("the channel is neither on hold nor in a queue".into())
}

/// The channel variable naming the generator that speaks for the call.
const CLAIM_VAR: &str = "HOLDMIX_GENERATOR";

/// Claims the channel for this generator, unless another one that is still
/// running has: two generators sure of the same call mean at least one of
/// them inherited another call's environment, so neither may be trusted by
/// the later one. A claim by a process that is gone (the last generator of
/// a respawned call) is taken over.
fn claim(conn: &mut Connection, ch: &str) -> Result<(), String> {
    let me = claim_token();
    let held = conn
        .send("Getvar", &[("Channel", ch), ("Variable", CLAIM_VAR)])
        .and_then(|id| conn.response(&id, Duration::from_secs(2)))?;
    let holder = held.get("Value").unwrap_or("").trim().to_string();
    if !holder.is_empty() && holder != me && claim_alive(&holder) {
        return Err(format!("another generator ({holder}) has claimed the call"));
    }
    let id = conn.send(
        "Setvar",
        &[("Channel", ch), ("Variable", CLAIM_VAR), ("Value", &me)],
    )?;
    match conn.response(&id, Duration::from_secs(2)) {
        Ok(r) if r.get("Response") == Some("Success") => Ok(()),
        Ok(r) => Err(format!(
            "cannot claim the call: {}",
            r.get("Message").unwrap_or("refused")
        )),
        Err(e) => Err(e),
    }
}

/// `host:pid` of this process.
fn claim_token() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// Whether the generator named by a claim may still be running: on this
/// host, its pid says; on another host (a cluster), it may be, so yes.
fn claim_alive(token: &str) -> bool {
    let Some((host, pid)) = token.rsplit_once(':') else {
        // Not a holdmix claim (set by hand?): ignore it.
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    host != hostname() || crate::state::alive(pid)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the result is NUL-terminated
    // within it or truncated, and read up to the first NUL.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    }
}

enum Verdict {
    Confirmed,
    NotConfirmed,
    /// Asterisk has no such channel: the call is gone.
    NoChannel,
}

/// Asterisk filters are regular expressions: channel names contain `.`, `$`
/// and the like, which must match literally.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Follows the call through a hub's socket instead of a session of its own.
/// When the hub goes away, falls back to a direct session if `direct` is
/// configured. `verified`: the hub vouched for the call's identity (see
/// `run::who`); otherwise nothing personal is said.
pub fn spawn_via_hub(
    sub: super::hub::Subscription,
    verified: bool,
    channel: Option<String>,
    uniqueid: Option<String>,
    direct: Option<AmiConfig>,
    tx: SyncSender<EventKind>,
    commands: Receiver<Command>,
) -> std::io::Result<()> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("hub".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _g = span.enter();
            if sub.gone {
                // Started for a call that ended (Asterisk can start a
                // generator after the stop that should have cancelled it).
                tracing::warn!(uniqueid = ?uniqueid, "no such call on Asterisk: the call is over, exiting");
                tx.send(EventKind::Hangup).ok();
                return;
            }
            if tx.send(EventKind::Identity(verified)).is_err() {
                return;
            }
            let channel = channel.or_else(|| (!sub.channel.is_empty()).then(|| sub.channel.clone()));
            let mut watch = ChannelWatch::new(channel.as_deref(), uniqueid.as_deref());
            watch.set_queue(&sub.queue);
            for m in &sub.early {
                if let Some(e) = watch.on_message(m)
                    && tx.send(e).is_err()
                {
                    return;
                }
            }
            let mut decoder = Decoder::new();
            let mut stream = sub.stream;
            // Wake now and then to pass redirects on to the hub.
            stream.set_read_timeout(Some(READ_TICK)).ok();
            let mut buf = [0u8; 8192];
            loop {
                for Command::Redirect(to) in commands.try_iter() {
                    let line = format!("REDIRECT {} {} {}\n", to.context, to.exten, to.priority);
                    if std::io::Write::write_all(&mut stream, line.as_bytes()).is_ok() {
                        tracing::info!(context = %to.context, exten = %to.exten, "caller redirected (through the hub)");
                    }
                }
                let n = match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(_) => break,
                };
                let mut items = Vec::new();
                decoder.feed(&buf[..n], &mut items);
                for item in items {
                    if let Item::Message(m) = item
                        && let Some(e) = watch.on_message(&m)
                    {
                        let over = e.ends_stream();
                        if tx.send(e).is_err() || over {
                            return;
                        }
                    }
                }
            }
            match direct {
                Some(cfg) => {
                    tracing::warn!("hub gone: opening a session of our own");
                    spawn(cfg, tx, commands).ok();
                }
                None => tracing::warn!("hub gone: no more AMI events for this call"),
            }
        })?;
    Ok(())
}

/// The AMI secret: from a file (first line) or `HOLDMIX_AMI_SECRET`, never
/// from the command line, where `ps` would show it.
pub fn read_secret(file: Option<&std::path::Path>) -> Result<String, String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("{}: cannot read the AMI secret: {e}", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").trim().to_string());
    }
    std::env::var("HOLDMIX_AMI_SECRET")
        .map_err(|_| "no AMI secret: give --ami-secret-file or set HOLDMIX_AMI_SECRET".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_channel_names_literally() {
        assert_eq!(
            regex_escape("Local/200@test-00000002;2"),
            "Local/200@test-00000002;2"
        );
        assert_eq!(regex_escape("SIP/a.b$1"), "SIP/a\\.b\\$1");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let cfg = AmiConfig {
            addr: "127.0.0.1:5038".into(),
            user: "holdmix".into(),
            secret: "s3cret".into(),
            channel: None,
            uniqueid: None,
            caller: None,
            queue: None,
            status_every: Duration::from_secs(10),
        };
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }
}
