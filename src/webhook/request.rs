//! What an ask sends (POST, JSON, schema `holdmix-ask/1`): the engine's
//! half ([`Ask`]: why, the last key, queue position, wait, time on hold,
//! language) and the driver's ([`Call`]: the call's id, the queue, and the
//! caller's number only when the identity is trusted).

use serde_json::{Value, json};
use std::time::Duration;

/// The schema an ask names.
pub const SCHEMA: &str = "holdmix-ask/1";

/// Why the plan is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The hold started.
    Start,
    /// The items of the plan are all done.
    Done,
    /// The plan's `reask` time came.
    Reask,
    /// A key the plan armed with `ask`.
    Key,
    /// The caller's queue position changed.
    Position,
    /// An earlier ask failed: trying again after the back-off.
    Retry,
    /// A respawned generator goes on with a call whose ask was unanswered.
    Resume,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Done => "done",
            Trigger::Reask => "reask",
            Trigger::Key => "key",
            Trigger::Position => "position",
            Trigger::Retry => "retry",
            Trigger::Resume => "resume",
        }
    }
}

/// What the engine knows when it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub trigger: Trigger,
    /// The last key the plan armed that the caller pressed.
    pub key: Option<char>,
    pub position: Option<u32>,
    /// Callers waiting in the queue, this one included.
    pub size: Option<u32>,
    pub wait: Option<Duration>,
    /// Time on hold so far.
    pub hold: Duration,
    pub language: Option<String>,
    /// Whether the call's identity is trusted now: the caller's number is
    /// sent only then.
    pub personal: bool,
}

/// What the driver knows of the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Asterisk's Uniqueid (or the render's stand-in).
    pub id: Option<String>,
    pub caller: Option<String>,
    pub queue: Option<String>,
    pub route: Option<String>,
}

/// The JSON body of one ask.
pub fn body(ask: &Ask, call: &Call) -> Value {
    let caller = call.caller.as_deref().filter(|_| ask.personal);
    json!({
        "schema": SCHEMA,
        "call": call.id,
        "caller": caller,
        "queue": call.queue,
        "route": call.route,
        "position": ask.position,
        "wait": ask.wait.map(|w| w.as_secs()),
        "queue_size": ask.size,
        "hold": ask.hold.as_secs(),
        "language": ask.language,
        "trigger": ask.trigger.name(),
        "key": ask.key.map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_goes_only_with_a_trusted_identity() {
        let mut ask = Ask {
            trigger: Trigger::Key,
            key: Some('1'),
            position: Some(3),
            size: Some(7),
            wait: Some(Duration::from_secs(125)),
            hold: Duration::from_millis(42_900),
            language: Some("en".into()),
            personal: true,
        };
        let call = Call {
            id: Some("1700000000.12".into()),
            caller: Some("+15550100".into()),
            queue: Some("support".into()),
            route: None,
        };
        let b = body(&ask, &call);
        assert_eq!(b["caller"], "+15550100");
        assert_eq!(
            (b["position"].as_u64(), b["wait"].as_u64(), b["hold"].as_u64()),
            (Some(3), Some(125), Some(42))
        );
        assert_eq!(b["queue_size"], 7);
        assert_eq!(
            (b["trigger"].as_str(), b["key"].as_str()),
            (Some("key"), Some("1"))
        );
        ask.personal = false;
        let b = body(&ask, &call);
        assert!(b["caller"].is_null());
        assert!(!b.to_string().contains("5550100"));
    }
}
