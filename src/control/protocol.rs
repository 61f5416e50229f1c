//! The control socket's words, both sides (sans-IO): a command per line
//! (`status`, `position 3`, `say-position [N]`, `play FILE`, `music
//! next|previous|NAME`, `dtmf D`, `debug on|off`, `stop`, and `list`),
//! and one JSON object per answer line, `{"ok":true,...}` or
//! `{"ok":false,"error":"..."}`. On a socket serving many calls (the hub,
//! `serve`) a command is preceded by the call it is for: `CALL COMMAND`.

use crate::engine::MusicPick;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// Longest command line taken (a `play` path fits; more is refused).
pub const MAX_LINE: usize = 1024;

/// One command for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Position(u32),
    SayPosition(Option<u32>),
    Play(PathBuf),
    Music(MusicPick),
    Dtmf(char),
    Debug(bool),
    Stop,
}

/// A line as a socket serving many calls reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List,
    /// A command for one call, by Uniqueid or channel (`None`: the
    /// socket's only call).
    For(Option<String>, Command),
}

const USAGE: &str = "commands: status, position N, say-position [N], play FILE, music next|previous|NAME, dtmf D, debug on|off, stop, list";

impl Request {
    /// Parses a line; `many`: the socket serves many calls, so a command
    /// names its call first.
    pub fn parse(line: &str, many: bool) -> Result<Request, String> {
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err("a command is one line of text".into());
        }
        let line = line.trim();
        if line.eq_ignore_ascii_case("list") {
            return Ok(Request::List);
        }
        if !many {
            return Command::parse(line).map(|c| Request::For(None, c));
        }
        let (call, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("expected `list` or `CALL COMMAND` ({USAGE})"))?;
        Ok(Request::For(Some(call.to_string()), Command::parse(rest.trim())?))
    }
}

impl Command {
    pub fn parse(line: &str) -> Result<Command, String> {
        let line = line.trim();
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, Some(a.trim())),
            None => (line, None),
        };
        let number = |a: &str| {
            a.parse::<u32>()
                .map_err(|_| format!("{name}: not a whole number: {a:?}"))
        };
        let one_word = |a: &str| {
            if a.contains(char::is_whitespace) {
                Err(format!("{name} takes one value"))
            } else {
                Ok(())
            }
        };
        Ok(match (name.to_ascii_lowercase().as_str(), arg) {
            ("status", None) => Command::Status,
            ("stop", None) => Command::Stop,
            ("position", Some(a)) => {
                one_word(a)?;
                Command::Position(number(a)?)
            }
            ("say-position", None) => Command::SayPosition(None),
            ("say-position", Some(a)) => {
                one_word(a)?;
                Command::SayPosition(Some(number(a)?))
            }
            // A path may hold spaces: the rest of the line.
            ("play", Some(a)) => Command::Play(PathBuf::from(a)),
            ("music", Some(a)) => {
                one_word(a)?;
                Command::Music(match a.to_ascii_lowercase().as_str() {
                    "next" => MusicPick::Next,
                    "previous" | "prev" => MusicPick::Previous,
                    _ => MusicPick::Named(a.to_string()),
                })
            }
            ("dtmf", Some(a)) => {
                let mut c = a.chars();
                match (c.next().map(|c| c.to_ascii_uppercase()), c.next()) {
                    (Some(d), None) if d.is_ascii_digit() || matches!(d, '*' | '#' | 'A'..='D') => {
                        Command::Dtmf(d)
                    }
                    _ => return Err(format!("dtmf: not a key: {a:?} (0-9, *, #, A-D)")),
                }
            }
            ("debug", Some(a)) if a.eq_ignore_ascii_case("on") => Command::Debug(true),
            ("debug", Some(a)) if a.eq_ignore_ascii_case("off") => Command::Debug(false),
            ("debug", _) => return Err("debug on|off".into()),
            ("position" | "play" | "music" | "dtmf", None) => {
                return Err(format!("{name} needs a value"));
            }
            ("status" | "stop", Some(_)) => return Err(format!("{name} takes no value")),
            ("", _) => return Err(format!("empty command ({USAGE})")),
            _ => {
                // The word only, bounded: never echo a whole hostile line.
                let shown: String = name.chars().take(32).collect();
                return Err(format!("unknown command {shown:?} ({USAGE})"));
            }
        })
    }

    /// The command as a line (without its newline): what the hub passes on.
    pub fn to_line(&self) -> String {
        match self {
            Command::Status => "status".into(),
            Command::Stop => "stop".into(),
            Command::Position(n) => format!("position {n}"),
            Command::SayPosition(None) => "say-position".into(),
            Command::SayPosition(Some(n)) => format!("say-position {n}"),
            Command::Play(p) => format!("play {}", p.display()),
            Command::Music(MusicPick::Next) => "music next".into(),
            Command::Music(MusicPick::Previous) => "music previous".into(),
            Command::Music(MusicPick::Named(n)) => format!("music {n}"),
            Command::Dtmf(d) => format!("dtmf {d}"),
            Command::Debug(on) => format!("debug {}", if *on { "on" } else { "off" }),
        }
    }
}

/// One answer: fields of a success, or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer(pub Result<Map<String, Value>, String>);

impl Answer {
    pub fn ok() -> Answer {
        Answer(Ok(Map::new()))
    }

    pub fn with(fields: Map<String, Value>) -> Answer {
        Answer(Ok(fields))
    }

    pub fn error(why: impl Into<String>) -> Answer {
        Answer(Err(why.into()))
    }

    pub fn is_ok(&self) -> bool {
        self.0.is_ok()
    }

    /// The answer's line, without its newline.
    pub fn to_line(&self) -> String {
        let v = match &self.0 {
            Ok(fields) => {
                let mut m = Map::new();
                m.insert("ok".into(), Value::Bool(true));
                m.extend(fields.clone());
                Value::Object(m)
            }
            Err(why) => json!({"ok": false, "error": why}),
        };
        v.to_string()
    }

    /// Reads an answer line (the hub passing a generator's on, `ctl`).
    pub fn parse(line: &str) -> Answer {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut m)) => match m.remove("ok") {
                Some(Value::Bool(true)) => Answer(Ok(m)),
                Some(Value::Bool(false)) => Answer(Err(m
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_string())),
                _ => Answer::error("not an answer"),
            },
            _ => Answer::error("not an answer"),
        }
    }
}

/// A caller's number as the control socket shows it: its last three
/// digits only (the standards: no caller data to anyone but the call).
pub fn mask_caller(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(3)..].iter().collect();
    if chars.len() <= 3 {
        "***".into()
    } else {
        format!("***{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_bad_ones_say_why() {
        for line in [
            "status",
            "stop",
            "position 3",
            "say-position",
            "say-position 4",
            "play /tmp/a b.wav",
            "music next",
            "music previous",
            "music track2",
            "dtmf #",
            "debug on",
            "debug off",
        ] {
            let c = Command::parse(line).unwrap();
            assert_eq!(c.to_line(), line);
        }
        assert_eq!(Command::parse("DTMF a").unwrap(), Command::Dtmf('A'));
        for bad in [
            "",
            "position",
            "position -1",
            "position 3 4",
            "dtmf 12",
            "dtmf x",
            "debug",
            "stop now",
            "jump",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{} x", "y".repeat(500));
        assert!(Command::parse(&long).unwrap_err().len() < 200);
    }

    #[test]
    fn many_calls_name_the_call_first() {
        assert_eq!(Request::parse("list", true), Ok(Request::List));
        assert_eq!(
            Request::parse("1795452386.5 position 2", true),
            Ok(Request::For(Some("1795452386.5".into()), Command::Position(2)))
        );
        assert_eq!(
            Request::parse("status", false),
            Ok(Request::For(None, Command::Status))
        );
        assert!(Request::parse("status", true).is_err());
        assert!(Request::parse("status\rstop", false).is_err());
    }

    #[test]
    fn answers_are_one_json_line_and_read_back() {
        let mut m = Map::new();
        m.insert("position".into(), json!(3));
        let a = Answer::with(m);
        assert_eq!(a.to_line(), r#"{"ok":true,"position":3}"#);
        assert_eq!(Answer::parse(&a.to_line()), a);
        let e = Answer::error("no \"such\"\ncall");
        assert!(!e.to_line().contains('\n'));
        assert_eq!(Answer::parse(&e.to_line()), e);
        assert!(!Answer::parse("garbage").is_ok());
    }

    #[test]
    fn a_caller_shows_only_the_last_three_digits() {
        assert_eq!(mask_caller("79001112233"), "***233");
        assert_eq!(mask_caller("233"), "***");
        assert_eq!(mask_caller(""), "***");
    }
}
