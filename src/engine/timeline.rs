//! The timeline: what the engine did and when, as JSON lines with `t`
//! (seconds of stream time, as heard in the output) and `event`.

use serde::Serialize;
use std::io::Write;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub t: f64,
    #[serde(flatten)]
    pub event: TimelineEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TimelineEvent {
    MusicStart {
        file: Arc<str>,
        track: usize,
        offset: f64,
    },
    /// The hub's route for the call (written by the hub at its realtime
    /// lookup, not by the engine).
    Route {
        name: Arc<str>,
    },
    MusicSwitch {
        from: Option<Arc<str>>,
        to: Arc<str>,
    },
    DuckStart,
    DuckEnd,
    PromptStart {
        file: Arc<str>,
        queue: Arc<str>,
    },
    PromptEnd {
        file: Arc<str>,
        skipped: bool,
    },
    Dtmf {
        digit: char,
        action: Option<Arc<str>>,
    },
    Position {
        value: u32,
    },
    SourceError {
        file: Arc<str>,
    },
    /// A spoken value with no recording to say it (the phrase goes on without it).
    Unspoken {
        token: Arc<str>,
    },
    /// The engine asked the world for something (e.g. a balance lookup).
    Request {
        what: Arc<str>,
    },
    /// Billing's answer: `accounts`, `none` or `failed`, with the number
    /// of accounts and of locked ones.
    Balance {
        answer: &'static str,
        accounts: usize,
        locked: usize,
    },
    /// A hold plan's answer: taken (`ok`, with its number of items), or
    /// refused or failed (`reason`) and the playlist goes on alone.
    Plan {
        ok: bool,
        items: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// This process goes on with a call an earlier one played: from that
    /// stream time (s), after `gap` seconds without a generator.
    Resume {
        from: f64,
        gap: f64,
    },
    /// The caller's memory from earlier calls was taken: the music goes
    /// on where they left off (`music`), `heard` advices are not repeated.
    Remembered {
        music: bool,
        heard: usize,
    },
    /// The call's identity checked with Asterisk.
    Identity {
        verified: bool,
    },
    /// The reader stalled (took nothing for over 200 ms) and the stream
    /// skipped `skipped` seconds to the present: they were never heard.
    Stall {
        skipped: f64,
    },
    /// Start-up took longer than a frame: `silence` seconds of silence were
    /// written before the stream's time 0 (times here count from the first
    /// frame after them). Always at `t` 0.
    Late {
        silence: f64,
    },
    /// A new version of the playlist: applied (`ok`), or refused and the
    /// old one kept.
    Reload {
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The call's language: now `code`, chosen `by` the caller, the route,
    /// the channel or the default; `offered: false` when a choice named a
    /// language the playlist does not offer (`code` is the one kept).
    Language {
        code: Arc<str>,
        by: &'static str,
        offered: bool,
    },
    /// The caller is sent elsewhere in the dialplan.
    Redirect {
        context: String,
        exten: String,
        priority: u32,
    },
    Exit {
        reason: String,
    },
}

/// Writes entries as JSON lines.
pub struct TimelineWriter<W: Write> {
    out: W,
}

impl<W: Write> TimelineWriter<W> {
    pub fn new(out: W) -> Self {
        TimelineWriter { out }
    }

    pub fn write(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        for e in entries {
            serde_json::to_writer(&mut self.out, e)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = Entry {
            t: 1.5,
            event: TimelineEvent::Dtmf {
                digit: '3',
                action: Some(Arc::from("next-music")),
            },
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"t":1.5,"event":"dtmf","digit":"3","action":"next-music"}"#
        );
        let e = Entry {
            t: 0.0,
            event: TimelineEvent::DuckStart,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"t":0.0,"event":"duck_start"}"#
        );
    }
}
