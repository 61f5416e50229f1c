//! A generator's side of the hub: subscribe for its call (its Uniqueid and
//! the token its realtime row gave it), then follow the call's events from
//! the hub's socket instead of a session of its own, passing its redirects
//! on to the hub. When the hub goes away (a restart), the music goes on and
//! this side comes back: it subscribes again at the same path, with
//! backoff, and follows the call again once the new hub greets it. With a
//! session of its own configured (`--ami`), it falls back to that instead.
//!
//! The greeting carries the caller's place in the queue when the hub
//! knows it: app_queue sends `QueueCallerJoin` before it starts hold
//! music, so the generator could not have seen it.
//!
//! Connecting never blocks: a hub whose backlog is full counts as absent
//! for now, and the start of the stream waits at most [`GREETING`] for it.
//!
//! A call the hub hosts (`hub --audio`) follows it in-process instead
//! ([`subscribe_hosted`]): the same greeting and the same events, turned
//! into the call's engine events on the hub's AMI thread (no socket, no
//! thread of its own).
//!
//! This is client code: the hub server (the rest of `hub`) never imports
//! it, and `ami` never imports `hub`.

mod hosted;

use super::local::Local;
use super::protocol::{Greeting, Known, Redirect, Subscribe, parse_refusal};
use crate::ami::channel_watch::ChannelWatch;
use crate::ami::client::{AmiConfig, Command, spawn};
use crate::ami::codec::{Decoder, Item, Message};
use crate::ami::connection::READ_TICK;
use crate::ami::reconnect::{Backoff, Policy};
use crate::ami::wake::Receiver;
use crate::control::relay::{Inbound, RelayBy};
use crate::engine::EventKind;
use crate::util::bell::SyncSender;
use hosted::Hosted;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A generator's subscription: what the hub knows of the call, and any
/// events that came with the greeting.
pub struct Subscription {
    /// The call's channel, from Asterisk (empty: not seen yet).
    pub channel: String,
    /// The caller's number, from Asterisk (empty: not known).
    pub caller: String,
    /// The queue the call waits in (empty: none, or not known yet).
    pub queue: String,
    /// The caller's place in it, as the hub last heard (its join came
    /// before this generator started).
    pub position: Option<u32>,
    /// Callers in that queue, as the hub last heard.
    pub count: Option<u32>,
    /// The channel's language, as the hub heard it (empty: not known).
    pub language: String,
    /// What the dialplan said the call is known by across channels
    /// (empty: nothing said): its checkpoints' key.
    pub call_key: String,
    /// The route the hub's realtime lookup picked for the call (empty:
    /// none picked).
    pub route: String,
    /// The hub has the whole list of live calls and this Uniqueid is not
    /// in it: the call is over.
    pub gone: bool,
    pub early: Vec<Message>,
}

/// What one attempt to subscribe gave.
enum Attempt {
    Subscribed(Subscription, UnixStream),
    /// A call the hub hosts, greeted and subscribed in-process.
    Hosted(Subscription, Hosted),
    /// The hub answered, and does not serve this generator (why).
    Refused(String),
    /// Nobody answered (no hub, a full backlog, no greeting in time).
    Absent,
}

/// The hub for one call: where, as whom, and the first attempt's outcome.
pub struct HubLink {
    socket: PathBuf,
    uniqueid: String,
    token: String,
    first: Attempt,
}

impl HubLink {
    /// The subscription made at start, if the hub greeted this generator.
    pub fn subscription(&self) -> Option<&Subscription> {
        match &self.first {
            Attempt::Subscribed(s, _) | Attempt::Hosted(s, _) => Some(s),
            _ => None,
        }
    }

    /// How the hub's control commands reach the call: a hosted call's
    /// in-process, a generator's through a worker of its own.
    pub fn relay(&self) -> RelayBy {
        match &self.first {
            Attempt::Hosted(..) => RelayBy::InProcess,
            _ => RelayBy::Worker,
        }
    }

    /// Where a hosted call's commands (its redirects) go: straight to the
    /// hub hosting it. The function holds the subscription: it ends when
    /// the function (the call's inbox) is dropped. `None`: a generator's
    /// commands go over the socket (see [`spawn_via_hub`]).
    pub fn commands(&self) -> Option<Box<dyn Fn(Command) + Send>> {
        let Attempt::Hosted(_, h) = &self.first else {
            return None;
        };
        let sub = h.sub.clone();
        Some(Box::new(move |c| match c {
            Command::Redirect(to) => sub.redirect(Redirect {
                context: to.context,
                exten: to.exten,
                priority: to.priority.to_string(),
            }),
            // A hosted call reports to the hub's own metrics, and its
            // control answers go back in-process: neither comes here.
            Command::Report(_) | Command::Control(_) => {}
        }))
    }
}

/// How long the start of the stream waits for the hub's greeting (a local
/// socket: it comes in microseconds, or the hub is busy or restarting, and
/// the follower thread tries again later).
const GREETING: Duration = Duration::from_millis(200);
/// How long a returning generator waits for a restarted hub's greeting
/// (the hub holds it until it has its lists, at most a second).
const REJOIN_GREETING: Duration = Duration::from_secs(3);
/// Between attempts to reach a hub that went away: from 100 ms doubling to
/// 500 ms, not the AMI policy's 5 s: a local socket costs nothing to try,
/// and a restarted hub must have its calls back within a second.
const REJOIN: Policy = Policy {
    min: Duration::from_millis(100),
    max: Duration::from_millis(500),
};

/// Subscribes at `socket` for the call `uniqueid`, proving it with
/// `token` (from the call's realtime row); waits at most [`GREETING`].
/// `greet: false`: the hub stopped writing this call with its socket open
/// (a take-over from a hung hub), so it is not asked now, which would
/// only cost the caller the wait in silence; the follower asks it later.
pub fn subscribe(socket: &Path, uniqueid: Option<&str>, token: Option<&str>, greet: bool) -> HubLink {
    let uniqueid = uniqueid.unwrap_or("").to_string();
    let token = token.unwrap_or("").to_string();
    let first = if uniqueid.is_empty() {
        Attempt::Refused("a hub serves a generator that knows its Uniqueid".into())
    } else if !greet {
        tracing::info!(hub = %socket.display(), "the hub stopped writing the call: following it when it answers");
        Attempt::Absent
    } else {
        attempt(socket, &uniqueid, &token, GREETING)
    };
    match &first {
        Attempt::Absent if !greet => {}
        Attempt::Absent => tracing::warn!(hub = %socket.display(), "no hub answers yet"),
        Attempt::Refused(why) => {
            tracing::warn!(hub = %socket.display(), "the hub refused this generator: {why}")
        }
        Attempt::Subscribed(..) | Attempt::Hosted(..) => {}
    }
    HubLink {
        socket: socket.to_path_buf(),
        uniqueid,
        token,
        first,
    }
}

/// The link of a call the hub hosts (`hub --audio`): greeted and
/// subscribed in-process, waiting on this thread (the preparation's) as a
/// socket's greeting waits on the hub's. `channel`: the channel to follow
/// besides the Uniqueid (a `--channel` given without `--uniqueid`).
pub fn subscribe_hosted(local: &Local, channel: Option<&str>) -> HubLink {
    let (sub, hosted) = hosted::subscribe(local, channel);
    HubLink {
        socket: PathBuf::new(),
        uniqueid: local.uniqueid().to_string(),
        token: String::new(),
        first: Attempt::Hosted(sub, hosted),
    }
}

/// One attempt: connect without blocking, subscribe, wait up to `wait`
/// for the greeting.
fn attempt(socket: &Path, uniqueid: &str, token: &str, wait: Duration) -> Attempt {
    let Some(mut s) = connect(socket) else {
        return Attempt::Absent;
    };
    let line = Subscribe {
        uniqueid: uniqueid.to_string(),
        token: token.to_string(),
    }
    .to_line();
    if s.set_write_timeout(Some(wait)).is_err() || s.write_all(line.as_bytes()).is_err() {
        return Attempt::Absent;
    }
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !items.iter().any(|i| matches!(i, Item::Message(_))) {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Attempt::Absent;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return Attempt::Absent,
            Ok(n) => decoder.feed(&buf[..n], &mut items),
        }
    }
    if s.set_read_timeout(None).is_err() {
        return Attempt::Absent;
    }
    let mut messages = items.into_iter().filter_map(|i| match i {
        Item::Message(m) => Some(m),
        _ => None,
    });
    let Some(first) = messages.next() else {
        return Attempt::Absent;
    };
    if let Some(why) = parse_refusal(&first) {
        return Attempt::Refused(why);
    }
    let Some(hello) = Greeting::parse(&first) else {
        return Attempt::Refused("not a hub's greeting".into());
    };
    Attempt::Subscribed(Subscription::greeted(hello, messages.collect()), s)
}

impl Subscription {
    fn greeted(hello: Greeting, early: Vec<Message>) -> Subscription {
        Subscription {
            channel: hello.channel,
            caller: hello.caller,
            queue: hello.queue,
            position: hello.position,
            count: hello.count,
            language: hello.language,
            call_key: hello.call_key,
            route: hello.route,
            gone: hello.known == Known::No,
            early,
        }
    }
}

/// Connects without blocking: a Unix socket's connect fails at once
/// (`EAGAIN`) when the listener's backlog is full, where a blocking one
/// would wait for the hub to accept. (Also the hand-over's, `run::handover`.)
pub(crate) fn connect(socket: &Path) -> Option<UnixStream> {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).ok()?;
    s.set_nonblocking(true).ok()?;
    s.connect(&socket2::SockAddr::unix(socket).ok()?).ok()?;
    s.set_nonblocking(false).ok()?;
    Some(UnixStream::from(std::os::fd::OwnedFd::from(s)))
}

/// Follows the call through the hub instead of a session of its own, on a
/// thread of its own, through hub restarts. Falls back to a direct session
/// if `direct` is configured and the hub is absent, refuses, or goes.
/// `verified`: the hub vouched for the call's identity (see `run::who`);
/// otherwise nothing personal is said.
pub fn spawn_via_hub(
    link: HubLink,
    verified: bool,
    channel: Option<String>,
    mut direct: Option<AmiConfig>,
    tx: SyncSender<EventKind>,
    commands: Receiver<Command>,
    control: Option<Inbound>,
) -> std::io::Result<()> {
    let link = match link.first {
        Attempt::Hosted(sub, hosted) => {
            // Its commands go straight to the hub (`HubLink::commands`).
            drop(commands);
            hosted.attach(verified, &sub, tx, control);
            return Ok(());
        }
        first => HubLink { first, ..link },
    };
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("hub".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _g = span.enter();
            let HubLink {
                socket,
                uniqueid,
                token,
                first,
            } = link;
            if tx.send(EventKind::Identity(verified)).is_err() {
                return;
            }
            let channel = channel.or_else(|| match &first {
                Attempt::Subscribed(s, _) if !s.channel.is_empty() => Some(s.channel.clone()),
                _ => None,
            });
            let uid = (!uniqueid.is_empty()).then_some(uniqueid.as_str());
            let mut watch = ChannelWatch::new(channel.as_deref(), uid);
            let mut next = Some(first);
            let mut backoff = Backoff::new(REJOIN);
            let mut lost = false;
            // Reports made while no hub answered (the first greeting can
            // come after the start's short wait), for the hub that does.
            let mut waiting: Vec<crate::metrics::send::Line> = Vec::new();
            loop {
                let got = next
                    .take()
                    .unwrap_or_else(|| attempt(&socket, &uniqueid, &token, REJOIN_GREETING));
                match got {
                    Attempt::Subscribed(sub, stream) => {
                        if sub.gone {
                            // Started for a call that ended (Asterisk can
                            // start a generator after the stop that should
                            // have cancelled it).
                            tracing::warn!(uniqueid = %uniqueid, "no such call on Asterisk: the call is over, exiting");
                            tx.send(EventKind::Hangup).ok();
                            let mut stream = stream;
                            for line in waiting.drain(..) {
                                stream.write_all(line.as_bytes()).ok();
                            }
                            linger(stream, &commands);
                            return;
                        }
                        if lost {
                            tracing::info!("hub back: following the call again");
                        }
                        backoff.reset();
                        if follow(sub, stream, &mut watch, &tx, &commands, &mut waiting, control.as_ref())
                            == Followed::CallOver
                        {
                            return;
                        }
                        lost = true;
                        if direct.is_none() {
                            tracing::warn!("hub gone: the music goes on; subscribing again when it is back");
                        }
                    }
                    Attempt::Refused(why) => {
                        if lost {
                            tracing::warn!("the hub refused this generator: {why}");
                        }
                        // A refusal does not change by asking again.
                        if direct.is_none() {
                            tracing::warn!("no AMI events for this call");
                            return;
                        }
                    }
                    // Not made by `attempt`: taken before the thread.
                    Attempt::Absent | Attempt::Hosted(..) => {}
                }
                if let Some(cfg) = direct.take() {
                    // A session of its own has no hub to report to.
                    waiting.clear();
                    tracing::warn!("no hub: opening a session of our own");
                    spawn(cfg, tx, commands).ok();
                    return;
                }
                // Redirects asked while no hub is there are for then, not
                // for whenever it comes back; reports wait for it (their
                // number bounded by `metrics::send`).
                for c in commands.try_iter() {
                    match c {
                        Command::Redirect(to) => {
                            tracing::warn!(context = %to.context, exten = %to.exten, "no hub: redirect dropped");
                        }
                        Command::Report(line) => waiting.push(line),
                        // Its hub is gone: nobody waits for it.
                        Command::Control(_) => {}
                    }
                }
                backoff.wait();
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
    mut stream: UnixStream,
    watch: &mut ChannelWatch,
    tx: &SyncSender<EventKind>,
    commands: &Receiver<Command>,
    waiting: &mut Vec<crate::metrics::send::Line>,
    control: Option<&Inbound>,
) -> Followed {
    // The hub's control commands for this call go to the relay's worker.
    let from_hub = |m: &Message| control.is_some_and(|c| c.take(m));
    if let Some(c) = control {
        c.learn(&sub.channel, &sub.caller, &sub.queue, &sub.route);
    }
    watch.set_queue(&sub.queue);
    // The place the hub remembered: the engine has it at its first frame
    // (and a returning generator only hears of a change).
    if let Some(n) = sub.count {
        watch.set_size_known(n);
    }
    let known = sub.position.and_then(|p| watch.set_position_known(p));
    if watch
        .size_news()
        .into_iter()
        .chain(known)
        .any(|e| tx.send(e).is_err())
    {
        return Followed::CallOver;
    }
    // Its `MusicOnHoldStart` (which says it) came before this generator
    // subscribed: the channel's language comes with the greeting.
    if !sub.language.is_empty() && tx.send(EventKind::Language(sub.language.clone())).is_err() {
        return Followed::CallOver;
    }
    for m in sub.early.iter().filter(|m| !from_hub(m)) {
        if watch.events(m).any(|e| tx.send(e).is_err()) {
            return Followed::CallOver;
        }
    }
    let mut decoder = Decoder::new();
    // Wake now and then to pass redirects on to the hub.
    stream.set_read_timeout(Some(READ_TICK)).ok();
    // A hub that does not read never holds this thread for long.
    stream.set_write_timeout(Some(WRITE_WAIT)).ok();
    for line in waiting.drain(..) {
        stream.write_all(line.as_bytes()).ok();
    }
    let mut buf = [0u8; 8192];
    loop {
        pass_on(&mut stream, commands, true);
        // Woken by a redirect to pass on, or by the hub.
        if !crate::ami::wake::wait(std::os::fd::AsFd::as_fd(&stream), commands, READ_TICK) {
            continue;
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
                && !from_hub(&m)
            {
                for e in watch.events(&m) {
                    let over = e.ends_stream();
                    if tx.send(e).is_err() || over {
                        linger(stream, commands);
                        return Followed::CallOver;
                    }
                }
            }
        }
    }
}

/// How long a write to the hub may wait for it to read.
const WRITE_WAIT: Duration = Duration::from_secs(1);

/// Writes what the call asks of the hub: its reports, and (while the call
/// is on) its redirects. A failed write is noticed by the next read.
fn pass_on(stream: &mut UnixStream, commands: &Receiver<Command>, redirects: bool) {
    for c in commands.try_iter() {
        match c {
            Command::Redirect(to) if redirects => {
                let ask = Redirect {
                    context: to.context,
                    exten: to.exten,
                    priority: to.priority.to_string(),
                };
                if stream.write_all(ask.to_line().as_bytes()).is_ok() {
                    tracing::info!(context = %ask.context, exten = %ask.exten, "caller redirected (through the hub)");
                }
            }
            Command::Redirect(_) => {}
            // Written, then dropped: `metrics::send::flush` sees it gone.
            Command::Report(line) => {
                stream.write_all(line.as_bytes()).ok();
            }
            Command::Control(line) => {
                stream.write_all(line.as_bytes()).ok();
            }
        }
    }
}

/// The call is over and the generator is ending: what it still reports
/// (its exit) goes to the hub, until the hub closes or the process ends
/// (soon: the engine has the end already).
fn linger(mut stream: UnixStream, commands: &Receiver<Command>) {
    stream.set_read_timeout(Some(READ_TICK)).ok();
    stream.set_write_timeout(Some(WRITE_WAIT)).ok();
    let mut buf = [0u8; 4096];
    loop {
        pass_on(&mut stream, commands, false);
        if !crate::ami::wake::wait(std::os::fd::AsFd::as_fd(&stream), commands, READ_TICK) {
            continue;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}
