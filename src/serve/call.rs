//! One connection, from accept to close: the UUID packet within a bounded
//! wait, the call's engine (resumed from its checkpoint when the same UUID
//! was here before), its place in the registry, then the stream. Every
//! line it logs names the call by its UUID, never by caller data.

use super::Shared;
use super::codec::{self, Decoder, Message};
use super::stream::{CallStream, End};
use crate::audio::format::Format;
use crate::config::{CallIdentity, Given};
use crate::engine::ahead::Ahead;
use crate::engine::language::LanguageBy;
use crate::engine::{Engine, Event};
use crate::run::checkpoint::Checkpoints;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

/// The engine's rate: AudioSocket's own `0x10`, slin 8 kHz. Asterisk
/// takes it on every channel (also one made with `c(slin16)`, which
/// sends `0x12` itself: it transcodes what it gets).
pub const RATE: u32 = 8000;

/// Serves one connection to its end.
pub fn handle(sock: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let (uuid, decoder, early) = match handshake(&sock, shared) {
        Ok(h) => h,
        Err(why) => {
            tracing::warn!(%peer, "AudioSocket connection closed: {why}");
            return;
        }
    };
    let span = tracing::info_span!("call", uuid = %uuid);
    let _g = span.enter();
    if let Err(e) = sock.set_nonblocking(true) {
        tracing::warn!(uuid = %uuid, "call ended at once: cannot make its socket non-blocking: {e}");
        return;
    }
    sock.set_nodelay(true).ok();
    let member = shared.calls.join(&uuid);
    let checkpoints = shared
        .state_dir
        .as_deref()
        .and_then(|d| Checkpoints::open(&identity(&uuid), None, None, Some(d)));
    let mut engine = engine(shared, checkpoints.as_ref(), &uuid);
    for kind in &member.preset {
        let at = engine.now();
        engine.push(Event {
            at,
            kind: kind.clone(),
        });
    }
    let mut stream = CallStream::new(
        sock,
        decoder,
        Ahead::new(engine, Format::Slin),
        member,
        checkpoints,
    );
    tracing::info!(uuid = %uuid, %peer, "call started");
    let end = match stream.early(&early) {
        Some(end) => end,
        None => stream.run(),
    };
    match end {
        End::Eof | End::Hangup | End::Ended => tracing::info!(uuid = %uuid, "call ended: {end}"),
        _ => tracing::warn!(uuid = %uuid, "call ended: {end}"),
    }
    shared.ended(&uuid);
}

/// The UUID packet, within `shared.uuid_wait`: the UUID as text, the
/// decoder after it, and any bytes that came with it.
fn handshake(mut sock: &TcpStream, shared: &Shared) -> Result<(String, Decoder, Vec<u8>), String> {
    let deadline = Instant::now() + shared.uuid_wait;
    let mut decoder = Decoder::default();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no UUID within {:?}", shared.uuid_wait));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("cannot wait for its UUID: {e}"))?;
        let n = match sock.read(&mut buf) {
            Ok(0) => return Err("closed before sending its UUID".into()),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading its UUID failed: {e}")),
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (used, msg) = decoder.feed(rest);
            rest = &rest[used..];
            match msg {
                None => {}
                Some(Ok(Message::Uuid(raw))) => return Ok((codec::uuid_text(&raw), decoder, rest.to_vec())),
                Some(Ok(other)) => return Err(format!("the first packet was not a UUID but {other:?}")),
                Some(Err(fault)) => return Err(format!("the first packet was bad: {fault}")),
            }
            if used == 0 {
                break;
            }
        }
    }
}

/// The call's key for checkpoints: its UUID, as a call's own Uniqueid.
fn identity(uuid: &str) -> CallIdentity {
    CallIdentity {
        uniqueid: Some(Given {
            value: uuid.to_string(),
            in_argv: true,
        }),
        ..CallIdentity::default()
    }
}

/// A new engine, or the call's own resumed from its checkpoint; with the
/// process's sounds attached.
fn engine(shared: &Shared, checkpoints: Option<&Checkpoints>, uuid: &str) -> Engine {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let snap = checkpoints.and_then(|c| c.resumable(now_ms));
    let mut engine = match &snap {
        Some(snap) => {
            tracing::info!(uuid = %uuid, from_ms = snap.at_ms, "resuming the call");
            Engine::resume(&shared.scenario, RATE, snap, now_ms)
        }
        None => Engine::new(
            &shared.scenario,
            RATE,
            shared.seed.unwrap_or_else(|| fastrand::u64(..)),
        ),
    };
    if let Some(code) = &shared.language {
        engine.choose_language(code, LanguageBy::Route);
    }
    shared.sounds.attach(engine.library_mut());
    engine
}
