//! The answer a plan server gives (schema `holdmix-plan/1`), read into a
//! [`Plan`] with every part checked: kinds, names, numbers and sizes. A
//! server may be wrong or hostile; anything unexpected refuses the whole
//! answer (the playlist goes on as if there were no plan), never half of
//! it. Names are checked here for their form only (a name, never a path
//! or a URL); whether the playlist knows them is the engine's check, as
//! only it knows the playlist in force.

use crate::util::json::kind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The schema an answer may name (`"schema"`); absent means this one.
pub const SCHEMA: &str = "holdmix-plan/1";
/// Largest answer body read.
pub const MAX_BODY: usize = 64 * 1024;
/// Most items in one answer.
pub const MAX_ITEMS: usize = 32;
/// Most parts in one `say`.
pub const MAX_PARTS: usize = 16;
/// Longest `pause`.
pub const MAX_PAUSE: Duration = Duration::from_secs(600);
/// Longest `reask`.
pub const MAX_REASK: Duration = Duration::from_secs(3600);
/// Most bytes a plan's items take in the call's checkpoint (whose snapshot
/// slot is 32 KiB, shared with the rest of the call's state): a plan that
/// cannot be resumed is not taken.
pub const MAX_KEPT: usize = 8 * 1024;
/// Longest name (prompt, track, dialplan context or extension).
const MAX_NAME: usize = 64;

/// One answer: what to play now, the keys it arms, when to ask again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub items: Vec<Item>,
    /// Key → an action name of the playlist's (`say-position`, …) or `ask`.
    pub keys: Vec<(char, String)>,
    /// Ask again this long after the answer (else: when the items are done).
    pub reask: Option<Duration>,
}

/// What a server may say; `Err` says why it was refused (for the log).
pub type PlanAnswer = Result<Plan, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    /// One of the playlist's announcements (`position`, `wait`) or a list
    /// of prompt names and spoken values.
    Say(Say),
    /// A prompt of the playlist's `[prompts]`, by name.
    Play(String),
    /// Music only, this long.
    Pause(Duration),
    /// `next`, `previous`, or a track of the playlist's by file stem.
    Music(String),
    /// Out of the hold: to this place in the dialplan.
    Redirect {
        context: String,
        exten: String,
        priority: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Say {
    Position,
    Wait,
    Parts(Vec<SayPart>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SayPart {
    Prompt(String),
    /// `say`: number, ordinal, digits or duration; `value`: position, wait
    /// or hold (both checked).
    Value {
        say: String,
        value: String,
    },
}

/// Actions a plan may arm on a key: those that need nothing more than the
/// key (the playlist's `say`, `redirect` and `language` keys carry their
/// own prompts and places), and `ask`.
pub const KEY_ACTIONS: &[&str] = &[
    "next-music",
    "previous-music",
    "say-position",
    "say-wait",
    "say-balance",
    "repeat-last",
    "skip-prompt",
    "ask",
];

/// Reads a body (at most [`MAX_BODY`], checked by the caller too).
pub fn parse(body: &[u8]) -> PlanAnswer {
    if body.len() > MAX_BODY {
        return Err(format!("the answer is over {} KiB", MAX_BODY / 1024));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    plan(&v)
}

fn plan(v: &Value) -> PlanAnswer {
    let Value::Object(m) = v else {
        return Err(format!("the answer is {}, not an object", kind(v)));
    };
    only(m, &["schema", "items", "keys", "reask"], "the answer")?;
    match m.get("schema") {
        None => {}
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(other) => return Err(format!("schema {other} is not \"{SCHEMA}\"")),
    }
    let items = match m.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.len() > MAX_ITEMS => {
            return Err(format!("{} items (at most {MAX_ITEMS})", a.len()));
        }
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| item(x).map_err(|e| format!("items[{i}]: {e}")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("`items` is {}, not a list", kind(other))),
    };
    let keys = match m.get("keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(k)) if k.len() > 16 => return Err(format!("{} keys (at most 16)", k.len())),
        Some(Value::Object(k)) => k.iter().map(|(d, a)| key(d, a)).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("`keys` is {}, not an object", kind(other))),
    };
    let reask = match m.get("reask") {
        None | Some(Value::Null) => None,
        Some(x) => Some(seconds(x, "reask", MAX_REASK)?).filter(|d| !d.is_zero()),
    };
    let kept = serde_json::to_vec(&items).map_or(usize::MAX, |v| v.len());
    if kept > MAX_KEPT {
        return Err(format!(
            "the items take {kept} bytes to keep for a respawn (at most {MAX_KEPT})"
        ));
    }
    Ok(Plan { items, keys, reask })
}

fn item(v: &Value) -> Result<Item, String> {
    let Value::Object(m) = v else {
        return Err(format!("is {}, not an object", kind(v)));
    };
    if m.len() != 1 {
        return Err("an item is an object of one key: say, play, pause, music, redirect or leave".into());
    }
    let Some((k, x)) = m.iter().next() else {
        return Err("an empty item".into());
    };
    match k.as_str() {
        "say" => say(x).map(Item::Say),
        "play" => name(x, "play").map(Item::Play),
        "pause" => seconds(x, "pause", MAX_PAUSE).map(Item::Pause),
        "music" => name(x, "music").map(Item::Music),
        // `leave` is Twilio's word; here both go to a dialplan place.
        "redirect" | "leave" => redirect(x, k),
        other => Err(format!(
            "unknown item {other:?} (say, play, pause, music, redirect or leave)"
        )),
    }
}

fn say(v: &Value) -> Result<Say, String> {
    match v {
        Value::String(s) if s == "position" => Ok(Say::Position),
        Value::String(s) if s == "wait" => Ok(Say::Wait),
        Value::String(s) => Err(format!(
            "say {s:?}: \"position\", \"wait\" or a list of prompts and values"
        )),
        Value::Array(a) if a.is_empty() || a.len() > MAX_PARTS => {
            Err(format!("say has {} parts (1 to {MAX_PARTS})", a.len()))
        }
        Value::Array(a) => a.iter().map(part).collect::<Result<_, _>>().map(Say::Parts),
        other => Err(format!("say is {}", kind(other))),
    }
}

fn part(v: &Value) -> Result<SayPart, String> {
    match v {
        Value::String(_) => name(v, "say").map(SayPart::Prompt),
        Value::Object(m) => {
            only(m, &["say", "value"], "a spoken value")?;
            let say = word(m.get("say"), "say", &["number", "ordinal", "digits", "duration"])?;
            let value = word(m.get("value"), "value", &["position", "wait", "hold"])?;
            Ok(SayPart::Value { say, value })
        }
        other => Err(format!("a say part is {}", kind(other))),
    }
}

fn key(digit: &str, action: &Value) -> Result<(char, String), String> {
    let mut chars = digit.chars();
    let d = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => c,
        _ => return Err(format!("key {:?} is not a DTMF digit", short(digit))),
    };
    let a = word(Some(action), &format!("keys.{d}"), KEY_ACTIONS)?;
    Ok((d, a))
}

fn redirect(v: &Value, what: &str) -> Result<Item, String> {
    let Value::Object(m) = v else {
        return Err(format!("{what} is {}, not {{context, exten, priority}}", kind(v)));
    };
    only(m, &["context", "exten", "priority"], what)?;
    let field = |f: &str| match m.get(f) {
        Some(Value::String(s)) if dialplan_name(s) => Ok(s.clone()),
        Some(Value::String(s)) => Err(format!("{what}.{f} {:?} is not a dialplan name", short(s))),
        Some(other) => Err(format!("{what}.{f} is {}", kind(other))),
        None => Err(format!("{what} needs `{f}`")),
    };
    let priority = match m.get("priority") {
        None => 1,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(p @ 1..=99_999) => p as u32,
            _ => return Err(format!("{what}.priority {n} is not 1 to 99999")),
        },
        Some(other) => return Err(format!("{what}.priority is {}", kind(other))),
    };
    Ok(Item::Redirect {
        context: field("context")?,
        exten: field("exten")?,
        priority,
    })
}

/// A name the playlist may know: letters, digits, `_`, `-`, `.`, not
/// starting with a dot. Never a path, never a URL.
fn name(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s)
            if !s.is_empty()
                && s.len() <= MAX_NAME
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
        {
            Ok(s.clone())
        }
        Value::String(s) => Err(format!("{what} {:?} is not a name", short(s))),
        other => Err(format!("{what} is {}, not a name", kind(other))),
    }
}

fn dialplan_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '*' | '#'))
}

fn word(v: Option<&Value>, what: &str, words: &[&str]) -> Result<String, String> {
    match v {
        Some(Value::String(s)) if words.contains(&s.as_str()) => Ok(s.clone()),
        Some(Value::String(s)) => Err(format!("{what} {:?}: one of {}", short(s), words.join(", "))),
        Some(other) => Err(format!("{what} is {}", kind(other))),
        None => Err(format!("`{what}` is missing")),
    }
}

/// Seconds, over 0 and at most `max`.
fn seconds(v: &Value, what: &str, max: Duration) -> Result<Duration, String> {
    let s = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => return Err(format!("{what} is {}, not seconds", kind(other))),
    };
    if !(s > 0.0 && s <= max.as_secs_f64()) {
        return Err(format!(
            "{what} {v} is not over 0 and at most {} s",
            max.as_secs()
        ));
    }
    Ok(Duration::from_millis((s * 1000.0).round() as u64))
}

fn only(m: &Map<String, Value>, keys: &[&str], what: &str) -> Result<(), String> {
    match m.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown key {:?}", short(k))),
        None => Ok(()),
    }
}

/// A server's string, cut for a log line.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> PlanAnswer {
        parse(s.as_bytes())
    }

    #[test]
    fn a_full_answer_reads() {
        let p = read(
            r#"{"schema":"holdmix-plan/1","items":[{"say":"position"},{"play":"sorry"},{"pause":2.5},
                {"music":"next"},{"say":["you-are",{"say":"ordinal","value":"position"}]},
                {"redirect":{"context":"from-queue","exten":"100","priority":2}}],
                "keys":{"1":"ask","5":"say-wait"},"reask":30}"#,
        )
        .unwrap();
        assert_eq!(p.items.len(), 6);
        assert_eq!(p.items[2], Item::Pause(Duration::from_millis(2500)));
        assert_eq!(
            p.items[4],
            Item::Say(Say::Parts(vec![
                SayPart::Prompt("you-are".into()),
                SayPart::Value {
                    say: "ordinal".into(),
                    value: "position".into()
                }
            ]))
        );
        assert_eq!(p.keys, vec![('1', "ask".into()), ('5', "say-wait".into())]);
        assert_eq!(p.reask, Some(Duration::from_secs(30)));
        assert_eq!(read("{}").unwrap(), Plan::default());
    }

    #[test]
    fn hostile_answers_are_refused() {
        let many = format!(r#"{{"items":[{}]}}"#, vec![r#"{"pause":1}"#; 10_000].join(","));
        for bad in [
            "",
            "[1,2]",
            r#"{"items":[{"play":"/etc/passwd"}]}"#,
            r#"{"items":[{"play":"../x"}]}"#,
            r#"{"items":[{"play":"https://evil.example/a.wav"}]}"#,
            r#"{"items":[{"pause":-1}]}"#,
            r#"{"items":[{"pause":1e300}]}"#,
            r#"{"items":[{"pause":"5"}]}"#,
            r#"{"items":[{"hangup":true}]}"#,
            r#"{"items":[{"play":"a","pause":1}]}"#,
            r#"{"keys":{"12":"ask"}}"#,
            r#"{"keys":{"1":"redirect"}}"#,
            r#"{"reask":-5}"#,
            r#"{"schema":"holdmix-plan/9"}"#,
            r#"{"items":[{"redirect":{"context":"a;b","exten":"1"}}]}"#,
            r#"{"items":[{"redirect":{"context":"a","exten":"1","priority":-1}}]}"#,
            r#"{"items":[{"say":["a",{"say":"number","value":"balance"}]}]}"#,
            r#"{"extra":1}"#,
            many.as_str(),
        ] {
            assert!(read(bad).is_err(), "{}", &bad[..bad.len().min(80)]);
        }
        // Within every other cap, but too big to resume after a respawn.
        let name = "n".repeat(60);
        let say = format!(
            r#"{{"say":[{}]}}"#,
            vec![format!("\"{name}\""); MAX_PARTS].join(",")
        );
        let big = format!(r#"{{"items":[{}]}}"#, vec![say; MAX_ITEMS].join(","));
        assert!(big.len() < MAX_BODY);
        assert!(read(&big).unwrap_err().contains("to keep for a respawn"));
        let huge = vec![b' '; MAX_BODY + 1];
        assert!(parse(&huge).unwrap_err().contains("64 KiB"));
    }
}
