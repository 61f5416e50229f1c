//! Templates into prompts: fixed prompt names map to their sources, spoken
//! values go through the speech module and the playlist's sound map.
//!
//! A value that cannot be said whole (no sound map, no value yet, a token
//! with no recording in any form) is left out of the phrase, never said in
//! part; the timeline notes it as `unspoken`.

use super::library::SourceId;
use super::queue::wait_minutes;
use crate::scenario::{Part, SayKind, Template, ValueName};
use crate::speech::{self, Kind, map::SoundMap};
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// The sound map and the sources of its recordings.
pub struct Speech {
    pub map: SoundMap,
    pub ids: BTreeMap<PathBuf, SourceId>,
}

/// Appends the sources of `t` to `out`; values that cannot be said go to
/// `missing` (as `value:token`).
pub fn resolve(
    t: &Template,
    prompts: &BTreeMap<String, SourceId>,
    speech: Option<&Speech>,
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
            Part::Value { say, value, gender } => match spoken(*say, *value, *gender, speech, v) {
                Ok(ids) => out.extend(ids),
                Err(why) => missing.push(format!("{}:{why}", value_name(*value))),
            },
        }
    }
}

fn spoken(
    say: SayKind,
    value: ValueName,
    gender: speech::Gender,
    speech: Option<&Speech>,
    v: &Values,
) -> Result<Vec<SourceId>, String> {
    let speech = speech.ok_or("no [speech] map")?;
    let text = match value {
        ValueName::Position => v.position.map(|p| p.to_string()),
        // Waits are said in rounded buckets: "about 5 minutes", not 4:37.
        ValueName::Wait => v
            .wait
            .map(|w| wait_minutes(w).map_or_else(|| "0s".to_string(), |m| format!("{m}m"))),
        ValueName::Hold => Some(format!("{}s", v.hold.as_secs())),
        ValueName::Balance => v.balance.map(str::to_string),
        ValueName::Account => v.account.map(str::to_string),
    }
    .ok_or("no value yet")?;
    let kind = match say {
        SayKind::Number => Kind::Number,
        SayKind::Ordinal => Kind::Ordinal,
        SayKind::Digits => Kind::Digits,
        SayKind::Money => Kind::Money,
        SayKind::Duration => Kind::Duration,
    };
    let files = speech::speak(&speech.map, kind, &text, gender).map_err(|e| e.to_string())?;
    Ok(files
        .files
        .iter()
        .filter_map(|f| speech.ids.get(f).copied())
        .collect())
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
