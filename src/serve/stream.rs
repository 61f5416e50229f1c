//! One call's stream over its AudioSocket connection, on one thread: every
//! 20 ms tick it reads what Asterisk sent (keys, a hangup; audio is
//! dropped as it passes), applies the registry's events, and writes the
//! frame that starts now as one audio packet — on absolute deadlines
//! ([`Clock`]), so nothing drifts and nothing is sent ahead.
//!
//! Asterisk forwards each packet to the channel the moment it reads it
//! (the captures show no buffering or pacing of its own), so a burst
//! would reach the caller as a burst: a late tick catches up at most
//! [`MAX_CATCH_UP`] frames and skips the rest, and a peer that stops
//! reading makes the stream skip rather than queue. The socket is
//! non-blocking both ways: a tick never waits on the peer.

use super::calls::Member;
use super::codec::{self, Decoder, Fault, Message};
use crate::audio::clock::Clock;
use crate::audio::format::FRAME_MS;
use crate::engine::ahead::Ahead;
use crate::engine::{BalanceAnswer, Event, EventKind, Request};
use crate::run::Exit;
use crate::run::checkpoint::Checkpoints;
use crate::util::ratelimit::{Limiter, WINDOW};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Frames a late tick still sends (60 ms: what a jitter buffer takes);
/// further behind, the stream skips to the present.
pub const MAX_CATCH_UP: u64 = 3;
/// Bytes read from the peer per tick at most (its audio is 16 KB/s at
/// slin8; more waits in the kernel for the next tick, never here).
const READ_PER_TICK: usize = 64 * 1024;
const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);

/// Why a call's stream ended.
#[derive(Debug)]
pub enum End {
    /// Asterisk closed the connection (how a hangup looks: it sends no
    /// hangup packet).
    Eof,
    /// The peer's hangup packet.
    Hangup,
    /// The peer's error packet, with its code.
    PeerError(Option<u8>),
    /// A packet that cannot be taken (bad type, bad length).
    Fault(Fault),
    ReadError(std::io::Error),
    WriteError(std::io::Error),
    /// The engine ended the call (a `hangup` event from the registry).
    Ended,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("the peer closed the connection"),
            End::Hangup => f.write_str("the peer sent a hangup packet"),
            End::PeerError(Some(c)) => write!(f, "the peer sent an error packet (code 0x{c:02x})"),
            End::PeerError(None) => f.write_str("the peer sent an error packet"),
            End::Fault(fault) => write!(f, "bad packet from the peer: {fault}"),
            End::ReadError(e) => write!(f, "reading from the peer failed: {e}"),
            End::WriteError(e) => write!(f, "writing to the peer failed: {e}"),
            End::Ended => f.write_str("the call was ended here"),
        }
    }
}

pub struct CallStream {
    sock: TcpStream,
    decoder: Decoder,
    ahead: Ahead,
    member: Member,
    clock: Clock,
    checkpoints: Option<Checkpoints>,
    /// Frames the stream has moved on by: written or skipped.
    sent: u64,
    /// Packets not yet taken by the kernel, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    buf: Box<[u8]>,
}

impl CallStream {
    pub fn new(
        sock: TcpStream,
        decoder: Decoder,
        ahead: Ahead,
        member: Member,
        checkpoints: Option<Checkpoints>,
    ) -> CallStream {
        CallStream {
            sock,
            decoder,
            ahead,
            member,
            clock: Clock::new(FRAME),
            checkpoints,
            sent: 0,
            out: Vec::with_capacity((MAX_CATCH_UP as usize) * 400),
            out_at: 0,
            buf: vec![0; 4096].into_boxed_slice(),
        }
    }

    /// Bytes that came with the UUID packet, decoded before the first tick.
    pub fn early(&mut self, bytes: &[u8]) -> Option<End> {
        self.decode(bytes)
    }

    /// Streams until the call ends; then keeps its checkpoint.
    pub fn run(mut self) -> End {
        let end = loop {
            if let Some(end) = self.tick() {
                break end;
            }
            // A signal only cuts a sleep short; the next tick is as due.
            self.clock.wait();
        };
        self.finish(&end);
        end
    }

    fn tick(&mut self) -> Option<End> {
        if let Some(end) = self.read_peer() {
            return Some(end);
        }
        while let Ok(kind) = self.member.events.try_recv() {
            self.apply(kind);
        }
        if self.ahead.engine().has_requests() {
            self.serve_requests();
        }
        let due = self.clock.units_at_wake(FRAME) + 1;
        let written = match self.write_due(due) {
            Ok(n) => n,
            Err(e) => return Some(End::WriteError(e)),
        };
        let happened = self.ahead.engine().has_timeline();
        if happened {
            for entry in self.ahead.drain_timeline() {
                tracing::debug!(?entry, "timeline");
            }
        }
        if written > 0
            && let Some(c) = &mut self.checkpoints
        {
            c.after_write(self.ahead.engine(), happened, self.ahead.ready() as u64);
        }
        if self.ahead.engine().ended().is_some() {
            // The session ends from here: Asterisk's AudioSocket() then
            // returns success and the dialplan goes on.
            self.sock.write_all(&codec::HANGUP).ok();
            return Some(End::Ended);
        }
        self.ahead.fill();
        None
    }

    /// Everything the peer sent since the last tick.
    fn read_peer(&mut self) -> Option<End> {
        // Taken out while the decoder (through `self`) reads it.
        let mut buf = std::mem::take(&mut self.buf);
        let end = self.read_into(&mut buf);
        self.buf = buf;
        end
    }

    fn read_into(&mut self, buf: &mut [u8]) -> Option<End> {
        let mut total = 0;
        while total < READ_PER_TICK {
            let n = match self.sock.read(buf) {
                Ok(0) => return Some(End::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Some(End::ReadError(e)),
            };
            total += n;
            if let Some(end) = self.decode(&buf[..n]) {
                return Some(end);
            }
        }
        None
    }

    fn decode(&mut self, mut bytes: &[u8]) -> Option<End> {
        while !bytes.is_empty() {
            let (used, msg) = self.decoder.feed(bytes);
            bytes = &bytes[used..];
            match msg {
                None => {}
                Some(Err(fault)) => return Some(End::Fault(fault)),
                Some(Ok(Message::Hangup)) => return Some(End::Hangup),
                Some(Ok(Message::Error(code))) => return Some(End::PeerError(code)),
                Some(Ok(Message::Dtmf(c))) => self.key(c),
                Some(Ok(Message::Audio { .. } | Message::Uuid(_))) => {}
            }
            if used == 0 {
                break;
            }
        }
        None
    }

    fn key(&mut self, c: char) {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
            self.apply(EventKind::Dtmf(c));
        } else {
            static BAD_KEY: Limiter = Limiter::new(WINDOW);
            if let Some(more) = BAD_KEY.check() {
                tracing::warn!("a DTMF packet held no key: ignored{more}");
            }
        }
    }

    /// An event, acted on at the next frame written.
    fn apply(&mut self, kind: EventKind) {
        let e = self.ahead.change();
        let at = e.now();
        e.push(Event { at, kind });
    }

    /// No billing, no AMI and no webhook here: a balance lookup fails at
    /// once (the caller hears the playlist's "unavailable"), a redirect is
    /// logged, a `[plan]` ask fails (the playlist goes on alone).
    fn serve_requests(&mut self) {
        let requests: Vec<Request> = self.ahead.take_requests().collect();
        for r in requests {
            match r {
                Request::Balance => self.apply(EventKind::Balance(BalanceAnswer::Failed)),
                // No webhook worker here (yet): the playlist plays alone.
                Request::Plan(_) => self.apply(EventKind::Plan(Err(
                    "serve asks no [plan] webhook: the playlist plays alone".into(),
                ))),
                Request::Redirect(_) => {
                    static REDIRECT: Limiter = Limiter::new(WINDOW);
                    if let Some(more) = REDIRECT.check() {
                        tracing::warn!(
                            "a key asked for a redirect, which AudioSocket cannot do: ignored{more}"
                        );
                    }
                }
            }
        }
    }

    /// Writes the frames due by `due` (those the peer can take), skipping
    /// what a late tick or a stalled peer missed. The frames written.
    fn write_due(&mut self, due: u64) -> std::io::Result<usize> {
        let behind = due.saturating_sub(self.sent);
        if !self.flush()? {
            // The peer reads nothing: the stream goes on without it.
            if behind > 0 {
                self.skip(behind);
            }
            return Ok(0);
        }
        let mut n = behind;
        if n > MAX_CATCH_UP {
            self.skip(n - 1);
            n = 1;
        }
        if n == 0 {
            return Ok(0);
        }
        self.out.clear();
        self.out_at = 0;
        let fb = crate::audio::format::Format::Slin.frame_bytes();
        let pcm = self.ahead.take(n as usize);
        for frame in pcm.chunks_exact(fb) {
            codec::audio_packet(frame, &mut self.out);
        }
        self.sent += n;
        // All the packets in one write: Asterisk waits only 5 ms for the
        // rest of a packet it started to read.
        self.flush()?;
        Ok(n as usize)
    }

    /// Sends what is pending; true when nothing is left.
    fn flush(&mut self) -> std::io::Result<bool> {
        while self.out_at < self.out.len() {
            match self.sock.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(k) => self.out_at += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    #[cold]
    #[inline(never)]
    fn skip(&mut self, frames: u64) {
        static STALLED: Limiter = Limiter::new(WINDOW);
        self.ahead.skip(frames);
        self.sent += frames;
        if let Some(more) = STALLED.check() {
            tracing::warn!(frames, "the stream fell behind: skipping to the present{more}");
        }
    }

    /// The end: the engine goes back to what was written, and the
    /// checkpoint keeps it for a reconnect with the same UUID.
    fn finish(&mut self, end: &End) {
        let reason = match end {
            End::Eof => "eof",
            End::Hangup => "hangup",
            End::PeerError(_) => "peer-error",
            End::Fault(_) => "bad-packet",
            End::ReadError(_) => "read-error",
            End::WriteError(_) => "write-error",
            End::Ended => "ended",
        };
        self.ahead.change().finish(reason);
        if let Some(c) = &mut self.checkpoints {
            // Asterisk sends no hangup when a call ends, so no end here
            // says the call is over: what was heard is kept (a call held
            // again connects with the same UUID and goes on).
            c.at_exit(self.ahead.engine(), Exit::ReaderGone, 0);
        }
        for entry in self.ahead.drain_timeline() {
            tracing::debug!(?entry, "timeline");
        }
    }
}
