//! `holdmix hub`: one AMI session per host. Asterisk sends every event to
//! every manager session, so 500 held calls with a session each multiply its
//! work by 500; the hub holds one session and hands each generator, over a
//! Unix socket, only what concerns its call.
//!
//! Protocol on the socket: the generator sends one line,
//! `SUBSCRIBE channel=<name> uniqueid=<id>` (either may be empty), then
//! reads AMI-framed messages (`Key: Value` lines, an empty line). The first
//! is the hub's own `Event: HoldmixCall` with what Asterisk said of that
//! Uniqueid (`Channel`, `CallerIDNum`; empty when the hub has not seen the
//! call); then events exactly as Asterisk sent them: events naming its
//! channel or Uniqueid, and queue-wide events (`QueueCallerLeave`,
//! `QueueParams`) of the queue its caller joined. The hub asks for
//! `QueueStatus` every 10 s, and for `CoreShowChannels` at each login to
//! learn the calls already up; once that list is complete, the greeting's
//! `Known: no` tells a generator its call is already over. A generator may send
//! `REDIRECT <context> <exten> <priority>` lines: the hub redirects that
//! generator's own channel (never one named by the generator).
//!
//! Threads and blocking I/O, like the per-call client: one AMI thread, one
//! accept thread; writes to generators are non-blocking and a generator
//! that does not keep up is dropped (it falls back to its own session).

use super::codec::{Decoder, Item, Message};
use super::connection::Connection;
use super::reconnect::{Ended, POLICY, keep_connected};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct HubConfig {
    pub ami: String,
    pub user: String,
    pub secret: String,
    pub socket: PathBuf,
}

struct Subscriber {
    /// Shared with the thread reading its commands: one descriptor.
    stream: Arc<UnixStream>,
    id: u64,
    channel: String,
    uniqueid: String,
    /// The queue its caller joined (learned from `QueueCallerJoin`).
    queue: Option<String>,
}

type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

/// What AMI said of a live call.
#[derive(Default, Clone)]
struct Call {
    channel: String,
    caller: String,
    /// The queue it waits in (`QueueCallerJoin`, `QueueEntry`).
    queue: String,
}

/// What AMI said of each live call, by Uniqueid. Bounded: a hub that
/// missed hangups starts over rather than grow.
#[derive(Default)]
struct Calls {
    by_uniqueid: std::collections::HashMap<String, Call>,
    /// The table holds every live call: logged in, and the answer to
    /// `CoreShowChannels` is complete. Only then does a Uniqueid missing
    /// from it mean the call is gone.
    complete: bool,
}

const MAX_CALLS: usize = 100_000;

impl Calls {
    fn learn(&mut self, m: &Message) {
        if m.is("CoreShowChannelsComplete") && m.get("ActionID") == Some(CHANNELS_ID) {
            self.complete = true;
            return;
        }
        let (Some(uid), Some(channel)) = (m.get("Uniqueid"), m.get("Channel")) else {
            return;
        };
        if m.is("Hangup") {
            self.by_uniqueid.remove(uid);
            return;
        }
        if self.by_uniqueid.len() >= MAX_CALLS && !self.by_uniqueid.contains_key(uid) {
            self.by_uniqueid.clear();
        }
        let e = self.by_uniqueid.entry(uid.to_string()).or_default();
        e.channel = channel.to_string();
        if let Some(num) = m
            .get("CallerIDNum")
            .filter(|n| !n.is_empty() && *n != "<unknown>")
        {
            e.caller = num.to_string();
        }
        if m.is("QueueCallerJoin") || m.is("QueueEntry") {
            e.queue = m.get("Queue").unwrap_or("").to_string();
        } else if m.is("QueueCallerLeave") || m.is("QueueCallerAbandon") {
            e.queue.clear();
        }
    }
}

type SharedCalls = Arc<Mutex<Calls>>;

/// The ActionIDs of the hub's actions (fixed: one of each is in flight).
const LOGIN_ID: &str = "login";
/// `CoreShowChannels`: its list's end makes the call table complete.
const CHANNELS_ID: &str = "channels";
const STATUS_ID: &str = "status";
const REDIRECT_ID: &str = "redirect";
/// How often the hub asks for `QueueStatus`.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// A redirect asked for by a generator, for its channel.
struct RedirectAsk {
    channel: String,
    context: String,
    exten: String,
    priority: String,
    /// A redirect is for now: one that waited out an AMI reconnect is
    /// dropped, not sprung on a caller who may be talking to an agent.
    asked: Instant,
}

const REDIRECT_FRESH: Duration = Duration::from_secs(2);

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

/// Runs the hub until the process is stopped.
pub fn run(cfg: &HubConfig) -> anyhow::Result<()> {
    raise_fd_limit();
    let listener = bind(&cfg.socket)?;
    tracing::info!(socket = %cfg.socket.display(), ami = %cfg.ami, "hub listening");
    let subs: Subscribers = Arc::new(Mutex::new(Vec::new()));
    let calls: SharedCalls = Arc::new(Mutex::new(Calls::default()));
    let (accept_subs, accept_calls) = (subs.clone(), calls.clone());
    let (redirect_tx, redirects) = std::sync::mpsc::channel::<RedirectAsk>();
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept(listener, accept_subs, accept_calls, redirect_tx))?;
    keep_connected(&cfg.ami, POLICY, || session(cfg, &subs, &calls, &redirects));
    Ok(())
}

/// The socket, group-accessible but not world-writable.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        // A stale socket from a previous hub; a live one would still answer.
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!("{}: another hub is listening", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

fn accept(
    listener: UnixListener,
    subs: Subscribers,
    calls: SharedCalls,
    redirects: std::sync::mpsc::Sender<RedirectAsk>,
) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let (subs, calls, redirects) = (subs.clone(), calls.clone(), redirects.clone());
        // The SUBSCRIBE line is read off the accept loop, bounded in time;
        // the thread then waits for the generator's commands (one per held
        // call: a small stack).
        let spawned = std::thread::Builder::new().stack_size(128 * 1024).spawn(move || {
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut line = String::new();
            let mut reader = BufReader::new(std::io::Read::take(&stream, 4096));
            if reader.read_line(&mut line).is_err() {
                return;
            }
            let Some(rest) = line.trim().strip_prefix("SUBSCRIBE") else {
                return;
            };
            let mut channel = String::new();
            let mut uniqueid = String::new();
            for word in rest.split_whitespace() {
                match word.split_once('=') {
                    Some(("channel", v)) => channel = v.to_string(),
                    Some(("uniqueid", v)) => uniqueid = v.to_string(),
                    _ => {}
                }
            }
            if channel.is_empty() && uniqueid.is_empty() {
                return;
            }
            let (call, known) = calls
                .lock()
                .ok()
                .map(|c| match c.by_uniqueid.get(&uniqueid) {
                    Some(call) => (call.clone(), "yes"),
                    None if c.complete && !uniqueid.is_empty() => (Call::default(), "no"),
                    None => (Call::default(), "unsure"),
                })
                .unwrap_or((Call::default(), "unsure"));
            // With a Uniqueid, Asterisk's channel for it is the only one the
            // generator gets events of and may redirect; a channel-only
            // subscription gets events, never redirects.
            let (channel, own) = if uniqueid.is_empty() {
                (channel, String::new())
            } else {
                (String::new(), call.channel.clone())
            };
            let hello = Message {
                fields: [
                    ("Event", "HoldmixCall"),
                    ("Channel", call.channel.as_str()),
                    ("Uniqueid", &uniqueid),
                    ("CallerIDNum", &call.caller),
                    ("Queue", &call.queue),
                    ("Known", known),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            };
            if (&stream).write_all(&hello.to_wire()).is_err() || stream.set_nonblocking(true).is_err() {
                return;
            }
            tracing::debug!(channel = %channel, uniqueid = %uniqueid, "generator subscribed");
            let stream = Arc::new(stream);
            if let Ok(mut s) = subs.lock() {
                s.push(Subscriber {
                    stream: stream.clone(),
                    id,
                    channel,
                    uniqueid,
                    queue: (!call.queue.is_empty()).then_some(call.queue),
                });
            }
            read_commands(&stream, &own, &redirects);
            // Gone (or dropped by the fan-out): forget it now, not at the
            // next event that happens to concern it.
            if let Ok(mut s) = subs.lock() {
                s.retain(|x| x.id != id);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot serve a generator: {e}");
        }
    }
}

/// A generator's command lines, until it goes. Its socket is non-blocking
/// (for the fan-out's writes), so this waits in poll(2).
fn read_commands(stream: &UnixStream, channel: &str, redirects: &std::sync::mpsc::Sender<RedirectAsk>) {
    use std::os::fd::AsRawFd;
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let n = match std::io::Read::read(&mut &*stream, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                // A line is a few tens of bytes; a longer one is not ours.
                if line.len() < 256 {
                    line.push(b);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            let words: Vec<&str> = text.split_whitespace().collect();
            match words.as_slice() {
                ["REDIRECT", context, exten, priority]
                    if !channel.is_empty() && priority.parse::<u32>().is_ok() =>
                {
                    redirects
                        .send(RedirectAsk {
                            channel: channel.to_string(),
                            context: context.to_string(),
                            exten: exten.to_string(),
                            priority: priority.to_string(),
                            asked: Instant::now(),
                        })
                        .ok();
                }
                _ => tracing::debug!("generator sent {text:?}: ignored"),
            }
        }
    }
}

/// One AMI session; it only ever drops (never [`Ended::Done`]): the hub
/// runs until the process is stopped.
fn session(
    cfg: &HubConfig,
    subs: &Subscribers,
    calls: &SharedCalls,
    redirects: &std::sync::mpsc::Receiver<RedirectAsk>,
) -> Result<Ended<()>, String> {
    // What happened while logged out is unknown until the list is in again.
    if let Ok(mut c) = calls.lock() {
        c.complete = false;
    }
    let mut conn = Connection::open(&cfg.ami)?;
    conn.login(&cfg.user, &cfg.secret, LOGIN_ID)?;
    tracing::info!(ami = %cfg.ami, "hub logged in");
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
                    ("Context", &r.context),
                    ("Exten", &r.exten),
                    ("Priority", &r.priority),
                ],
                REDIRECT_ID,
            )?;
            tracing::info!(channel = %r.channel, context = %r.context, exten = %r.exten, "caller redirected");
        }
        if Instant::now() >= next_status {
            conn.send_as("QueueStatus", &[], STATUS_ID)?;
            next_status = Instant::now() + STATUS_EVERY;
        }
        let Some(items) = conn.read()? else {
            return Ok(Ended::Dropped);
        };
        for item in items {
            let Item::Message(m) = item else { continue };
            if let Ok(mut c) = calls.lock() {
                c.learn(&m);
            }
            fan_out(&m, subs);
        }
    }
}

/// Hands `m` to the generators it concerns; drops the ones that are gone
/// or do not keep up.
fn fan_out(m: &Message, subs: &Subscribers) {
    let Ok(mut list) = subs.lock() else { return };
    let channel = m.get("Channel");
    let uniqueid = m.get("Uniqueid");
    let queue = m.get("Queue");
    let queue_wide = m.is("QueueCallerLeave") || m.is("QueueParams");
    let mut wire: Option<Vec<u8>> = None;
    list.retain_mut(|s| {
        let mine = (!s.channel.is_empty() && channel == Some(s.channel.as_str()))
            || (!s.uniqueid.is_empty() && uniqueid == Some(s.uniqueid.as_str()));
        if mine && m.is("QueueCallerJoin") {
            s.queue = queue.map(str::to_string);
        }
        let in_queue = queue_wide && queue.is_some() && s.queue.as_deref() == queue;
        if !(mine || in_queue) {
            return true;
        }
        let bytes = wire.get_or_insert_with(|| m.to_wire());
        match (&*s.stream).write(bytes) {
            Ok(n) if n == bytes.len() => true,
            _ => {
                // Shut down, not just forgotten: the generator sees the end
                // (and opens a session of its own) instead of half a message.
                tracing::debug!(channel = %s.channel, "generator gone or too slow: dropped");
                s.stream.shutdown(std::net::Shutdown::Both).ok();
                false
            }
        }
    });
}

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

/// A generator's side: subscribe at `socket` for this call; `None` when no
/// hub answers (the caller then opens its own session).
pub fn subscribe(socket: &Path, channel: Option<&str>, uniqueid: Option<&str>) -> Option<Subscription> {
    let mut s = UnixStream::connect(socket).ok()?;
    let line = format!(
        "SUBSCRIBE channel={} uniqueid={}\n",
        channel.unwrap_or(""),
        uniqueid.unwrap_or("")
    );
    s.write_all(line.as_bytes()).ok()?;
    s.set_read_timeout(Some(GREETING)).ok()?;
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !items.iter().any(|i| matches!(i, Item::Message(_))) && started.elapsed() < GREETING {
        let n = std::io::Read::read(&mut s, &mut buf).ok()?;
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
    let hello = messages.next().filter(|m| m.is("HoldmixCall"))?;
    Some(Subscription {
        channel: hello.get("Channel").unwrap_or("").to_string(),
        caller: hello.get("CallerIDNum").unwrap_or("").to_string(),
        queue: hello.get("Queue").unwrap_or("").to_string(),
        gone: hello.get("Known") == Some("no"),
        early: messages.collect(),
        stream: s,
    })
}
