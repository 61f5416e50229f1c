//! What a person types while `holdmix play` plays: keys as DTMF, and a few
//! words to steer the call. One line at a time (the terminal's own line
//! editing; no raw mode to restore if the process dies).

use crate::engine::EventKind;
use std::time::Duration;

/// One thing typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// An engine event: keys (`3`, `*`), `p 4` (the queue position), or any
    /// `--events` line (`dtmf 3`, `holdtime 90s`, `language ru`, `hangup`).
    Event(EventKind),
    /// `s 2m`: the call goes on that far at once, unheard (long waits).
    Skip(Duration),
    /// `q`: stop.
    Quit,
}

/// `"3"` → one key; `"123"` → three keys; `"p 4"`, `"s 90s"`, `"q"`, or an
/// event line. An empty line is nothing; anything else an error to show.
pub fn parse(line: &str) -> Result<Vec<Typed>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let is_key = |c: char| c.is_ascii_digit() || matches!(c, '*' | '#');
    if line.chars().all(is_key) {
        return Ok(line.chars().map(|c| Typed::Event(EventKind::Dtmf(c))).collect());
    }
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    match (first, rest.as_slice()) {
        ("q" | "quit", []) => Ok(vec![Typed::Quit]),
        ("p", [n]) => n
            .parse()
            .map(|n| vec![Typed::Event(EventKind::Position(n))])
            .map_err(|_| format!("p takes a whole number: `p 4`, got {n:?}")),
        ("s" | "skip", [d]) => crate::util::duration::parse(d)
            .map(|d| vec![Typed::Skip(d)])
            .map_err(|e| format!("s takes a duration: `s 2m`, `s 90s` ({e})")),
        _ => EventKind::parse(line)
            .map(|e| vec![Typed::Event(e)])
            .map_err(|e| format!("{e:#}; keys are 0-9 * #, `p N` a position, `s 2m` skips ahead, `q` quits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_positions_skips_and_event_lines() {
        assert_eq!(parse("3").unwrap(), [Typed::Event(EventKind::Dtmf('3'))]);
        assert_eq!(
            parse(" 1#\n").unwrap(),
            [
                Typed::Event(EventKind::Dtmf('1')),
                Typed::Event(EventKind::Dtmf('#'))
            ]
        );
        assert_eq!(parse("p 4").unwrap(), [Typed::Event(EventKind::Position(4))]);
        assert_eq!(parse("s 2m").unwrap(), [Typed::Skip(Duration::from_secs(120))]);
        assert_eq!(parse("q").unwrap(), [Typed::Quit]);
        assert_eq!(parse("hangup").unwrap(), [Typed::Event(EventKind::Hangup)]);
        assert_eq!(parse("dtmf 5").unwrap(), [Typed::Event(EventKind::Dtmf('5'))]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_say_what_is_expected() {
        for bad in ["p x", "p", "s soon", "q now", "hello", "3x"] {
            let e = parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse("p -1").unwrap_err().contains("whole number"));
        assert!(parse("banana").unwrap_err().contains("`q` quits"));
    }
}
