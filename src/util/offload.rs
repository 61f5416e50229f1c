//! Writes that may wait, taken off the thread that makes them: log lines
//! (a log file on a stalled disk, a FIFO nobody reads, journald busy) and
//! calls' timelines (a disk in writeback). The audio thread, and a hub's
//! pacing thread with every hosted call, only queue the bytes; one thread
//! of the process writes them, in the order they were queued.
//!
//! Bounded: past [`LIMIT`] bytes queued, a write is refused (its sender
//! counts it, and says so once the queue moves again) rather than waited
//! for or kept without end. A process ending waits for its queue at most
//! [`flush`]'s bound, so a stalled log never keeps a call's process alive
//! past Asterisk's stop.
//!
//! Hand-written rather than `tracing-appender`'s worker: that one serves
//! one writer, and a hub writes a log and a timeline file per hosted call;
//! this bound is in bytes, not lines; and its queue is allocated whole at
//! the start (every slot touched), which a held call's process pays for
//! even when it never logs a line.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Bytes queued at most (each write's bytes and [`OVERHEAD`]).
pub const LIMIT: usize = 4 << 20;
/// What a queued write costs beyond its bytes, for the bound: a line of
/// a few bytes still takes its entry and its allocation.
const OVERHEAD: usize = 64;

/// Where queued bytes go. Written by the offload thread only, one write at
/// a time; a failure is the destination's to note (nothing waits for it).
pub trait Dest: Send + Sync {
    fn write(&self, bytes: &[u8]);
}

struct Queue {
    items: VecDeque<(Arc<dyn Dest>, Vec<u8>)>,
    bytes: usize,
    /// The thread is writing one (taken off `items`, not done).
    writing: bool,
    /// The thread waits for work: a send wakes it (otherwise it finds the
    /// write when it is done with the one in hand, with no wake to pay).
    asleep: bool,
}

struct Offload {
    queue: Mutex<Queue>,
    /// Something queued (the thread waits on it).
    work: Condvar,
    /// The queue went empty (a flush waits on it).
    idle: Condvar,
}

static OFFLOAD: Offload = Offload::new();
/// Whether its thread runs (decided at the first use).
static STARTED: OnceLock<bool> = OnceLock::new();

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // A destination that panicked must not stop the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `bytes` for `dest`; never waits for a write. `false` when the
/// queue is full and they were dropped (the caller counts them). The
/// process's thread starts at the first use; when none can start, the
/// write is made in place (as before the offload: better than lost).
pub fn send(dest: Arc<dyn Dest>, bytes: Vec<u8>) -> bool {
    let started = *STARTED.get_or_init(|| OFFLOAD.start().is_ok());
    if !started {
        dest.write(&bytes);
        return true;
    }
    OFFLOAD.send(dest, bytes)
}

/// Waits until everything queued so far is written, for at most `bound`.
/// Whether it was.
pub fn flush(bound: Duration) -> bool {
    STARTED.get() != Some(&true) || OFFLOAD.flush(bound)
}

impl Offload {
    const fn new() -> Offload {
        Offload {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                writing: false,
                asleep: false,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
        }
    }

    fn start(&'static self) -> std::io::Result<()> {
        without_signals(|| {
            std::thread::Builder::new()
                .name("offload".into())
                // Writes, and a line logged about one that failed.
                .stack_size(256 * 1024)
                .spawn(|| self.work())
                .map(drop)
        })
    }

    fn send(&self, dest: Arc<dyn Dest>, bytes: Vec<u8>) -> bool {
        let cost = bytes.len() + OVERHEAD;
        let mut q = lock(&self.queue);
        if q.bytes + cost > LIMIT {
            return false;
        }
        q.bytes += cost;
        q.items.push_back((dest, bytes));
        let wake = q.asleep;
        drop(q);
        if wake {
            self.work.notify_one();
        }
        true
    }

    fn flush(&self, bound: Duration) -> bool {
        let end = Instant::now() + bound;
        let mut q = lock(&self.queue);
        while !q.items.is_empty() || q.writing {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = self
                .idle
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The thread: takes the oldest write, makes it, and so on.
    fn work(&self) {
        let mut q = lock(&self.queue);
        loop {
            match q.items.pop_front() {
                Some((dest, bytes)) => {
                    q.writing = true;
                    drop(q);
                    // A destination that panics loses its write, not the
                    // thread (and with it every later write).
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dest.write(&bytes))).ok();
                    q = lock(&self.queue);
                    q.writing = false;
                    q.bytes -= bytes.len() + OVERHEAD;
                }
                None => {
                    self.idle.notify_all();
                    q.asleep = true;
                    q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.asleep = false;
                }
            }
        }
    }
}

/// Runs `f` (the thread's spawn) with every signal blocked, so the new
/// thread starts with them blocked: the stop signals must reach the
/// thread whose sleep they cut (the audio thread), never this one.
fn without_signals<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain sigset_t values and pthread_sigmask on this thread.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let out = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Collects what it is given; waits while `hold` is set.
    struct Held {
        hold: AtomicBool,
        got: Mutex<Vec<Vec<u8>>>,
    }

    impl Dest for Held {
        fn write(&self, bytes: &[u8]) {
            let end = Instant::now() + Duration::from_secs(20);
            while self.hold.load(Ordering::SeqCst) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.got.lock().unwrap().push(bytes.to_vec());
        }
    }

    #[test]
    fn a_stalled_destination_never_holds_the_sender_and_the_bound_holds() {
        // An offload of its own: the process's serves the other tests.
        let o: &'static Offload = Box::leak(Box::new(Offload::new()));
        o.start().unwrap();
        let send = |d: &Arc<dyn Dest>, b: Vec<u8>| o.send(d.clone(), b);
        let flush = |b: Duration| o.flush(b);
        let held = Arc::new(Held {
            hold: AtomicBool::new(true),
            got: Mutex::new(Vec::new()),
        });
        let dest: Arc<dyn Dest> = held.clone();
        // The thread takes the first write and stalls in it.
        assert!(send(&dest, b"first".to_vec()));
        let started = Instant::now();
        let line = vec![b'x'; 1000];
        let mut queued = 1;
        let mut refused = 0;
        for _ in 0..(2 * LIMIT / line.len()) {
            if send(&dest, line.clone()) {
                queued += 1;
            } else {
                refused += 1;
            }
        }
        // Nothing waited for the stalled write (bounded, not timed: a
        // send that waited would wait the destination's 20 s).
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(refused > 0, "past the bound, writes are refused");
        let kept = LIMIT / (line.len() + OVERHEAD);
        assert!(
            (kept - 1..=kept + 1).contains(&(queued - 1)),
            "queued {queued}, the bound keeps about {kept}"
        );
        // The flush is bounded too, while the write stalls.
        assert!(!flush(Duration::from_millis(50)));
        held.hold.store(false, Ordering::SeqCst);
        assert!(flush(Duration::from_secs(20)));
        let got = held.got.lock().unwrap();
        assert_eq!(got.len(), queued, "every write accepted is made");
        assert_eq!(got[0], b"first", "in the order queued");
        // The queue's room is back once written.
        drop(got);
        assert!(send(&dest, b"again".to_vec()));
        assert!(flush(Duration::from_secs(20)));
        assert_eq!(held.got.lock().unwrap().last().unwrap(), b"again");
    }
}
