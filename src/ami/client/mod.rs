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

mod config;
mod identity;

pub use config::AmiConfig;

use super::channel_watch::ChannelWatch;
use super::codec::Item;
use super::connection::Connection;
use super::reconnect::{Ended, POLICY, keep_connected};
use super::wake::Receiver;
use crate::engine::EventKind;
use crate::util::bell::SyncSender;
use crate::util::ratelimit::{Limiter, WINDOW};
use identity::{Verdict, confirm_identity};
use std::time::{Duration, Instant};

/// What the call asks of Asterisk, or tells the hub.
#[derive(Debug)]
pub enum Command {
    /// Send the caller to this dialplan place (AMI `Redirect`).
    Redirect(crate::scenario::Redirect),
    /// A metrics report for the hub (`metrics::send`); a session of the
    /// generator's own has nobody to give it to, and drops it.
    Report(crate::metrics::send::Line),
    /// A control command's answer for the hub that passed it on
    /// (`control::relay`); nobody else asks.
    Control(String),
}

/// Starts the session thread; events for the call go to `tx`, commands
/// come from `commands` (sent as soon as they come).
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
                Command::Report(_) | Command::Control(_) => {}
            }
        }
        // Messages that came while waiting for a response come first.
        let Some(items) = conn.read_or_wake(commands)? else {
            return Ok(Ended::Dropped);
        };
        for item in items {
            match item {
                Item::Message(m) => {
                    tracing::trace!(event = ?m.event(), response = ?m.get("Response"), "AMI message");
                    for e in watch.events(&m) {
                        let over = e.ends_stream();
                        if tx.send(e).is_err() || over {
                            return Ok(Ended::Done(CallOver));
                        }
                    }
                }
                Item::Garbage(g) => {
                    // A line of garbage at a time: once, then a count a minute.
                    static GARBAGE: Limiter = Limiter::new(WINDOW);
                    if let Some(more) = GARBAGE.check() {
                        tracing::warn!("AMI: not AMI: {:.80}{more}", g);
                    }
                }
                Item::Banner(_) => {}
            }
        }
    }
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
