//! One call's timeline file read into a summary: how long the caller was
//! on hold, the keys they pressed, the prompts they heard, how the last
//! generator ended and what was playing then. The file is read a line at
//! a time; only the summary stays.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

/// Longest line read whole; a longer one is a broken line (the writer's
/// lines are a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// What was playing when the call's last generator ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// `prompt`, `music` or `silence`.
    pub kind: &'static str,
    /// The prompt as `<queue> <file>`, or the music file.
    pub name: String,
    /// Seconds from its start to the end.
    pub after: f64,
}

/// A call's summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallSummary {
    /// Seconds on hold: the last stream time plus the gaps between
    /// generators (`resume`'s `gap`, e.g. an announcement app_queue played).
    pub hold: f64,
    /// Key presses by action (`none` for a key with no action).
    pub keys: BTreeMap<String, u64>,
    /// Prompts started, as `<queue> <file>`.
    pub prompts: BTreeMap<String, u64>,
    /// The last `exit` reason (`None`: no exit line, e.g. still on hold or
    /// killed).
    pub exit: Option<String>,
    pub heard: Option<Heard>,
    /// The file reached its size cap: it is not the whole call.
    pub truncated: bool,
    /// The route the hub picked (its `route` line; the last one, if the
    /// call was held again under another).
    pub route: Option<String>,
}

/// A line that could not be read: its number and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: u64,
    pub error: String,
}

/// Reads a call's lines; bad lines are passed to `bad` and skipped.
pub fn read(input: impl BufRead, mut bad: impl FnMut(BadLine)) -> std::io::Result<CallSummary> {
    let mut s = Summariser::default();
    let mut lines = LineReader::new(input);
    let mut n = 0u64;
    while let Some(line) = lines.next_line()? {
        n += 1;
        let error = match line {
            Err(e) => e,
            Ok(text) if text.trim_ascii().is_empty() => continue,
            Ok(text) => match serde_json::from_slice::<Value>(text) {
                Ok(v) => match s.add(&v) {
                    Ok(()) => continue,
                    Err(e) => e,
                },
                Err(e) => format!("not JSON: {e}"),
            },
        };
        bad(BadLine { line: n, error });
    }
    Ok(s.finish())
}

/// Lines of at most [`MAX_LINE`] bytes; a longer one is skipped to its end
/// without being held.
pub(super) struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub(super) fn new(input: R) -> Self {
        LineReader {
            input,
            buf: Vec::new(),
        }
    }

    pub(super) fn next_line(&mut self) -> std::io::Result<Option<Result<&[u8], String>>> {
        self.buf.clear();
        let mut too_long = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                if self.buf.is_empty() && !too_long {
                    return Ok(None);
                }
                if !too_long {
                    // The writer ends every line: one without its end was cut.
                    return Ok(Some(Err("a line without its end (cut short)".to_string())));
                }
                break;
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                self.buf.extend_from_slice(&chunk[..take]);
                if self.buf.len() > MAX_LINE + 1 {
                    too_long = true;
                    self.buf.clear();
                }
            }
            self.input.consume(take);
            if done {
                break;
            }
        }
        if too_long {
            return Ok(Some(Err(format!("a line longer than {MAX_LINE} bytes"))));
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(Some(Ok(&self.buf)))
    }
}

#[derive(Default)]
struct Summariser {
    s: CallSummary,
    last_t: f64,
    gaps: f64,
    /// The prompt playing and its start.
    prompt: Option<(String, String, f64)>,
    /// The music playing and its start.
    music: Option<(String, f64)>,
}

impl Summariser {
    fn add(&mut self, v: &Value) -> Result<(), String> {
        let t = v
            .get("t")
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or("no time field \"t\" (seconds)")?;
        let event = v
            .get("event")
            .and_then(Value::as_str)
            .ok_or("no \"event\" field")?;
        let text = |k: &str| -> Result<String, String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{event} without its \"{k}\" field"))
        };
        self.last_t = self.last_t.max(t);
        match event {
            "prompt_start" => {
                let (file, queue) = (text("file")?, text("queue")?);
                *self.s.prompts.entry(format!("{queue} {file}")).or_default() += 1;
                self.prompt = Some((queue, file, t));
            }
            "prompt_end" => self.prompt = None,
            "music_start" => self.music = Some((text("file")?, t)),
            "music_switch" => self.music = Some((text("to")?, t)),
            "dtmf" => {
                let action = match v.get("action") {
                    None | Some(Value::Null) => "none".to_string(),
                    Some(_) => text("action")?,
                };
                *self.s.keys.entry(action).or_default() += 1;
            }
            "resume" => {
                let gap = v
                    .get("gap")
                    .and_then(Value::as_f64)
                    .filter(|g| g.is_finite() && *g >= 0.0)
                    .ok_or("resume without its \"gap\" (seconds)")?;
                self.gaps += gap;
                // The new generator starts its own prompt if it says one.
                self.prompt = None;
            }
            "exit" => {
                self.s.exit = Some(text("reason")?);
                self.s.heard = Some(self.heard_at(t));
            }
            "truncated" => self.s.truncated = true,
            "route" => self.s.route = Some(text("name")?),
            _ => {}
        }
        Ok(())
    }

    fn heard_at(&self, t: f64) -> Heard {
        match (&self.prompt, &self.music) {
            (Some((queue, file, start)), _) => Heard {
                kind: "prompt",
                name: format!("{queue} {file}"),
                after: t - start,
            },
            (None, Some((file, start))) => Heard {
                kind: "music",
                name: file.clone(),
                after: t - start,
            },
            (None, None) => Heard {
                kind: "silence",
                name: "-".to_string(),
                after: t,
            },
        }
    }

    fn finish(mut self) -> CallSummary {
        self.s.hold = self.last_t + self.gaps;
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> (CallSummary, Vec<BadLine>) {
        let mut bad = Vec::new();
        let s = read(text.as_bytes(), |b| bad.push(b)).unwrap();
        (s, bad)
    }

    #[test]
    fn the_end_is_what_played_last_and_since_when() {
        let (s, bad) = summary(concat!(
            "{\"t\":0.02,\"event\":\"music_start\",\"file\":\"bed.wav\",\"track\":0,\"offset\":0.0}\n",
            "{\"t\":1.0,\"event\":\"prompt_start\",\"file\":\"welcome.wav\",\"queue\":\"welcome\"}\n",
            "{\"t\":5.0,\"event\":\"prompt_end\",\"file\":\"welcome.wav\",\"skipped\":false}\n",
            "{\"t\":9.0,\"event\":\"dtmf\",\"digit\":\"3\",\"action\":\"next-music\"}\n",
            "{\"t\":9.5,\"event\":\"dtmf\",\"digit\":\"7\",\"action\":null}\n",
            "{\"t\":30.0,\"event\":\"prompt_start\",\"file\":\"02-app.wav\",\"queue\":\"advice/first\"}\n",
            "{\"t\":33.5,\"event\":\"exit\",\"reason\":\"sighup\"}\n",
            "{\"t\":33.5,\"event\":\"resume\",\"from\":33.5,\"gap\":10.0}\n",
            "{\"t\":40.0,\"event\":\"exit\",\"reason\":\"hangup\"}\n",
        ));
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(s.hold, 50.0);
        assert_eq!(s.keys.get("next-music"), Some(&1));
        assert_eq!(s.keys.get("none"), Some(&1));
        assert_eq!(s.prompts.get("advice/first 02-app.wav"), Some(&1));
        assert_eq!(s.exit.as_deref(), Some("hangup"));
        let h = s.heard.unwrap();
        // The second generator did not say the prompt again: the music.
        assert_eq!((h.kind, h.name.as_str(), h.after), ("music", "bed.wav", 39.98));
    }

    #[test]
    fn bad_lines_are_counted_by_number_and_skipped() {
        let (s, bad) = summary(concat!(
            "{\"t\":1.0,\"event\":\"prompt_start\",\"file\":\"a.wav\",\"queue\":\"advice/tips\"}\n",
            "{\"t\":2.0,\"event\":\"pro\n",
            "\n",
            "{\"event\":\"dtmf\"}\n",
            "{\"t\":3.0,\"event\":\"exit\",\"reason\":\"hangup\"}\n",
            "{\"t\":4.0,\"event\":\"exit\"",
        ));
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 4, 6], "{bad:?}");
        assert!(bad[1].error.contains("\"t\""), "{bad:?}");
        assert!(bad[2].error.contains("cut short"), "{bad:?}");
        assert_eq!(s.exit.as_deref(), Some("hangup"));
        assert_eq!(s.heard.unwrap().name, "advice/tips a.wav");
    }

    #[test]
    fn an_overlong_line_is_skipped_without_being_held() {
        let long = format!(
            "{{\"t\":1.0,\"event\":\"x\",\"pad\":\"{}\"}}\n",
            "y".repeat(MAX_LINE * 3)
        );
        let text = format!("{long}{{\"t\":2.0,\"event\":\"exit\",\"reason\":\"hangup\"}}\n");
        let (s, bad) = summary(&text);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 1);
        assert_eq!(s.exit.as_deref(), Some("hangup"));
    }
}
