//! AMI framing: a banner line (`Asterisk Call Manager/11.0.0`), then
//! messages of `Key: Value` lines ended by an empty line, CRLF (LF
//! accepted). Old Asterisk answers some commands with `Response: Follows`
//! and raw output lines up to `--END COMMAND--`; those lines are kept as
//! fields with an empty key.
//!
//! Hand-written rather than a crate: the format is a few lines of framing,
//! and what matters here is hostile input: invalid UTF-8 is decoded lossily,
//! a line over [`MAX_LINE`] is dropped (reported once), a message over
//! [`MAX_FIELDS`] fields or [`MAX_MESSAGE`] bytes is cut, so memory stays
//! bounded whatever the server sends, and bytes can arrive in any split (a
//! slow drip included).

/// Longest line kept; the rest of a longer line is skipped.
pub const MAX_LINE: usize = 16 * 1024;
/// Most fields kept per message.
pub const MAX_FIELDS: usize = 256;
/// Most bytes of keys and values kept per message: the largest answer
/// holdmix asks for (a `QueueStatus` entry, a `Getvar`) is under 2 KiB,
/// while 256 fields of 16 KiB would be 4 MiB.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// A message of these fields, in order (the unit tests' AMI words).
    #[cfg(test)]
    pub(crate) fn of(fields: &[(&str, &str)]) -> Message {
        Message {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The first value of `key` (case-insensitive, as Asterisk's own lookups).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    pub fn is(&self, event: &str) -> bool {
        self.event().is_some_and(|e| e.eq_ignore_ascii_case(event))
    }

    /// Serialises as an action: `Key: Value` lines and the empty line. A
    /// line break inside a key or value becomes a space: the value (a
    /// channel name from the environment, say) can never start a header
    /// or an action of its own.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let one_line = |s: &str, out: &mut Vec<u8>| {
            out.extend(s.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
        };
        for (k, v) in &self.fields {
            one_line(k, &mut out);
            out.extend_from_slice(b": ");
            one_line(v, &mut out);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    pub fn action(name: &str, fields: &[(&str, &str)]) -> Message {
        let mut m = Message {
            fields: vec![("Action".into(), name.into())],
        };
        m.fields
            .extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The first line of a session.
    Banner(String),
    Message(Message),
    /// Something that is not AMI (reported, then skipped).
    Garbage(String),
}

#[derive(Debug, Default)]
pub struct Decoder {
    line: Vec<u8>,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    banner_seen: bool,
    current: Message,
    /// Bytes of keys and values in `current`.
    current_bytes: usize,
    /// Inside `Response: Follows` output.
    follows: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Takes bytes as they come; returns what they completed.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Item>) {
        for &b in bytes {
            if b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                    self.line.clear();
                    continue;
                }
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_done(&line, out);
                continue;
            }
            if self.skipping {
                continue;
            }
            if self.line.len() >= MAX_LINE {
                self.skipping = true;
                self.line.clear();
                out.push(Item::Garbage(format!("line over {MAX_LINE} bytes skipped")));
                continue;
            }
            self.line.push(b);
        }
    }

    fn line_done(&mut self, raw: &[u8], out: &mut Vec<Item>) {
        let line = String::from_utf8_lossy(raw);
        if !self.banner_seen {
            self.banner_seen = true;
            if !line.contains(':') || line.starts_with("Asterisk Call Manager") {
                out.push(Item::Banner(line.into_owned()));
                return;
            }
        }
        if self.follows {
            // Only the header fields keep their key; the command's output
            // may contain anything, colons included.
            if line == "--END COMMAND--" {
                self.follows = false;
            } else if let Some((k, v)) = line.split_once(": ")
                && (k.eq_ignore_ascii_case("ActionID") || k.eq_ignore_ascii_case("Privilege"))
            {
                self.push_field(k.to_string(), v.to_string());
            } else {
                self.push_field(String::new(), line.into_owned());
            }
            return;
        }
        if line.is_empty() {
            if !self.current.fields.is_empty() {
                self.current_bytes = 0;
                out.push(Item::Message(std::mem::take(&mut self.current)));
            }
            return;
        }
        match line.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(' ') => {
                let (k, v) = (k.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string());
                if k.eq_ignore_ascii_case("Response") && v.eq_ignore_ascii_case("Follows") {
                    self.follows = true;
                }
                self.push_field(k, v);
            }
            _ if self.current.fields.is_empty() => out.push(Item::Garbage(line.into_owned())),
            // A line without a key inside a message: output text, kept.
            _ => self.push_field(String::new(), line.into_owned()),
        }
    }

    fn push_field(&mut self, k: String, v: String) {
        let size = k.len() + v.len();
        if self.current.fields.len() < MAX_FIELDS && self.current_bytes + size <= MAX_MESSAGE {
            self.current_bytes += size;
            self.current.fields.push((k, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_break_in_a_value_never_starts_another_action() {
        let m = Message::action(
            "Filter",
            &[(
                "Filter",
                "Channel: PJSIP/x\r\nAction: Originate\r\nChannel: Local/666@evil\n",
            )],
        );
        let wire = m.to_wire();
        assert_eq!(
            wire,
            b"Action: Filter\r\nFilter: Channel: PJSIP/x  Action: Originate  Channel: Local/666@evil \r\n\r\n"
        );
        let text = String::from_utf8(wire).expect("utf-8");
        assert_eq!(text.lines().filter(|l| l.starts_with("Action:")).count(), 1);
    }

    fn decode_all(bytes: &[u8], chunk: usize) -> Vec<Item> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            d.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn frames_any_split_the_same() {
        let wire = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\nEvent: DTMFEnd\r\nDigit: #\r\n\r\n";
        let whole = decode_all(wire, wire.len());
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], Item::Banner("Asterisk Call Manager/11.0.0".into()));
        for chunk in [1, 2, 7] {
            assert_eq!(decode_all(wire, chunk), whole);
        }
        let Item::Message(m) = &whole[2] else { panic!() };
        assert!(m.is("dtmfend"));
        assert_eq!(m.get("digit"), Some("#"));
    }

    #[test]
    fn follows_output_and_hostile_lines() {
        let mut wire = b"Asterisk Call Manager/1.1\r\nResponse: Follows\r\nPrivilege: Command\r\nChannel: a\r\nx: y z\r\n--END COMMAND--\r\n\r\n".to_vec();
        wire.extend(vec![b'A'; MAX_LINE + 10]);
        wire.extend(b"\r\n\xff\xfe: bad\r\n\r\n");
        let items = decode_all(&wire, 100);
        let Item::Message(m) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(m.get("Response"), Some("Follows"));
        assert!(m.fields.iter().any(|(k, v)| k.is_empty() && v == "x: y z"));
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Item::Garbage(g) if g.contains("skipped")))
        );
        assert!(matches!(items.last(), Some(Item::Message(_))));
    }

    #[test]
    fn a_message_is_cut_at_its_byte_limit() {
        let mut wire = b"Asterisk Call Manager/11.0.0\r\nEvent: Flood\r\n".to_vec();
        for i in 0..200 {
            wire.extend(format!("K{i}: {}\r\n", "v".repeat(8000)).as_bytes());
        }
        wire.extend(b"\r\nEvent: Next\r\n\r\n");
        let items = decode_all(&wire, 4096);
        let Item::Message(m) = &items[1] else { panic!() };
        let size: usize = m.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(size <= MAX_MESSAGE, "{size}");
        assert!(m.fields.len() > 1 && m.is("flood"));
        let Item::Message(next) = &items[2] else { panic!() };
        assert_eq!(next.fields.len(), 1, "the next message starts afresh");
    }

    #[test]
    fn actions_serialise_with_crlf() {
        let m = Message::action("Login", &[("Username", "holdmix"), ("Events", "call,dtmf,agent")]);
        assert_eq!(
            m.to_wire(),
            b"Action: Login\r\nUsername: holdmix\r\nEvents: call,dtmf,agent\r\n\r\n".to_vec()
        );
    }
}
