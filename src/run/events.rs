//! The event feed of `run --events`: one event per line (`dtmf 3`,
//! `position 4`, `reload`, `hangup`) from stdin, a file or a FIFO, read on a
//! thread of its own and handed to the audio thread. Bad lines are logged
//! (the first of each cause, then a count a minute: a feed of garbage
//! cannot flood the log) and skipped; a line is never buffered without
//! bound.

use super::reload::Reloaded;
use crate::engine::EventKind;
use crate::util::bell;
use crate::util::ratelimit::{Limiter, WINDOW};
use std::fs::File;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::mpsc;

/// Reads event lines (`dtmf 3`) from stdin or a file; bad lines are logged.
/// A `reload` line re-reads the playlist (or the file it names) here, off
/// the audio thread.
pub fn spawn_reader(
    source: &std::path::Path,
    playlist: Option<PathBuf>,
    reloads: bell::Sender<Reloaded>,
    tx: bell::SyncSender<EventKind>,
) {
    let source = source.to_path_buf();
    let span = tracing::Span::current();
    let spawned = std::thread::Builder::new().name("events".into()).spawn(move || {
        let _g = span.enter();
        let input: Box<dyn BufRead> = if source.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match File::open(&source) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    tracing::error!(file = %source.display(), "cannot read events: {e}");
                    return;
                }
            }
        };
        // One cause each: a bad line, a too-long line, a reload with nothing to reload.
        static BAD: Limiter = Limiter::new(WINDOW);
        static LONG: Limiter = Limiter::new(WINDOW);
        static NO_PLAYLIST: Limiter = Limiter::new(WINDOW);
        let mut lines = BoundedLines::new(input);
        let mut n = 0usize;
        while let Some(line) = lines.next_line() {
            n += 1;
            let Some(line) = line else {
                if let Some(more) = LONG.check() {
                    tracing::warn!("events line {n}: longer than {MAX_EVENT_LINE} bytes, skipped{more}");
                }
                continue;
            };
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match EventKind::parse(text) {
                Ok(EventKind::Reload(path)) => match path.map(PathBuf::from).or_else(|| playlist.clone()) {
                    Some(p) => super::reload::reload_now(&p, &reloads),
                    None => {
                        if let Some(more) = NO_PLAYLIST.check() {
                            tracing::warn!("events line {n}: no playlist to reload{more}");
                        }
                    }
                },
                Ok(kind) => {
                    if let Err(mpsc::TrySendError::Disconnected(_)) = tx.try_send(kind) {
                        break;
                    }
                }
                Err(e) => {
                    if let Some(more) = BAD.check() {
                        tracing::warn!("events line {n}: {e:#}{more}");
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the event reader: {e}");
    }
}

/// Longest event line kept (`dtmf 3` is 6 bytes; a path for `reload` fits).
const MAX_EVENT_LINE: usize = 4096;

/// Lines of at most [`MAX_EVENT_LINE`] bytes: a writer that never sends a
/// newline cannot make the reader buffer without limit (`BufRead::split`
/// would). `Some(None)` is a line that was too long and skipped.
struct BoundedLines<R: BufRead> {
    input: R,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(input: R) -> Self {
        BoundedLines { input }
    }

    fn next_line(&mut self) -> Option<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            };
            if buf.is_empty() {
                // End of input: a last line without a newline still counts.
                return (!line.is_empty() || too_long).then_some((!too_long).then_some(line));
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if line.len() + chunk.len() > MAX_EVENT_LINE {
                too_long = true;
                line.clear();
            } else if !too_long {
                line.extend_from_slice(chunk);
            }
            let used = done.unwrap_or(buf.len());
            self.input.consume(used);
            if done.is_some() {
                return Some((!too_long).then_some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let mut input = b"dtmf 1\n".to_vec();
        input.extend(vec![b'x'; MAX_EVENT_LINE * 3]);
        input.extend(b"\ndtmf 2\nlast");
        let mut lines = BoundedLines::new(std::io::BufReader::with_capacity(64, &input[..]));
        assert_eq!(lines.next_line(), Some(Some(b"dtmf 1".to_vec())));
        assert_eq!(lines.next_line(), Some(None));
        assert_eq!(lines.next_line(), Some(Some(b"dtmf 2".to_vec())));
        assert_eq!(lines.next_line(), Some(Some(b"last".to_vec())));
        assert_eq!(lines.next_line(), None);
    }
}
