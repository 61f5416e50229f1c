//! Logging: tracing to stderr, a file or journald, never to stdout (stdout
//! is audio). Every line of a `run` carries the call's identity through a
//! root span. Every event is one line: control characters inside it (a
//! caller's number, a channel name, an AMI header, a server's error text)
//! are escaped on the way out, so outside data can never forge a log line
//! or drive a terminal ([`Escaping`]).
//!
//! A log file is reopened at SIGUSR1, for logrotate: the handler only sets
//! a flag, and the next line logged opens the file anew ([`LogFile`]), so
//! the signal never waits on anything and never cuts the audio short (the
//! audio thread's sleep, interrupted by it, sleeps on to its deadline).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// `--log journald`: the systemd journal instead of a file (a file named
/// so is written `./journald`).
pub const JOURNALD: &str = "journald";

/// The signal that reopens a `--log FILE`.
pub const REOPEN_SIGNAL: i32 = libc::SIGUSR1;

pub fn init(log: Option<&Path>, verbose: u8, quiet: bool) -> Result<()> {
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
        match tracing_journald::layer() {
            Ok(journal) => {
                tracing_subscriber::registry()
                    .with(journal.with_filter(filter))
                    .try_init()?;
                return Ok(());
            }
            Err(e) => failed = Some(anyhow::anyhow!("journald: {e}; logging to stderr")),
        }
    } else if let Some(path) = log {
        match LogFile::open(path) {
            Ok(file) => {
                tracing_subscriber::registry()
                    .with(layer.with_writer(file).with_filter(filter))
                    .try_init()?;
                return Ok(());
            }
            Err(e) => failed = Some(e),
        }
    }
    let layer = layer.with_writer(|| Escaping(std::io::stderr()));
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()?;
    failed.map_or(Ok(()), Err)
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

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = Escaping<Locked<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if self.reopen.swap(false, Ordering::Relaxed) {
            // A file that cannot be opened now keeps the lines going to
            // the old one (still open), rather than losing them.
            match open_log(&self.path) {
                Ok(f) => *file = f,
                Err(e) => eprintln!("holdmix: {e:#}; logging on to the old file"),
            }
        }
        Escaping(Locked(file))
    }
}

/// The log file, locked for one event.
pub struct Locked<'a>(MutexGuard<'a, std::fs::File>);

impl std::io::Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
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

/// A writer that escapes control characters, except the newline that ends
/// an event. The formatter hands over each event whole in one `write_all`
/// (colours are off), so one buffer is one log line. Escaping here rather
/// than at each field covers every field and message, whoever adds one.
pub struct Escaping<W>(pub W);

impl<W: std::io::Write> std::io::Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&escape_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `line` with every control byte but a tab and a final newline written
/// as `\n`, `\r` or `\xNN`. Bytes from 0x80 up (UTF-8) are left alone.
fn escape_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let bad = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if !body.iter().any(|&b| bad(b)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if bad(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            b => out.push(b),
        }
    }
    if body.len() < line.len() {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn one_event_stays_one_line() {
        assert_eq!(&*escape_line(b"plain \t line\n"), b"plain \t line\n");
        assert_eq!(
            &*escape_line(b"caller=1\n2026-12-05T00:00:00Z INFO forged\n"),
            b"caller=1\\n2026-12-05T00:00:00Z INFO forged\n"
        );
        assert_eq!(&*escape_line(b"a\x1b[2Jb\r\x7f\n"), b"a\\x1b[2Jb\\r\\x7f\n");
        assert_eq!(&*escape_line("\u{44f}\x00".as_bytes()), "\u{44f}\\x00".as_bytes());
    }
}
