//! A generator's side of the hub's control relay: the hub passes a
//! command for this call on its subscription (`Event: HoldmixControl`
//! with `Id` and `Command`), a worker thread here does it as the call's
//! own control socket would (a `play` decodes, a `status` waits for the
//! audio thread: never on the thread following the call's events), and
//! the answer goes back as one line, `CONTROL <id> <json>`.

use super::call::Facts;
use super::listener::Target;
use super::protocol::{Answer, Command};
use crate::ami::codec::Message;
use std::sync::{Arc, Mutex, mpsc};

/// Commands from the hub waiting for the worker; more are dropped (the
/// hub's waiter times out).
const WAITING: usize = 4;

/// The event the hub sends a command in.
pub const EVENT: &str = "HoldmixControl";

/// How the hub's commands reach a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayBy {
    /// Over its subscription, to a worker thread of the generator's.
    Worker,
    /// The hub hosts the call (`hub --audio`): it asks the call's target
    /// itself, in-process, with no thread here.
    InProcess,
}

/// Where the thread following the hub hands the hub's commands (or, for
/// a hosted call, the target the hub asks), and what the hub's greeting
/// says of the call.
#[derive(Clone)]
pub struct Inbound {
    tx: Option<mpsc::SyncSender<(u64, String)>>,
    target: Option<Arc<dyn Target>>,
    facts: Arc<Mutex<Facts>>,
}

impl Inbound {
    /// The hub greeted this generator: its word on the call's channel,
    /// caller, queue and route fills what the command line did not say.
    pub fn learn(&self, channel: &str, caller: &str, queue: &str, route: &str) {
        self.facts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .learn(channel, caller, queue, route);
    }

    /// Takes `m` when it is a command from the hub (true), else false.
    pub fn take(&self, m: &Message) -> bool {
        if !m.is(EVENT) {
            return false;
        }
        let id = m.get("Id").and_then(|v| v.parse::<u64>().ok());
        if let (Some(tx), Some(id), Some(line)) = (&self.tx, id, m.get("Command")) {
            tx.try_send((id, line.to_string())).ok();
        }
        true
    }

    /// A hosted call's target, for the hub to ask in-process.
    pub fn target(&self) -> Option<Arc<dyn Target>> {
        self.target.clone()
    }

    /// A hosted call's: the hub asks `target` itself ([`RelayBy::InProcess`]).
    pub fn in_process(target: Arc<dyn Target>, facts: Arc<Mutex<Facts>>) -> Inbound {
        Inbound {
            tx: None,
            target: Some(target),
            facts,
        }
    }
}

/// The message the hub sends a command in.
pub fn command_message(id: u64, cmd: &Command) -> Message {
    Message {
        fields: vec![
            ("Event".into(), EVENT.into()),
            ("Id".into(), id.to_string()),
            ("Command".into(), cmd.to_line()),
        ],
    }
}

/// The line a generator answers with.
pub fn answer_line(id: u64, answer: &Answer) -> String {
    format!("CONTROL {id} {}\n", answer.to_line())
}

/// Reads an answer line (without `CONTROL `): its id and answer.
pub fn parse_answer(rest: &str) -> Option<(u64, Answer)> {
    let (id, json) = rest.split_once(' ')?;
    Some((id.parse().ok()?, Answer::parse(json)))
}

/// Starts the worker for `target`, whose `facts` the hub's greeting
/// completes; answers go to `out` (a line each).
pub fn spawn(
    target: Arc<dyn Target>,
    facts: Arc<Mutex<Facts>>,
    out: impl Fn(String) + Send + 'static,
) -> std::io::Result<Inbound> {
    let (tx, rx) = mpsc::sync_channel::<(u64, String)>(WAITING);
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("control-relay".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let _g = span.enter();
            for (id, line) in rx {
                let answer = match Command::parse(&line) {
                    Ok(cmd) => target.command(None, cmd),
                    Err(why) => Answer::error(why),
                };
                out(answer_line(id, &answer));
            }
        })?;
    Ok(Inbound {
        tx: Some(tx),
        target: None,
        facts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_command_and_its_answer_round_trip() {
        let m = command_message(7, &Command::Position(3));
        assert_eq!(m.get("Command"), Some("position 3"));
        let a = Answer::error("no");
        let line = answer_line(7, &a);
        let rest = line.trim_end().strip_prefix("CONTROL ").unwrap();
        assert_eq!(parse_answer(rest), Some((7, a)));
        assert_eq!(parse_answer("x {}"), None);
    }
}
