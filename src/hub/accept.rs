//! The hub's side of the socket: accept generators, read each one's
//! `SUBSCRIBE` line, greet it with what the call table says of its call,
//! add it to the subscribers, and pass its `REDIRECT` lines on to the AMI
//! session, for its own channel only (never one named by the generator).
//! One thread per held call, with a small stack, waiting in poll(2).

use super::calls::SharedCalls;
use super::protocol::{Greeting, Redirect, Subscribe};
use super::session::RedirectAsk;
use super::subscribers::{Subscriber, Subscribers};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// How long a generator may take to send its `SUBSCRIBE` line.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

pub(super) fn accept(
    listener: UnixListener,
    subs: Subscribers,
    calls: SharedCalls,
    redirects: Sender<RedirectAsk>,
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
        let spawned = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || serve(stream, id, &subs, &calls, &redirects));
        if let Err(e) = spawned {
            tracing::warn!("cannot serve a generator: {e}");
        }
    }
}

/// One generator, from its `SUBSCRIBE` line until it goes.
fn serve(
    stream: UnixStream,
    id: u64,
    subs: &Subscribers,
    calls: &SharedCalls,
    redirects: &Sender<RedirectAsk>,
) {
    stream.set_read_timeout(Some(SUBSCRIBE_WAIT)).ok();
    let mut line = String::new();
    let mut reader = BufReader::new(std::io::Read::take(&stream, 4096));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let Some(Subscribe { channel, uniqueid }) = Subscribe::parse(&line) else {
        return;
    };
    let (call, known) = calls
        .lock()
        .ok()
        .map(|c| c.lookup(&uniqueid))
        .unwrap_or_else(|| (Default::default(), super::protocol::Known::Unsure));
    // With a Uniqueid, Asterisk's channel for it is the only one the
    // generator gets events of and may redirect; a channel-only
    // subscription gets events, never redirects.
    let (channel, own) = if uniqueid.is_empty() {
        (channel, String::new())
    } else {
        (String::new(), call.channel.clone())
    };
    let hello = Greeting {
        channel: call.channel.clone(),
        uniqueid: uniqueid.clone(),
        caller: call.caller.clone(),
        queue: call.queue.clone(),
        known,
    };
    if (&stream).write_all(&hello.to_message().to_wire()).is_err() || stream.set_nonblocking(true).is_err() {
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
    read_commands(&stream, &own, redirects);
    // Gone (or dropped by the fan-out): forget it now, not at the
    // next event that happens to concern it.
    if let Ok(mut s) = subs.lock() {
        s.retain(|x| x.id != id);
    }
}

/// A generator's command lines, until it goes. Its socket is non-blocking
/// (for the fan-out's writes), so this waits in poll(2).
fn read_commands(stream: &UnixStream, channel: &str, redirects: &Sender<RedirectAsk>) {
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
            match Redirect::parse(&text).filter(|_| !channel.is_empty()) {
                Some(to) => {
                    redirects
                        .send(RedirectAsk {
                            channel: channel.to_string(),
                            to,
                            asked: Instant::now(),
                        })
                        .ok();
                }
                None => tracing::debug!("generator sent {text:?}: ignored"),
            }
        }
    }
}
