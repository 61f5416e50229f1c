//! A channel whose receiver can wait on a socket and on the channel at once.
//!
//! An AMI session (a generator's own, the hub's) and a generator's link to
//! the hub sleep in a blocking read that ticks every second; what they must
//! send (a redirect a key asked for) used to wait for that tick (issue 19:
//! a redirect through the hub came up to 1 s late, twice over). Here every
//! send also writes a byte to a socket pair, so the reader waits in
//! poll(2) on both its socket and that bell, and sends what was asked as
//! soon as it is asked. Hand-written on std's `mpsc` and `UnixStream::pair`
//! (with libc's `poll`, already used by the hub): a runtime for two file
//! descriptors would be more than the job.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// The sending half: like [`mpsc::Sender`], and it rings the receiver's bell.
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    bell: Option<Arc<UnixStream>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// The receiving half: like [`mpsc::Receiver`], with a bell to wait on
/// ([`wait`]).
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    /// None when no socket pair could be made (out of descriptors): the
    /// waits then tick as before, nothing is lost.
    bell: Option<UnixStream>,
}

/// A channel with a bell. Never fails: without a socket pair it is a plain
/// channel whose receiver finds what was sent at its next tick.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let pair = UnixStream::pair().and_then(|(a, b)| {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((a, b))
    });
    let (ring, bell) = match pair {
        Ok((a, b)) => (Some(Arc::new(a)), Some(b)),
        Err(e) => {
            tracing::warn!("no socket pair for a channel's bell ({e}): it is read at each tick");
            (None, None)
        }
    };
    (Sender { tx, bell: ring }, Receiver { rx, bell })
}

/// A channel without a bell, for a receiver no wait looks at: a hosted
/// call's commands go to its hub in-process and this end is dropped, so
/// the socket pair (a syscall on the hub's pacing thread, two descriptors
/// for the call's life) would be for nothing.
pub fn channel_without_bell<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    (Sender { tx, bell: None }, Receiver { rx, bell: None })
}

impl<T> Sender<T> {
    /// Sends `value` and rings the bell; an error when the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), mpsc::SendError<T>> {
        self.tx.send(value)?;
        if let Some(b) = &self.bell {
            // A full bell (unread bytes) rings already: nothing to add.
            (&**b).write_all(&[1]).ok();
        }
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// Silences the bell, then takes what was sent: a send racing this
    /// rings again, so it wakes the next wait rather than being missed.
    fn hush(&self) {
        if let Some(b) = &self.bell {
            let mut buf = [0u8; 64];
            while matches!((&*b).read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    pub fn try_recv(&self) -> Result<T, mpsc::TryRecvError> {
        self.hush();
        self.rx.try_recv()
    }

    /// Everything sent so far, without waiting.
    pub fn try_iter(&self) -> mpsc::TryIter<'_, T> {
        self.hush();
        self.rx.try_iter()
    }

    fn bell_fd(&self) -> Option<RawFd> {
        self.bell.as_ref().map(AsRawFd::as_raw_fd)
    }
}

/// Waits at most `limit` for `sock` to be readable or for something sent
/// on `wake`; true when `sock` is readable (or failed: the read says how).
pub fn wait<T>(sock: BorrowedFd<'_>, wake: &Receiver<T>, limit: Duration) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.bell_fd().unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: poll(2) on two pollfd structs we own, for their length; a
    // negative fd is ignored by poll.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    // An interrupted wait counts as a tick.
    n > 0 && fds[0].revents != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::Instant;

    #[test]
    fn a_send_wakes_a_wait_at_once_and_nothing_is_lost() {
        let (sock, _peer) = UnixStream::pair().expect("pair");
        let (tx, rx) = channel::<u32>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(7).expect("send");
            tx
        });
        let started = Instant::now();
        assert!(
            !wait(sock.as_fd(), &rx, Duration::from_secs(20)),
            "not the socket"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "woken by the send");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [7]);
        // Silenced: the next wait sleeps its time out.
        let started = Instant::now();
        assert!(!wait(sock.as_fd(), &rx, Duration::from_millis(100)));
        assert!(started.elapsed() >= Duration::from_millis(90));
        // Many sends, one read: all there; a dropped receiver is an error.
        let tx = t.join().expect("sender");
        for i in 0..10_000 {
            tx.send(i).expect("send");
        }
        assert_eq!(rx.try_iter().count(), 10_000);
        drop(rx);
        assert!(tx.send(1).is_err());
    }

    #[test]
    fn a_readable_socket_is_told_apart_from_the_bell() {
        let (sock, mut peer) = UnixStream::pair().expect("pair");
        let (_tx, rx) = channel::<u32>();
        peer.write_all(b"x").expect("write");
        assert!(wait(sock.as_fd(), &rx, Duration::from_secs(20)));
    }
}
