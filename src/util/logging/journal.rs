//! The systemd journal's native protocol (`--log journald`): one datagram
//! per line to journald's socket, each field `NAME=value\n`: `PRIORITY`,
//! `SYSLOG_IDENTIFIER`, the call's span fields and the event's own fields
//! as `HOLDMIX_<NAME>` (so `journalctl HOLDMIX_UNIQUEID=1700000000.42`
//! finds one call's lines), and `MESSAGE`, the line a log file gets
//! without the time and level the journal keeps. Every value is one line
//! (escaped as a log file's lines are), so the length-prefixed form for
//! values with a newline is never needed.
//!
//! Written here rather than through `tracing-journald`, whose layer sends
//! from the thread that logs, on a blocking socket: a journald that does
//! not keep up then stops that thread, a call's audio thread or a hub's
//! pacing thread with every hosted call. These entries are formed by
//! [`Format`] on the thread that logs and sent by the offload thread
//! (`util::offload`).

use super::escape::escape_line;
use crate::util::offload::Dest;
use std::fmt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Where journald listens.
pub const SOCKET: &str = "/run/systemd/journal/socket";
/// A datagram no larger than this is sent (journald's own limit is larger;
/// a line this long is cut, marked so).
const MAX: usize = 48 * 1024;

/// journald's socket, to send to.
pub struct Journal {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Journal {
    /// A socket to send to journald at `path`; an error when nothing
    /// listens there (no journal: the caller logs elsewhere).
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let socket = UnixDatagram::unbound()?;
        // An empty datagram tells whether journald is there, and costs
        // it nothing (it drops empty ones).
        socket.send_to(&[], path)?;
        Ok(Journal {
            socket,
            path: path.to_path_buf(),
        })
    }
}

impl Dest for Journal {
    /// Sends one entry. By path each time, so a restarted journald (a new
    /// socket at the same path) gets the next one. A failure is dropped:
    /// the log cannot log its own.
    fn write(&self, entry: &[u8]) {
        self.socket.send_to(entry, &self.path).ok();
    }
}

/// journald's priority (syslog's) of a tracing level.
pub fn priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// The entry of one line (its final newline is dropped), with no fields
/// but its priority: the note of lines dropped.
pub fn entry(priority: u8, line: &[u8]) -> Vec<u8> {
    let mut e = head(priority);
    push_message(&mut e, line);
    e
}

/// The fields every entry starts with.
fn head(priority: u8) -> Vec<u8> {
    format!("PRIORITY={priority}\nSYSLOG_IDENTIFIER=holdmix\n").into_bytes()
}

/// `MESSAGE=` and `line` (its final newline dropped, cut past [`MAX`]).
fn push_message(e: &mut Vec<u8>, line: &[u8]) {
    let mut body = line.strip_suffix(b"\n").unwrap_or(line);
    let cut = body.len() > MAX;
    if cut {
        body = &body[..MAX];
    }
    e.extend_from_slice(b"MESSAGE=");
    e.extend_from_slice(body);
    if cut {
        e.extend_from_slice(" [cut]".as_bytes());
    }
    e.push(b'\n');
}

/// The layer that keeps each span's fields, as names and values, for
/// [`Format`]: the text formatter keeps them only as one formatted string,
/// which a value with a space (a caller's name) would make ambiguous.
pub struct SpanFields;

/// One span's fields, in its extensions.
struct Kept(Vec<(&'static str, String)>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanFields {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut kept = Kept(Vec::new());
        attrs.record(&mut kept);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(kept);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(kept) = span.extensions_mut().get_mut::<Kept>()
        {
            values.record(kept);
        }
    }
}

impl Visit for Kept {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A `%` field's Debug is its Display: the value as written.
        self.keep(field, format!("{value:?}"));
    }
}

impl Kept {
    /// A field's latest value; the event's text keeps its `message`.
    fn keep(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            return;
        }
        match self.0.iter_mut().find(|(name, _)| *name == field.name()) {
            Some(kept) => kept.1 = value,
            None => self.0.push((field.name(), value)),
        }
    }
}

/// Formats each event as its whole journal entry (see the module's
/// comment): the fields of its spans (root first, as kept by
/// [`SpanFields`]) and its own, then the message a log file gets.
pub struct Format {
    text: tracing_subscriber::fmt::format::Format<Full, ()>,
}

impl Format {
    pub fn new() -> Format {
        Format {
            text: tracing_subscriber::fmt::format()
                .without_time()
                .with_level(false)
                .with_target(false)
                .with_ansi(false),
        }
    }
}

impl Default for Format {
    fn default() -> Format {
        Format::new()
    }
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = String::new();
        self.text.format_event(ctx, Writer::new(&mut line), event)?;
        let mut fields = Vec::new();
        for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
            if let Some(kept) = span.extensions().get::<Kept>() {
                fields.extend(kept.0.iter().cloned());
            }
        }
        let mut own = Kept(Vec::new());
        event.record(&mut own);
        fields.extend(own.0);
        let mut e = head(priority(*event.metadata().level()));
        for (name, value) in &fields {
            e.extend_from_slice(field_name(name).as_bytes());
            e.push(b'=');
            e.extend_from_slice(&one_line(value.as_bytes()));
            e.push(b'\n');
        }
        push_message(&mut e, &escape_line(line.as_bytes()));
        // Valid UTF-8: the escape adds ASCII and keeps every other byte.
        w.write_str(&String::from_utf8_lossy(&e))
    }
}

/// `HOLDMIX_` and the field's name in journald's alphabet (capitals,
/// digits and `_`): never one of the journal's own fields.
fn field_name(name: &str) -> String {
    let mut out = String::from("HOLDMIX_");
    out.extend(name.chars().map(|c| match c.to_ascii_uppercase() {
        c @ ('A'..='Z' | '0'..='9') => c,
        _ => '_',
    }));
    out
}

/// `value` with every control byte escaped, a final newline too (the
/// line escape keeps one; a field's value is never the end of a line).
fn one_line(value: &[u8]) -> Vec<u8> {
    let mut v = escape_line(&[value, b"\n"].concat()).into_owned();
    v.pop();
    v.truncate(MAX);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reaches_a_listening_socket_with_its_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        let journal = Journal::open(&path).unwrap();
        journal.write(&entry(
            priority(tracing::Level::WARN),
            b"call{uniqueid=1.2}: slow\n",
        ));
        let mut buf = [0u8; 4096];
        // The probe first, empty; then the entry.
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(n, 0);
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"PRIORITY=4\nSYSLOG_IDENTIFIER=holdmix\nMESSAGE=call{uniqueid=1.2}: slow\n"
        );
    }

    /// The entries `Format` forms for what `log` logs (each ends at its
    /// `MESSAGE` line).
    fn formed(log: impl FnOnce()) -> String {
        use tracing_subscriber::prelude::*;
        let out = crate::util::logging::captured::Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::registry().with(SpanFields).with(
            // As `logging::init` sets it up: no colours in the spans'
            // fields the message shows.
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(Format::new())
                .with_writer(move || sink.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        out.text()
    }

    #[test]
    fn an_event_carries_its_calls_fields_and_its_own_for_journalctl_to_match() {
        let text = formed(|| {
            let span =
                tracing::info_span!("call", uniqueid = %"1700000000.42", caller = %"Ann Lee\nPRIORITY=0");
            let _g = span.enter();
            tracing::warn!(reason = "sighup", frames = 4500, "stopping");
        });
        // One field a line: the caller's newline is escaped, so it cannot
        // add a field of its own.
        assert_eq!(
            text,
            "PRIORITY=4\n\
             SYSLOG_IDENTIFIER=holdmix\n\
             HOLDMIX_UNIQUEID=1700000000.42\n\
             HOLDMIX_CALLER=Ann Lee\\nPRIORITY=0\n\
             HOLDMIX_REASON=sighup\n\
             HOLDMIX_FRAMES=4500\n\
             MESSAGE=call{uniqueid=1700000000.42 caller=Ann Lee\\nPRIORITY=0}: stopping reason=\"sighup\" frames=4500\n"
        );
    }

    #[test]
    fn a_field_recorded_later_and_nested_spans_are_kept_root_first() {
        let text = formed(|| {
            let call = tracing::info_span!("call", uniqueid = %"1.2", channel = tracing::field::Empty);
            let _c = call.enter();
            call.record("channel", "PJSIP/100-0000001");
            let step = tracing::info_span!("lookup", url.host = "billing");
            let _s = step.enter();
            tracing::info!("asked");
        });
        let fields: Vec<&str> = text.lines().filter(|l| l.starts_with("HOLDMIX_")).collect();
        assert_eq!(
            fields,
            [
                "HOLDMIX_UNIQUEID=1.2",
                "HOLDMIX_CHANNEL=PJSIP/100-0000001",
                "HOLDMIX_URL_HOST=billing"
            ]
        );
        assert!(text.starts_with("PRIORITY=6\n"), "{text}");
    }

    #[test]
    fn nothing_listening_is_an_error_and_a_long_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Journal::open(&dir.path().join("none")).is_err());
        let long = vec![b'a'; 3 * MAX];
        let e = entry(6, &long);
        assert!(e.len() < MAX + 100);
        assert!(e.ends_with(b"a [cut]\n"));
    }
}
