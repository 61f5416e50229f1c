//! Input events: what the outside world tells the engine, stamped with the
//! stream time at which they happened. The same parser reads `run --events -`
//! lines (`dtmf 3`) and `render --event 25s:dtmf:3` scripts.

pub use crate::billing::{Account, BalanceAnswer};
use anyhow::{Context, Result, bail};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A key the caller pressed (`0-9`, `*`, `#`, `A-D`).
    Dtmf(char),
    /// The caller's position in the queue.
    Position(u32),
    /// The queue's average hold time (AMI `QueueParams` `Holdtime`).
    Holdtime(Duration),
    /// Callers waiting in the caller's queue, this one included (AMI
    /// `Count` of a join or leave, `Calls` of `QueueParams`).
    QueueSize(u32),
    /// Whether the call's identity (channel and caller number) was confirmed
    /// by Asterisk. Unconfirmed: nothing personal is said (no balance).
    Identity(bool),
    /// The answer to a balance lookup.
    Balance(BalanceAnswer),
    /// The answer to a hold plan ask (or why there is none).
    Plan(crate::webhook::PlanAnswer),
    /// Read the playlist again (or this other file) and switch to it, if valid.
    /// The driver does the reading; the engine never touches files.
    Reload(Option<String>),
    /// The channel's language, as Asterisk says it (`Language:` of the
    /// call's AMI events, `CHANNEL(language)`); a code, checked.
    Language(String),
    /// The call is over: finish the frame and exit.
    Hangup,
    /// Asterisk stopped this call's hold music (`MusicOnHoldStop`): this
    /// generator's part is over, the call may go on (and hold again).
    MusicStopped,
    /// Say the caller's position now, as a key bound to `say-position`
    /// would (the control socket's `say-position`).
    SayPosition,
    /// Switch the music (the control socket's `music next|previous|NAME`).
    Music(MusicPick),
    /// Say a sound decoded off the audio thread, ducked over the music like
    /// a prompt (the control socket's `play FILE`).
    Play(Sound),
}

/// Which music a `Music` event switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MusicPick {
    Next,
    Previous,
    /// A track of the music playing now, by file name (with or without its
    /// extension).
    Named(String),
}

/// A decoded sound and the file it came from. Equal when it is the very
/// same decoding (a clip has no equality of its own).
#[derive(Clone)]
pub struct Sound {
    pub path: std::path::PathBuf,
    pub clip: std::sync::Arc<crate::audio::clip::Clip>,
}

impl PartialEq for Sound {
    fn eq(&self, other: &Sound) -> bool {
        std::sync::Arc::ptr_eq(&self.clip, &other.clip)
    }
}

impl Eq for Sound {}

impl std::fmt::Debug for Sound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sound").field(&self.path).finish()
    }
}

impl EventKind {
    /// Whether the stream ends on it.
    pub fn ends_stream(&self) -> bool {
        matches!(self, EventKind::Hangup | EventKind::MusicStopped)
    }
}

/// Why the engine wants the stream to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The call is over (a `hangup` event).
    Hangup,
    /// Asterisk stopped the music for the call (`MusicOnHoldStop`).
    MusicStopped,
}

impl Ended {
    /// As the timeline's `exit` event says it.
    pub fn reason(self) -> &'static str {
        match self {
            Ended::Hangup => "hangup",
            Ended::MusicStopped => "music-stopped",
        }
    }
}

/// An event at a point of stream time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub kind: EventKind,
}

/// The names of events, to tell a scripted event written without its time.
const NAMES: &[&str] = &[
    "dtmf",
    "key",
    "position",
    "queue-size",
    "holdtime",
    "balance",
    "language",
    "reload",
    "hangup",
];

/// The events a line may hold, as the unknown-event message lists them.
const KNOWN: &str = "`dtmf D`, `position N`, `queue-size N`, `holdtime 90s`, `balance …`, \
                     `language CODE`, `reload [FILE]` or `hangup`";

impl EventKind {
    /// Parses `dtmf 3`, `position 4` or `hangup` (also with `:` between words).
    /// Each error names the part that is wrong (the event, or its value)
    /// and what it should be, in words.
    pub fn parse(text: &str) -> Result<EventKind> {
        let mut words = text
            .split(|c: char| c.is_whitespace() || c == ':')
            .filter(|w| !w.is_empty());
        let name = words.next().context("empty event")?;
        let arg = words.next();
        if name.eq_ignore_ascii_case("balance") {
            return parse_balance(arg, words);
        }
        let kind = match (name.to_ascii_lowercase().as_str(), arg) {
            ("dtmf" | "key", Some(d)) => EventKind::Dtmf(dtmf(d)?),
            ("position", Some(p)) => match whole("position", p, "a queue position")? {
                // The timeline and the announcements count from 1 (next).
                0 => bail!("position: 0 is not a queue position: positions count from 1 (1 is next)"),
                n => EventKind::Position(n),
            },
            ("queue-size", Some(n)) => EventKind::QueueSize(whole("queue-size", n, "a number of callers")?),
            ("holdtime", Some(h)) => EventKind::Holdtime(duration("holdtime", h, "`holdtime 90s`")?),
            ("hangup", None) => EventKind::Hangup,
            ("hangup", Some(extra)) => bail!("hangup takes no value, got {extra:?}"),
            ("language", Some(code)) => {
                EventKind::Language(crate::scenario::language::normalise(code).with_context(|| {
                    format!("language: {code:?} is not a language code (e.g. en, ru, pt-BR)")
                })?)
            }
            ("reload", path) => EventKind::Reload(path.map(str::to_string)),
            ("dtmf" | "key" | "position" | "queue-size" | "holdtime" | "language", None) => {
                bail!("{name} needs a value, e.g. `{}`", example(name))
            }
            _ => bail!("unknown event {name:?}: expected {KNOWN}"),
        };
        if let Some(extra) = words.next() {
            bail!("{name} takes one value, and {extra:?} is one too many");
        }
        Ok(kind)
    }
}

/// A whole event with its value, for a message.
fn example(name: &str) -> &'static str {
    match name {
        "position" => "position 4",
        "queue-size" => "queue-size 7",
        "holdtime" => "holdtime 90s",
        "language" => "language ru",
        _ => "dtmf 3",
    }
}

/// One DTMF digit: `0-9`, `*`, `#`, `A-D`.
fn dtmf(d: &str) -> Result<char> {
    let mut chars = d.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        bail!("dtmf takes one digit, got {d:?}");
    };
    let c = c.to_ascii_uppercase();
    if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
        bail!("dtmf: {d:?} is not a DTMF digit (0-9, *, #, A-D)");
    }
    Ok(c)
}

/// A whole number for the event `name`, said as `what` when it is not
/// one. Rust's own parse errors ("invalid digit found in string") say
/// nothing of which value or why.
fn whole(name: &str, text: &str, what: &str) -> Result<u32> {
    let eg = example(name);
    if text.starts_with('-') {
        bail!("{name}: {text:?} is negative: {what} is a whole number, e.g. `{eg}`");
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{name}: {text:?} is not {what}: write a whole number, e.g. `{eg}`");
    }
    text.parse::<u32>()
        .map_err(|_| anyhow::anyhow!("{name}: {text} is too large: at most {}", u32::MAX))
}

/// A duration given as `part` of an event (`holdtime`, a script's time),
/// `eg` its example: not negative, and said so in words. The duration
/// parser's own words for a word ("expected number at 0") are not shown.
fn duration(part: &str, text: &str, eg: &str) -> Result<Duration> {
    if text.starts_with('-') {
        bail!("{part} {text:?} is negative: write 0 or more, e.g. {eg}");
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        bail!("{part} {text:?} is not a duration: write e.g. {eg}");
    }
    // The parser's message names the text already.
    crate::util::duration::parse(text).map_err(|e| anyhow::anyhow!("{part}: {e:#}"))
}

/// `balance failed`, `balance none`, `balance 12.50`, or accounts as
/// `balance 200045=1234.56 200046=-5`.
fn parse_balance<'a>(first: Option<&'a str>, rest: impl Iterator<Item = &'a str>) -> Result<EventKind> {
    let answer = match first {
        None => bail!("balance needs a value: `balance 12.50`, `balance ID=12.50 …`, `none` or `failed`"),
        Some(w) if w.eq_ignore_ascii_case("failed") => BalanceAnswer::Failed,
        Some(w) if w.eq_ignore_ascii_case("none") => BalanceAnswer::None,
        Some(w) => {
            let mut accounts = Vec::new();
            for item in std::iter::once(w).chain(rest) {
                let (id, balance) = match item.split_once('=') {
                    Some((id, b)) => (Some(id.to_string()), b),
                    None => (None, item),
                };
                let digits = balance.strip_prefix('-').unwrap_or(balance);
                let valid = !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && digits.matches('.').count() <= 1
                    && !digits.starts_with('.');
                if !valid {
                    bail!("balance: {balance:?} is not a decimal amount such as -2341.23");
                }
                accounts.push(Account {
                    id,
                    balance: balance.to_string(),
                    currency: None,
                    locked: false,
                });
            }
            BalanceAnswer::Accounts(accounts)
        }
    };
    Ok(EventKind::Balance(answer))
}

impl Event {
    /// Parses a scripted event `TIME:KIND[:ARG]`, e.g. `25s:dtmf:3` or `1m30s:hangup`.
    pub fn parse_scripted(text: &str) -> Result<Event> {
        let (time, rest) = text
            .split_once(':')
            .with_context(|| format!("{text:?}: expected TIME:EVENT, e.g. 25s:dtmf:3"))?;
        if NAMES.contains(&time.to_ascii_lowercase().as_str()) {
            bail!("{text:?}: the time is missing: write TIME:EVENT, e.g. 25s:{text}");
        }
        // Times count from the start of the call.
        let at = duration("the time", time, "25s").with_context(|| format!("{text:?}"))?;
        let kind = EventKind::parse(rest).with_context(|| format!("{text:?}"))?;
        Ok(Event { at, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_balances_and_holdtime() {
        assert_eq!(
            EventKind::parse("balance failed").unwrap(),
            EventKind::Balance(BalanceAnswer::Failed)
        );
        assert_eq!(
            EventKind::parse("balance 1=10.5 2=-3").unwrap(),
            EventKind::Balance(BalanceAnswer::Accounts(vec![
                Account {
                    id: Some("1".into()),
                    balance: "10.5".into(),
                    ..Account::default()
                },
                Account {
                    id: Some("2".into()),
                    balance: "-3".into(),
                    ..Account::default()
                },
            ]))
        );
        assert!(EventKind::parse("balance 12,5.3").is_err());
        assert_eq!(
            EventKind::parse("holdtime 90").unwrap(),
            EventKind::Holdtime(Duration::from_secs(90))
        );
        assert_eq!(EventKind::parse("queue-size:7").unwrap(), EventKind::QueueSize(7));
        assert!(EventKind::parse("queue-size lots").is_err());
        assert!(EventKind::parse("queue-size").is_err());
    }

    #[test]
    fn parses_lines_and_scripts() {
        assert_eq!(EventKind::parse("dtmf 3").unwrap(), EventKind::Dtmf('3'));
        assert_eq!(
            EventKind::parse(" position  12 ").unwrap(),
            EventKind::Position(12)
        );
        assert_eq!(EventKind::parse("hangup").unwrap(), EventKind::Hangup);
        assert_eq!(EventKind::parse("dtmf #").unwrap(), EventKind::Dtmf('#'));
        let e = Event::parse_scripted("25s:dtmf:3").unwrap();
        assert_eq!(
            e,
            Event {
                at: Duration::from_secs(25),
                kind: EventKind::Dtmf('3')
            }
        );
        assert_eq!(
            Event::parse_scripted("1500ms:hangup").unwrap().at,
            Duration::from_millis(1500)
        );
        for bad in [
            "dtmf",
            "dtmf 33",
            "dtmf x",
            "position -1",
            "jump 3",
            "hangup now",
            "",
        ] {
            assert!(EventKind::parse(bad).is_err(), "{bad}");
        }
        assert!(Event::parse_scripted("soon:dtmf:3").is_err());
    }

    /// Each refusal says which part is wrong, and how, in words: not
    /// Rust's "invalid digit found in string" nor a message said twice.
    #[test]
    fn errors_name_the_part_that_is_wrong() {
        let said = |text: &str| format!("{:#}", Event::parse_scripted(text).unwrap_err());
        for (text, want) in [
            (
                "5s:position:-1",
                "position: \"-1\" is negative: a queue position is a whole number, e.g. `position 4`",
            ),
            (
                "5s:position:99999999999",
                "position: 99999999999 is too large: at most 4294967295",
            ),
            (
                "5s:position:0",
                "position: 0 is not a queue position: positions count from 1 (1 is next)",
            ),
            (
                "5s:queue-size:many",
                "queue-size: \"many\" is not a number of callers: write a whole number, e.g. `queue-size 7`",
            ),
            (
                "5s:holdtime:-5s",
                "holdtime \"-5s\" is negative: write 0 or more, e.g. `holdtime 90s`",
            ),
            (
                "5s:holdtime:soon",
                "holdtime \"soon\" is not a duration: write e.g. `holdtime 90s`",
            ),
            ("5s:hangup:now", "hangup takes no value, got \"now\""),
            ("5s:dtmf:x", "dtmf: \"x\" is not a DTMF digit (0-9, *, #, A-D)"),
            (
                "-5s:dtmf:3",
                "the time \"-5s\" is negative: write 0 or more, e.g. 25s",
            ),
        ] {
            assert_eq!(said(text), format!("{text:?}: {want}"));
        }
        assert_eq!(
            said("dtmf:3"),
            "\"dtmf:3\": the time is missing: write TIME:EVENT, e.g. 25s:dtmf:3"
        );
        // The list of events names every one that parses.
        let unknown = said("5s:jump:3");
        for event in [
            "dtmf D",
            "position N",
            "queue-size N",
            "holdtime",
            "balance",
            "language CODE",
            "reload [FILE]",
            "hangup",
        ] {
            assert!(unknown.contains(&format!("`{event}")), "{event}: {unknown}");
        }
        assert!(EventKind::parse("reload").is_ok() && EventKind::parse("language ru").is_ok());
    }
}
