//! Channels into the audio thread, with a doorbell.
//!
//! Keys, queue events, billing answers, playlist reloads and freshly mapped
//! sources all reach the audio thread through channels. Polling each of them
//! at every tick touches their cold cache lines 25 times a second in every
//! call; with a doorbell the tick reads one flag and polls only after
//! something was sent. The senders here ring it after each send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// The flag the senders set and the audio thread takes.
#[derive(Clone, Default)]
pub struct Bell(Arc<AtomicBool>);

impl Bell {
    pub fn new() -> Bell {
        Bell::default()
    }

    /// Notes the flag (see `Warm`).
    pub fn note_hot(&self, w: &mut crate::util::prefetch::Warm) {
        w.add(&*self.0);
    }

    fn ring(&self) {
        // Release: what was sent before the ring is there for whoever sees it.
        self.0.store(true, Ordering::Release);
    }

    /// True once after anything was sent; the caller then polls every
    /// channel. A send racing this call rings again, so it is seen at the
    /// next call at the latest.
    pub fn answer(&self) -> bool {
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Acquire)
    }

    /// A sender on an unbounded channel that rings this bell.
    pub fn channel<T>(&self) -> (Sender<T>, mpsc::Receiver<T>) {
        let (tx, rx) = mpsc::channel();
        (
            Sender {
                tx,
                bell: self.clone(),
            },
            rx,
        )
    }

    /// A sender on a bounded channel that rings this bell.
    pub fn sync_channel<T>(&self, bound: usize) -> (SyncSender<T>, mpsc::Receiver<T>) {
        let (tx, rx) = mpsc::sync_channel(bound);
        (
            SyncSender {
                tx,
                bell: self.clone(),
            },
            rx,
        )
    }
}

/// [`mpsc::Sender`] that rings the bell.
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    bell: Bell,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            bell: self.bell.clone(),
        }
    }
}

impl<T> Sender<T> {
    pub fn send(&self, value: T) -> Result<(), mpsc::SendError<T>> {
        let r = self.tx.send(value);
        self.bell.ring();
        r
    }
}

/// [`mpsc::SyncSender`] that rings the bell.
pub struct SyncSender<T> {
    tx: mpsc::SyncSender<T>,
    bell: Bell,
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        SyncSender {
            tx: self.tx.clone(),
            bell: self.bell.clone(),
        }
    }
}

impl<T> SyncSender<T> {
    pub fn send(&self, value: T) -> Result<(), mpsc::SendError<T>> {
        let r = self.tx.send(value);
        self.bell.ring();
        r
    }

    pub fn try_send(&self, value: T) -> Result<(), mpsc::TrySendError<T>> {
        let r = self.tx.try_send(value);
        self.bell.ring();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_once_per_batch_and_never_loses_a_message() {
        let bell = Bell::new();
        let (a, ra) = bell.channel::<u32>();
        let (b, rb) = bell.sync_channel::<u32>(4);
        assert!(!bell.answer());
        a.send(1).ok();
        b.try_send(2).ok();
        assert!(bell.answer());
        assert!(!bell.answer(), "answered twice for one batch");
        assert_eq!(ra.try_iter().collect::<Vec<_>>(), [1]);
        assert_eq!(rb.try_iter().collect::<Vec<_>>(), [2]);
        // From another thread: every message is in its channel once the
        // bell is seen.
        let t = std::thread::spawn(move || {
            for i in 0..1000 {
                a.send(i).ok();
            }
        });
        let mut got = 0;
        for _ in 0..1_000_000 {
            if bell.answer() {
                got += ra.try_iter().count();
            }
            if got == 1000 {
                break;
            }
            std::thread::yield_now();
        }
        t.join().ok();
        // The last sends rang after the last answer that found them.
        if bell.answer() {
            got += ra.try_iter().count();
        }
        assert_eq!(got, 1000);
    }
}
