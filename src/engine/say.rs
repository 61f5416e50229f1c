//! Templates into prompts: fixed prompt names map to their sources, spoken
//! values to recorded tokens.
//!
//! Until the numbers module gives a sound map per language, a value is said
//! with one prompt named after it: `ordinal-3`, `number-42`, `minutes-5`,
//! `less-than-a-minute`, `digit-7` (one per digit). A value with no such
//! prompt is left out, and the timeline says so (`unspoken`).

use super::library::SourceId;
use super::queue::wait_minutes;
use crate::scenario::{Part, SayKind, Template, ValueName};
use std::collections::BTreeMap;
use std::time::Duration;

/// The values a template may speak.
#[derive(Debug, Default, Clone)]
pub struct Values<'a> {
    pub position: Option<u32>,
    pub wait: Option<Duration>,
    pub hold: Duration,
    pub balance: Option<&'a str>,
    pub account: Option<&'a str>,
}

/// Appends the sources of `t` to `out`; tokens with no prompt go to `missing`.
pub fn resolve(
    t: &Template,
    prompts: &BTreeMap<String, SourceId>,
    v: &Values,
    out: &mut Vec<SourceId>,
    missing: &mut Vec<String>,
) {
    for part in t {
        match part {
            Part::Prompt(name) => {
                if let Some(&id) = prompts.get(name) {
                    out.push(id);
                }
            }
            Part::Value { say, value } => {
                for token in tokens(*say, *value, v) {
                    match prompts.get(&token) {
                        Some(&id) => out.push(id),
                        None => missing.push(token),
                    }
                }
            }
        }
    }
}

fn tokens(say: SayKind, value: ValueName, v: &Values) -> Vec<String> {
    let number = match value {
        ValueName::Position => v.position.map(u64::from),
        ValueName::Wait => v.wait.map(|d| d.as_secs()),
        ValueName::Hold => Some(v.hold.as_secs()),
        ValueName::Balance | ValueName::Account => None,
    };
    let text = match value {
        ValueName::Balance => v.balance.map(str::to_string),
        ValueName::Account => v.account.map(str::to_string),
        _ => number.map(|n| n.to_string()),
    };
    let Some(text) = text else {
        return vec![format!("{}-unknown", value_name(value))];
    };
    match say {
        SayKind::Number => vec![format!("number-{text}")],
        SayKind::Ordinal => vec![format!("ordinal-{text}")],
        SayKind::Digits => text
            .chars()
            .filter(char::is_ascii_digit)
            .map(|c| format!("digit-{c}"))
            .collect(),
        SayKind::Money => vec![format!("money-{text}")],
        SayKind::Duration => match number.and_then(|s| wait_minutes(Duration::from_secs(s))) {
            Some(m) => vec![format!("minutes-{m}")],
            None => vec!["less-than-a-minute".to_string()],
        },
    }
}

fn value_name(v: ValueName) -> &'static str {
    match v {
        ValueName::Position => "position",
        ValueName::Wait => "wait",
        ValueName::Hold => "hold",
        ValueName::Balance => "balance",
        ValueName::Account => "account",
    }
}
