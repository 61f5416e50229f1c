//! `serve --control PATH`: the control socket for every call an AudioSocket
//! server holds, by UUID (`holdmix ctl --serve PATH UUID COMMAND`). The
//! words and the socket's bounds are [`crate::control`]'s; here only what a
//! command means for a call reached through the [`Calls`] registry.
//!
//! A command for a UUID that has not connected yet is kept for it
//! ([`Calls::preset`]): this is how the dialplan hands over what it knows
//! before `AudioSocket()` runs, e.g. the queue position OpenSIPS
//! call_center put in the request URI.

use super::Calls;
use super::call::RATE;
use crate::audio::cache::Cache;
use crate::control::call::{decode_play, events_for};
use crate::control::{Answer, Command, Target};
use crate::engine::EventKind;
use serde_json::{Map, Value};

pub struct ServeTarget {
    pub calls: Calls,
    /// For `play`: its file is decoded here, on the control thread.
    pub cache: Cache,
}

impl Target for ServeTarget {
    fn list(&self) -> Vec<Value> {
        self.calls
            .list()
            .into_iter()
            .map(|uuid| serde_json::json!({ "call": uuid, "connected": true }))
            .collect()
    }

    fn command(&self, call: Option<&str>, cmd: Command) -> Answer {
        let Some(uuid) = call.and_then(uuid) else {
            return Answer::error("name the call by its AudioSocket UUID (8-4-4-4-12 hex digits)");
        };
        let connected = self.calls.list().contains(&uuid);
        let events = match &cmd {
            Command::Status => {
                // The audio threads publish no status: what the registry knows.
                return answer(&uuid, connected, false);
            }
            Command::Debug(on) => {
                // One switch per process: every call of this server.
                crate::control::debug::set(*on);
                let mut a = fields(&uuid, connected);
                a.insert("debug".into(), Value::Bool(*on));
                a.insert("scope".into(), "process".into());
                return Answer::with(a);
            }
            Command::Play(path) => match decode_play(&self.cache, RATE, path) {
                Ok(sound) => vec![EventKind::Play(sound)],
                Err(why) => return Answer::error(why),
            },
            other => match events_for(other) {
                Some(events) => events,
                None => return Answer::error("not a command for a call"),
            },
        };
        if connected {
            for ev in events {
                if !self.calls.send(&uuid, ev) {
                    return Answer::error("the call is gone, or has too many commands waiting");
                }
            }
            answer(&uuid, true, false)
        } else {
            for ev in events {
                self.calls.preset(&uuid, ev);
            }
            answer(&uuid, false, true)
        }
    }
}

fn fields(uuid: &str, connected: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("call".into(), uuid.into());
    m.insert("connected".into(), Value::Bool(connected));
    m
}

/// `kept`: held for the call's connection (for [`super::PRESET_TTL`]).
fn answer(uuid: &str, connected: bool, kept: bool) -> Answer {
    let mut m = fields(uuid, connected);
    if kept {
        m.insert("kept_for_s".into(), super::PRESET_TTL.as_secs().into());
    }
    Answer::with(m)
}

/// A UUID as AudioSocket's packets give it (lower-case hex, dashed), or
/// `None`: a typo must not silently wait for a call that never comes.
fn uuid(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    let groups: Vec<&str> = t.split('-').collect();
    let shape = groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12];
    (shape && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_named_by_uuid_only() {
        assert_eq!(
            uuid("40325EC2-5EFD-4BD3-805F-53576E581D13").as_deref(),
            Some("40325ec2-5efd-4bd3-805f-53576e581d13")
        );
        for bad in [
            "",
            "40325ec2",
            "40325ec2-5efd-4bd3-805f-53576e581d1g",
            "1796520591.1",
        ] {
            assert_eq!(uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_position_for_a_call_not_yet_connected_waits_for_it() {
        let calls = Calls::new();
        let t = ServeTarget {
            calls: calls.clone(),
            cache: Cache::in_memory(),
        };
        let id = "40325ec2-5efd-4bd3-805f-53576e581d13";
        let a = t.command(Some(id), Command::Position(3));
        assert!(a.is_ok());
        assert_eq!(calls.preset_count(), 1);
        assert!(!t.command(Some("nope"), Command::Position(3)).is_ok());
        assert!(t.list().is_empty());
    }
}
