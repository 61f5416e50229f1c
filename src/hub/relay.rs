//! The hub's control socket (`hub --control PATH`): `list` shows the calls
//! whose generators are subscribed, and `CALL COMMAND` (CALL a Uniqueid or
//! a channel name) passes the command on to that call's generator over its
//! subscription (see `control::relay`), waits for its answer and gives it
//! back as it came. A generator answers only for its own call: an answer
//! is taken only from the connection the command went to. A call the hub
//! hosts (`hub --audio`) is asked in-process, through its own control
//! target. The hub never
//! waits on a generator while holding the subscribers' lock: the command
//! is written without blocking, like the fan-out's events.

use super::calls::SharedCalls;
use super::subscribers::{Sink, Subscribers};
use crate::control::Target;
use crate::control::protocol::{Answer, Command, mask_caller};
use crate::control::relay::{command_message, parse_answer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long the hub waits for a generator's answer (a `play` decodes its
/// file first).
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Commands passed on and not answered yet: their id, the subscriber they
/// went to, and where the answer goes.
#[derive(Default)]
pub(super) struct Relays {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, (u64, mpsc::SyncSender<Answer>)>>,
}

impl Relays {
    /// An answer line (`CONTROL` and what follows) from subscriber `from`.
    pub fn answered(&self, from: u64, rest: &str) {
        let Some((id, answer)) = parse_answer(rest) else {
            tracing::debug!("a generator's control answer did not parse: ignored");
            return;
        };
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if w.get(&id).is_some_and(|(sub, _)| *sub == from)
            && let Some((_, tx)) = w.remove(&id)
        {
            tx.try_send(answer).ok();
        }
    }
}

/// The hub's calls as a control target.
pub(super) struct HubTarget {
    pub subs: Subscribers,
    pub calls: SharedCalls,
    pub relays: Arc<Relays>,
}

impl Target for HubTarget {
    fn list(&self) -> Vec<Value> {
        let uniqueids: Vec<String> = {
            let list = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            list.iter().map(|s| s.uniqueid.clone()).collect()
        };
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        uniqueids
            .into_iter()
            .map(|u| {
                let c = calls.by_uniqueid.get(&u);
                let text = |f: fn(&super::calls::Call) -> &str| {
                    c.map(f).filter(|v| !v.is_empty()).map(str::to_string)
                };
                json!({
                    "call": u,
                    "channel": text(|c| &c.channel),
                    "caller": text(|c| &c.caller).as_deref().map(mask_caller),
                    "queue": text(|c| &c.queue),
                    "route": calls.route_of(&u),
                    "position": c.and_then(|c| c.position),
                })
            })
            .collect()
    }

    fn command(&self, call: Option<&str>, cmd: Command) -> Answer {
        let Some(call) = call else {
            return Answer::error("name the call: CALL COMMAND (see `list`)");
        };
        // A channel name is looked up in the call table.
        let by_channel = {
            let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            calls
                .by_uniqueid
                .iter()
                .find(|(_, c)| c.channel == call)
                .map(|(u, _)| u.clone())
        };
        let id = self.relays.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        let wire = command_message(id, &cmd).to_wire();
        let hosted = {
            let list = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            let Some(sub) = list
                .iter()
                .find(|s| s.uniqueid == call || by_channel.as_deref() == Some(s.uniqueid.as_str()))
            else {
                return Answer::error(format!("no generator subscribed for {call:?} (see `list`)"));
            };
            match &sub.sink {
                Sink::Local { control, .. } => match control {
                    Some(target) => Some(target.clone()),
                    None => return Answer::error("the call is not streaming yet; try again"),
                },
                Sink::Socket(stream) => {
                    self.relays
                        .waiting
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, (sub.id, tx));
                    // Non-blocking, as the fan-out's: a generator that does
                    // not read is not waited for here.
                    match (&**stream).write(&wire) {
                        Ok(n) if n == wire.len() => None,
                        Ok(n) => {
                            // Half a message would garble what follows it:
                            // the generator is cut off (it subscribes again).
                            if n > 0 {
                                stream.shutdown(std::net::Shutdown::Both).ok();
                            }
                            self.forget(id);
                            return Answer::error("the call's generator is not reading; try again");
                        }
                        Err(_) => {
                            self.forget(id);
                            return Answer::error("the call's generator is not reading; try again");
                        }
                    }
                }
            }
        };
        // A call this hub hosts is asked in-process, off the lock, as its
        // own control socket would be (a `status` waits for its next tick).
        let mut answer = match hosted {
            Some(target) => target.command(None, cmd.clone()),
            None => rx
                .recv_timeout(ANSWER_WAIT)
                .unwrap_or_else(|_| Answer::error("the call's generator did not answer in time")),
        };
        self.forget(id);
        // The route is the hub's to know (it picked it); the generator
        // only has the playlist.
        if let (Command::Status, Ok(fields)) = (&cmd, &mut answer.0) {
            let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            let uid = by_channel.as_deref().unwrap_or(call);
            fields.insert(
                "route".into(),
                calls.route_of(uid).map_or(Value::Null, Value::from),
            );
        }
        answer
    }
}

impl HubTarget {
    fn forget(&self, id: u64) {
        self.relays
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}
