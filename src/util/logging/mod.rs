//! Logging: tracing to stderr, a file or journald, never to stdout (stdout
//! is audio). Every line of a `run` carries the call's identity through a
//! root span. Every event is one line: control characters inside it are
//! escaped on the way out ([`escape`]).
//!
//! The thread that logs never writes: each line is queued for the
//! process's offload thread (`util::offload`), so a log that does not
//! keep up (a FIFO nobody reads, a stalled disk, a busy journald) never
//! stops a call's audio or its stop signals. Past the queue's bound lines
//! are dropped, counted, and the next line that fits says how many.
//!
//! A log file is reopened at SIGUSR1, for logrotate: the handler only sets
//! a flag, and the next line written opens the file anew ([`LogFile`]), so
//! the signal never waits on anything and never cuts the audio short (the
//! audio thread's sleep, interrupted by it, sleeps on to its deadline).

#[cfg(test)]
mod captured;
mod escape;
pub mod journal;
mod plain;

use crate::util::offload::{self, Dest};
use anyhow::{Context, Result};
use escape::escape_line;
use journal::Journal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// `--log journald`: the systemd journal instead of a file (a file named
/// so is written `./journald`).
pub const JOURNALD: &str = "journald";

/// The target of a playlist's problems as `check` prints them
/// (`FILE:LINE:COL: error: …`, `scenario::diag::log`): a command's plain
/// stderr prints them as they are, with no `holdmix:` before them.
pub const DIAGNOSTIC: &str = "holdmix::diagnostic";

/// The signal that reopens a `--log FILE`.
pub const REOPEN_SIGNAL: i32 = libc::SIGUSR1;

/// Lines the queue refused since the last one it took.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// `plain`: a command typed at a shell, whose lines on stderr read as a
/// command's (`holdmix: warning: …`, see [`plain`]); a log file or the
/// journal keeps the full form either way.
pub fn init(log: Option<&Path>, verbose: u8, quiet: bool, plain: bool) -> Result<()> {
    let level = match (quiet, verbose) {
        (true, _) => Level::WARN,
        (false, 0) => Level::INFO,
        (false, 1) => Level::DEBUG,
        _ => Level::TRACE,
    };
    // Decoder crates narrate every file they open, and their errors come
    // back to us as values that holdmix logs with the file's name.
    let off = tracing_subscriber::filter::LevelFilter::OFF;
    let filter = Targets::new()
        .with_default(level)
        .with_target("symphonia", off)
        .with_target("symphonia_core", off)
        .with_target("symphonia_bundle_mp3", off)
        .with_target("symphonia_format_ogg", off)
        // Network stacks: their own warnings only. Holdmix logs what a
        // lookup or a query did, never what it carried.
        .with_target("hyper", Level::WARN)
        .with_target("hyper_util", Level::WARN)
        .with_target("reqwest", Level::WARN)
        .with_target("rustls", Level::WARN)
        .with_target("h2", Level::WARN)
        .with_target("mysql_async", Level::WARN)
        .with_target("mysql_common", Level::WARN);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false);
    // A log that cannot be opened leaves the lines on stderr, not nowhere.
    let mut failed = None;
    if log == Some(Path::new(JOURNALD)) {
        match Journal::open(Path::new(journal::SOCKET)) {
            Ok(journal) => {
                journal_subscriber(journal, filter).try_init()?;
                return Ok(());
            }
            Err(e) => failed = Some(anyhow::anyhow!("journald: {e}; logging to stderr")),
        }
    } else if let Some(path) = log {
        match LogFile::open(path) {
            Ok(file) => {
                tracing_subscriber::registry()
                    .with(layer.with_writer(Lines::text(Arc::new(file))).with_filter(filter))
                    .try_init()?;
                return Ok(());
            }
            Err(e) => failed = Some(e),
        }
    }
    let stderr = Lines::text(Arc::new(Stderr));
    match plain {
        true => tracing_subscriber::registry()
            .with(
                layer
                    .event_format(plain::Plain)
                    .with_writer(stderr)
                    .with_filter(filter),
            )
            .try_init()?,
        false => tracing_subscriber::registry()
            .with(layer.with_writer(stderr).with_filter(filter))
            .try_init()?,
    }
    failed.map_or(Ok(()), Err)
}

/// What `--log journald` logs through: each event formed as its whole
/// entry, with the fields of its spans as `SpanFields` keeps them, queued
/// for `journal`.
fn journal_subscriber(journal: Journal, filter: Targets) -> impl tracing::Subscriber + Send + Sync {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(journal::Format::new());
    // The fields kept only of spans the log shows: unfiltered, the layer
    // would make every crate's trace spans live.
    tracing_subscriber::registry()
        .with(journal::SpanFields.with_filter(filter.clone()))
        .with(layer.with_writer(Lines::journal(journal)).with_filter(filter))
}

/// How long a process's end waits for its lines still queued (a log that
/// does not keep up): within Asterisk's stop, which SIGKILLs a generator
/// still there 200 ms after its SIGHUP.
const EXIT_FLUSH: std::time::Duration = std::time::Duration::from_millis(150);

/// At a process's end: waits, for at most [`EXIT_FLUSH`], until the lines
/// logged so far are written (and whatever was queued before them).
pub fn flush_at_exit() -> bool {
    offload::flush(EXIT_FLUSH)
}

/// The formatter's writer: each event's line, escaped, queued for `dest`
/// (or, when `journal`, the entry `journal::Format` formed).
struct Lines {
    dest: Arc<dyn Dest>,
    journal: bool,
}

impl Lines {
    fn text(dest: Arc<dyn Dest>) -> Lines {
        Lines { dest, journal: false }
    }

    fn journal(j: Journal) -> Lines {
        Lines {
            dest: Arc::new(j),
            journal: true,
        }
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line { to: self }
    }
}

/// One event's writer. The formatter hands over each event whole in one
/// `write_all` (colours are off), so one buffer is one log line.
struct Line<'a> {
    to: &'a Lines,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lost = DROPPED.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let note = match self.to.journal {
                true => journal::entry(journal::priority(Level::WARN), &dropped_note(lost, None)),
                false => dropped_note(lost, Some(buf)),
            };
            if !offload::send(self.to.dest.clone(), note) {
                DROPPED.fetch_add(lost, Ordering::Relaxed);
            }
        }
        // The journal's entries come whole from `journal::Format`, their
        // values already escaped.
        let entry = match self.to.journal {
            true => buf.to_vec(),
            false => escape_line(buf).into_owned(),
        };
        if !offload::send(self.to.dest.clone(), entry) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The line that says how many lines were dropped before `next`, formed as
/// a text log's lines are (`next`'s time, then the level) or, for the
/// journal (`None`: it keeps both), the message alone.
fn dropped_note(lost: u64, next: Option<&[u8]>) -> Vec<u8> {
    let what = format!("{lost} log lines dropped here: the log did not keep up\n");
    // The formatter's line starts with its time (RFC 3339, no spaces).
    let time = next
        .and_then(|l| l.split(|b| *b == b' ').next())
        .filter(|t| t.first().is_some_and(u8::is_ascii_digit));
    match (next, time) {
        (None, _) => what.into_bytes(),
        (Some(_), Some(time)) => [time, b"  WARN ", what.as_bytes()].concat(),
        (Some(_), None) => [b"WARN ".as_slice(), what.as_bytes()].concat(),
    }
}

/// Standard error (unbuffered: each line is one write).
struct Stderr;

impl Dest for Stderr {
    fn write(&self, bytes: &[u8]) {
        std::io::stderr().write_all(bytes).ok();
    }
}

/// A `--log FILE`, reopened by name at the first line after SIGUSR1
/// (logrotate renamed it: lines go on to the new file, none is lost).
pub struct LogFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    reopen: Arc<AtomicBool>,
}

impl LogFile {
    fn open(path: &Path) -> Result<LogFile> {
        let file = open_log(path)?;
        let reopen = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(REOPEN_SIGNAL, reopen.clone())
            .with_context(|| format!("{}: cannot handle SIGUSR1 to reopen the log", path.display()))?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            reopen,
        })
    }
}

impl Dest for LogFile {
    fn write(&self, bytes: &[u8]) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if self.reopen.swap(false, Ordering::Relaxed) {
            // A file that cannot be opened now keeps the lines going to
            // the old one (still open), rather than losing them.
            match open_log(&self.path) {
                Ok(f) => *file = f,
                Err(e) => {
                    let note = format!("holdmix: {e:#}; logging on to the old file\n");
                    file.write_all(&escape_line(note.as_bytes())).ok();
                }
            }
        }
        file.write_all(bytes).ok();
    }
}

/// Opens the log for appending without waiting: a FIFO nobody reads would
/// block `open` (and so the whole start) forever. Only the open is
/// non-blocking; writes then behave as on any file.
fn open_log(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("{}: cannot open log", path.display()))?;
    let fd = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, fd - rustix::fs::OFlags::NONBLOCK)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::dropped_note;

    #[test]
    fn the_journal_gets_each_line_as_one_entry_with_the_calls_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let journal = super::Journal::open(&path).unwrap();
        let filter = super::Targets::new().with_default(super::Level::INFO);
        let subscriber = super::journal_subscriber(journal, filter);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("call", uniqueid = %"1700000000.42", caller = %"79001112233");
            let _g = span.enter();
            tracing::debug!("filtered out");
            tracing::info!(reason = "sighup", "exiting");
        });
        assert!(super::offload::flush(std::time::Duration::from_secs(30)));
        let mut buf = [0u8; 4096];
        // The probe first, empty; then the one entry.
        assert_eq!(server.recv(&mut buf).unwrap(), 0);
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            "PRIORITY=6\nSYSLOG_IDENTIFIER=holdmix\nHOLDMIX_UNIQUEID=1700000000.42\n\
             HOLDMIX_CALLER=79001112233\nHOLDMIX_REASON=sighup\n\
             MESSAGE=call{uniqueid=1700000000.42 caller=79001112233}: exiting reason=\"sighup\"\n"
        );
        server.set_nonblocking(true).unwrap();
        assert!(server.recv(&mut buf).is_err(), "one entry only");
    }

    #[test]
    fn the_dropped_lines_note_has_the_next_lines_time_and_a_level() {
        let next = b"2026-12-06T23:12:06.123456Z  INFO call{uniqueid=1.2}: resumed\n";
        assert_eq!(
            String::from_utf8(dropped_note(7, Some(next))).unwrap(),
            "2026-12-06T23:12:06.123456Z  WARN 7 log lines dropped here: the log did not keep up\n"
        );
        assert_eq!(
            dropped_note(2, None),
            b"2 log lines dropped here: the log did not keep up\n"
        );
        assert!(dropped_note(1, Some(b" INFO x\n")).starts_with(b"WARN 1 log lines"));
    }
}
