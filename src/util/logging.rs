//! Logging: tracing to stderr or a file, never to stdout (stdout is audio).
//! Every line of a `run` carries the call's identity through a root span.

use anyhow::{Context, Result};
use std::path::Path;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

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
    let file = log.map(open_log).transpose();
    let (file, failed) = match file {
        Ok(f) => (f, None),
        Err(e) => (None, Some(e)),
    };
    match file {
        Some(file) => {
            let layer = layer.with_writer(std::sync::Mutex::new(file));
            tracing_subscriber::registry()
                .with(layer.with_filter(filter))
                .try_init()?;
        }
        None => {
            let layer = layer.with_writer(std::io::stderr);
            tracing_subscriber::registry()
                .with(layer.with_filter(filter))
                .try_init()?;
        }
    }
    failed.map_or(Ok(()), Err)
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
