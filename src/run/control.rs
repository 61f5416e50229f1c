//! The call's control (`--control PATH`, and the hub's relay): its socket
//! bound before anything else (a path in the way fails the start, and
//! says why), its target made once the call is ready, and the audio
//! thread's two hooks: take status requests when the bell rings, answer
//! them at the end of a tick (see `control::call`).

use super::inbox::Inbox;
use crate::ami::client::Command;
use crate::audio::cache::Cache;
use crate::config::RunConfig;
use crate::control::call::{ASKS, Answering, CallTarget, Facts};
use crate::control::relay::{Inbound, RelayBy};
pub use crate::control::socket::Bound;
use crate::engine::ahead::Ahead;
use std::sync::Arc;

/// Binds `--control`, if given (mode 0600).
pub fn bind(cfg: &RunConfig) -> anyhow::Result<Option<Bound>> {
    cfg.control
        .as_deref()
        .map(|p| crate::control::socket::bind(p, 0o600, "--control"))
        .transpose()
}

/// The audio thread's end of the call's control; the socket file goes
/// with it.
pub struct Control {
    _bound: Option<Bound>,
    answering: Answering,
}

/// The call's target, served on `bound` (if any) and handed to the hub's
/// relay (the returned [`Inbound`], when `relay`: a worker thread's, or
/// the target itself for the hub hosting the call). Call with the stop
/// signals blocked: it starts threads.
pub fn start(
    bound: Option<Bound>,
    facts: Facts,
    inbox: &Inbox<'_>,
    cache: &Cache,
    rate: u32,
    relay: Option<RelayBy>,
) -> (Control, Option<Inbound>) {
    let (asks, rx) = inbox.bell.sync_channel(ASKS);
    let target = Arc::new(CallTarget::new(
        facts,
        inbox.event_sender(),
        asks,
        cache.clone(),
        rate,
    ));
    if let Some(b) = &bound {
        match crate::control::serve(b, target.clone(), crate::control::Mode::OneCall) {
            Ok(()) => tracing::info!(control = %b.path().display(), "control socket listening"),
            Err(e) => tracing::error!(control = %b.path().display(), "cannot serve the control socket: {e}"),
        }
    }
    let relay = match relay {
        None => None,
        Some(RelayBy::InProcess) => {
            let facts = target.facts();
            Some(Inbound::in_process(target, facts))
        }
        Some(RelayBy::Worker) => {
            let tx = inbox.command_sender();
            let facts = target.facts();
            crate::control::relay::spawn(target, facts, move |line| {
                tx.send(Command::Control(line)).ok();
            })
            .map_err(|e| tracing::error!("cannot start the hub's control relay: {e}"))
            .ok()
        }
    };
    (
        Control {
            _bound: bound,
            answering: Answering::new(rx),
        },
        relay,
    )
}

impl Control {
    /// The bell rang: status requests are taken in (before the events).
    pub fn take_asks(&mut self, ahead: &Ahead) {
        self.answering.take_asks(ahead);
    }

    /// After the tick's frames: answers what can be answered.
    pub fn answer(&mut self, ahead: &Ahead) {
        if self.answering.is_waiting() {
            self.answering.answer(ahead);
        }
    }
}
