//! The systemd journal's native protocol (`--log journald`): one datagram
//! per line to journald's socket, `PRIORITY`, `SYSLOG_IDENTIFIER` and
//! `MESSAGE` fields, each `NAME=value\n` (the message is one line: escaped
//! before it gets here, so the length-prefixed form for values with a
//! newline is never needed).
//!
//! Written here rather than through `tracing-journald`, whose layer sends
//! from the thread that logs, on a blocking socket: a journald that does
//! not keep up then stops that thread, a call's audio thread or a hub's
//! pacing thread with every hosted call. These datagrams are sent by the
//! offload thread (`util::offload`); the line is the same text a log file
//! gets (the call's span and the event's fields in it, which the journal's
//! short output shows), without the time and level the journal keeps.

use crate::util::offload::Dest;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

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

/// The entry of one line (its final newline is dropped).
pub fn entry(priority: u8, line: &[u8]) -> Vec<u8> {
    let mut body = line.strip_suffix(b"\n").unwrap_or(line);
    let cut = body.len() > MAX;
    if cut {
        body = &body[..MAX];
    }
    let mut e = Vec::with_capacity(body.len() + 64);
    e.extend_from_slice(format!("PRIORITY={priority}\nSYSLOG_IDENTIFIER=holdmix\nMESSAGE=").as_bytes());
    e.extend_from_slice(body);
    if cut {
        e.extend_from_slice(" [cut]".as_bytes());
    }
    e.push(b'\n');
    e
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
