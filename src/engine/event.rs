//! Input events: what the outside world tells the engine, stamped with the
//! stream time at which they happened. The same parser reads `run --events -`
//! lines (`dtmf 3`) and `render --event 25s:dtmf:3` scripts.

use anyhow::{Context, Result, bail};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A key the caller pressed (`0-9`, `*`, `#`, `A-D`).
    Dtmf(char),
    /// The caller's position in the queue.
    Position(u32),
    /// The call is over: finish the frame and exit.
    Hangup,
}

/// An event at a point of stream time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub kind: EventKind,
}

impl EventKind {
    /// Parses `dtmf 3`, `position 4` or `hangup` (also with `:` between words).
    pub fn parse(text: &str) -> Result<EventKind> {
        let mut words = text
            .split(|c: char| c.is_whitespace() || c == ':')
            .filter(|w| !w.is_empty());
        let name = words.next().context("empty event")?;
        let arg = words.next();
        let kind = match (name.to_ascii_lowercase().as_str(), arg) {
            ("dtmf" | "key", Some(d)) => {
                let mut chars = d.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    bail!("dtmf takes one digit, got {d:?}");
                };
                let c = c.to_ascii_uppercase();
                if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
                    bail!("not a DTMF digit: {d:?} (0-9, *, #, A-D)");
                }
                EventKind::Dtmf(c)
            }
            ("position", Some(p)) => EventKind::Position(
                p.parse()
                    .with_context(|| format!("position must be a whole number, got {p:?}"))?,
            ),
            ("hangup", None) => EventKind::Hangup,
            ("dtmf" | "key" | "position", None) => bail!("{name} needs a value, e.g. `{name} 3`"),
            _ => bail!("unknown event {text:?} (expected `dtmf D`, `position N` or `hangup`)"),
        };
        if words.next().is_some() {
            bail!("too many words in event {text:?}");
        }
        Ok(kind)
    }
}

impl Event {
    /// Parses a scripted event `TIME:KIND[:ARG]`, e.g. `25s:dtmf:3` or `1m30s:hangup`.
    pub fn parse_scripted(text: &str) -> Result<Event> {
        let (time, rest) = text
            .split_once(':')
            .with_context(|| format!("{text:?}: expected TIME:EVENT, e.g. 25s:dtmf:3"))?;
        let at = crate::duration::parse(time).with_context(|| format!("{text:?}: bad time"))?;
        let kind = EventKind::parse(rest).with_context(|| format!("{text:?}"))?;
        Ok(Event { at, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
