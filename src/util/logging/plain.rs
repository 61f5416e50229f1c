//! The lines of a command typed at a shell (`render`, `say`, `cache warm`…)
//! on its stderr: `holdmix: warning: …`, as its final error reads, without
//! the time and the span a service's log needs (journald and a `--log FILE`
//! keep the full form). tracing-subscriber's formats all print the span
//! context, so this one is written out: a level word and the fields.

use super::DIAGNOSTIC;
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
        if event.metadata().target() == DIAGNOSTIC {
            return writeln!(w, "{text}");
        }
        writeln!(w, "holdmix: {}{text}", word(*event.metadata().level()))
    }
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
    use crate::util::logging::captured::Captured;

    /// The lines `Plain` prints for what `log` logs.
    fn printed(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(Plain)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        out.text()
    }

    #[test]
    fn a_playlist_diagnostic_is_printed_as_check_prints_it() {
        let text = printed(|| {
            tracing::error!(target: DIAGNOSTIC, "/tmp/w.toml:2:50: error: music.tracks: /x.wav does not exist");
            tracing::error!(target: DIAGNOSTIC, "/tmp/w.toml: … and 3 more errors (only the first 20 are shown)");
        });
        assert_eq!(
            text,
            "/tmp/w.toml:2:50: error: music.tracks: /x.wav does not exist\n\
             /tmp/w.toml: … and 3 more errors (only the first 20 are shown)\n"
        );
    }

    #[test]
    fn other_lines_say_holdmix_and_their_level() {
        let text = printed(|| {
            tracing::warn!("cannot use audio file: /x.wav");
            tracing::info!("rendered");
            // Shaped like a diagnostic, but not one: it is not trusted to be.
            tracing::error!("w.toml:2:50: error: forged");
        });
        assert_eq!(
            text,
            "holdmix: warning: cannot use audio file: /x.wav\n\
             holdmix: rendered\n\
             holdmix: error: w.toml:2:50: error: forged\n"
        );
    }
}
