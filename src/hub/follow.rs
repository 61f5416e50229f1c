//! A generator's side of the hub: subscribe for its call, then follow the
//! call's events from the hub's socket instead of a session of its own,
//! passing its redirects on to the hub. When the hub goes away, it falls
//! back to a session of its own (`ami::client`), if one is configured.
//!
//! This is client code: the hub server (the rest of `hub`) never imports
//! it, and `ami` never imports `hub`.

use super::protocol::{Greeting, Known, Redirect, Subscribe};
use crate::ami::channel_watch::ChannelWatch;
use crate::ami::client::{AmiConfig, Command, spawn};
use crate::ami::codec::{Decoder, Item, Message};
use crate::ami::connection::READ_TICK;
use crate::engine::EventKind;
use crate::util::bell::SyncSender;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A generator's subscription: the stream, what the hub knows of the call,
/// and any events that came with the greeting.
pub struct Subscription {
    pub stream: UnixStream,
    /// The call's channel, from Asterisk (empty: not seen yet).
    pub channel: String,
    /// The caller's number, from Asterisk (empty: not known).
    pub caller: String,
    /// The queue the call waits in (empty: none, or not known yet).
    pub queue: String,
    /// The hub has the whole list of live calls and this Uniqueid is not
    /// in it: the call is over.
    pub gone: bool,
    pub early: Vec<Message>,
}

/// How long a generator waits for the hub's greeting (a local socket: it
/// comes in microseconds, or the hub is stuck).
const GREETING: Duration = Duration::from_millis(200);

/// Subscribes at `socket` for this call; `None` when no hub answers (the
/// caller then opens its own session).
pub fn subscribe(socket: &Path, channel: Option<&str>, uniqueid: Option<&str>) -> Option<Subscription> {
    let mut s = UnixStream::connect(socket).ok()?;
    let line = Subscribe {
        channel: channel.unwrap_or("").to_string(),
        uniqueid: uniqueid.unwrap_or("").to_string(),
    }
    .to_line();
    s.write_all(line.as_bytes()).ok()?;
    s.set_read_timeout(Some(GREETING)).ok()?;
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !items.iter().any(|i| matches!(i, Item::Message(_))) && started.elapsed() < GREETING {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        decoder.feed(&buf[..n], &mut items);
    }
    s.set_read_timeout(None).ok()?;
    let mut messages = items.into_iter().filter_map(|i| match i {
        Item::Message(m) => Some(m),
        _ => None,
    });
    let hello = messages.next().as_ref().and_then(Greeting::parse)?;
    Some(Subscription {
        channel: hello.channel,
        caller: hello.caller,
        queue: hello.queue,
        gone: hello.known == Known::No,
        early: messages.collect(),
        stream: s,
    })
}

/// Follows the call through a hub's socket instead of a session of its own.
/// When the hub goes away, falls back to a direct session if `direct` is
/// configured. `verified`: the hub vouched for the call's identity (see
/// `run::who`); otherwise nothing personal is said.
pub fn spawn_via_hub(
    sub: Subscription,
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
            if follow(sub, &mut watch, &tx, &commands) == Followed::CallOver {
                return;
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

#[derive(PartialEq, Eq)]
enum Followed {
    /// The call is over (its end seen, or nobody listens any more).
    CallOver,
    /// The hub closed the socket or failed.
    HubGone,
}

/// Turns the call's events from the hub into engine events, and passes
/// the call's redirects on to the hub, until one side goes.
fn follow(
    sub: Subscription,
    watch: &mut ChannelWatch,
    tx: &SyncSender<EventKind>,
    commands: &Receiver<Command>,
) -> Followed {
    watch.set_queue(&sub.queue);
    for m in &sub.early {
        if let Some(e) = watch.on_message(m)
            && tx.send(e).is_err()
        {
            return Followed::CallOver;
        }
    }
    let mut decoder = Decoder::new();
    let mut stream = sub.stream;
    // Wake now and then to pass redirects on to the hub.
    stream.set_read_timeout(Some(READ_TICK)).ok();
    let mut buf = [0u8; 8192];
    loop {
        for Command::Redirect(to) in commands.try_iter() {
            let ask = Redirect {
                context: to.context,
                exten: to.exten,
                priority: to.priority.to_string(),
            };
            if stream.write_all(ask.to_line().as_bytes()).is_ok() {
                tracing::info!(context = %ask.context, exten = %ask.exten, "caller redirected (through the hub)");
            }
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return Followed::HubGone,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return Followed::HubGone,
        };
        let mut items = Vec::new();
        decoder.feed(&buf[..n], &mut items);
        for item in items {
            if let Item::Message(m) = item
                && let Some(e) = watch.on_message(&m)
            {
                let over = e.ends_stream();
                if tx.send(e).is_err() || over {
                    return Followed::CallOver;
                }
            }
        }
    }
}
