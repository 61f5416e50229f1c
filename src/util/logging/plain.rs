//! The lines of a command typed at a shell (`render`, `say`, `cache warm`…)
//! on its stderr: `holdmix: warning: …`, as its final error reads, without
//! the time and the span a service's log needs (journald and a `--log FILE`
//! keep the full form). tracing-subscriber's formats all print the span
//! context, so this one is written out: a level word and the fields.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut text = String::new();
        ctx.field_format().format_fields(Writer::new(&mut text), event)?;
        // A playlist's problem names its place and severity itself, as
        // `check` prints it.
        if located(&text) {
            return writeln!(w, "{text}");
        }
        writeln!(w, "holdmix: {}{text}", word(*event.metadata().level()))
    }
}

/// `FILE:LINE:COLUMN: error: …` (or `warning:`), a playlist diagnostic's form.
fn located(text: &str) -> bool {
    let at = [": error: ", ": warning: "]
        .iter()
        .filter_map(|s| text.find(s))
        .min();
    let Some(place) = at.map(|i| &text[..i]) else {
        return false;
    };
    let mut parts = place.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    let number = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    number(col) && number(line) && file.is_some_and(|f| !f.is_empty())
}

/// What the level adds before the message: nothing for plain information.
fn word(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error: ",
        Level::WARN => "warning: ",
        Level::INFO => "",
        Level::DEBUG => "debug: ",
        Level::TRACE => "trace: ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playlist_diagnostic_is_known_by_its_place() {
        assert!(located(
            "/tmp/w.toml:2:50: error: music.tracks: /x.wav does not exist"
        ));
        assert!(located(
            "my list.toml:12:1: warning: advice.group: no group is open"
        ));
        assert!(!located("cannot use audio file: /x.wav: cannot read: error: 2"));
        assert!(!located("/tmp/w.toml: error: cannot open"));
        assert!(!located("rendered; the same again: --seed 1"));
        assert!(!located(":2:50: error: no file"));
    }
}
