//! Threads for a hub's per-call jobs (a call's preparation, its loader),
//! kept once made: a job goes to a thread that is idle, or to a new one
//! when none is, so a job that hangs (a playlist on a hung share, a
//! database that does not answer) holds its own thread and no other
//! job waits behind it. A thread idle for [`IDLE`] ends.
//!
//! Hand-written, about forty lines: making and ending a thread for each
//! job (its stack mapped and guarded, then given back) was a fifth of a
//! hub's pacing thread's time when a standby took a dead hub's thousand
//! calls, and a tenth of the preparations' (docs/hub-audio.md). The
//! pools of rayon and threadpool have a fixed size, where a job queues
//! behind busy (maybe hung) ones; `blocking` makes its threads wherever
//! it likes, and these must inherit the caller's signal mask (the stop
//! signals stay the audio thread's: `run::signals::unsignalled`).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Runs `job` on a thread named `name`: one of [`CALLS`] when `kept` (a
/// call a hub hosts), else a thread of its own that ends with the job.
pub fn start(name: &str, kept: bool, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    if kept {
        CALLS.run(name, job)
    } else {
        std::thread::Builder::new().name(name.into()).spawn(job).map(drop)
    }
}

/// How long a thread waits for another job before it ends.
pub const IDLE: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

struct State {
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs handed to those threads and not taken yet: never more than
    /// `idle`, so each has a thread that will take it.
    jobs: VecDeque<Job>,
}

/// A set of such threads.
pub struct Workers {
    state: Mutex<State>,
    ready: Condvar,
    /// How long a thread waits for another job before it ends.
    idle_for: Duration,
}

/// The process's (a hub's calls share it).
pub static CALLS: Workers = Workers::new();

impl Workers {
    pub const fn new() -> Workers {
        Workers::idle_for(IDLE)
    }

    const fn idle_for(idle_for: Duration) -> Workers {
        Workers {
            state: Mutex::new(State {
                idle: 0,
                jobs: VecDeque::new(),
            }),
            ready: Condvar::new(),
            idle_for,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock: a panic cannot poison it mid-change.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `job` on an idle thread, or on a new one named `name` (made by
    /// the calling thread, with its signal mask). An error when no thread
    /// can be made.
    pub fn run(&'static self, name: &str, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let mut s = self.state();
        if s.idle > s.jobs.len() {
            s.jobs.push_back(Box::new(job));
            self.ready.notify_one();
            return Ok(());
        }
        drop(s);
        std::thread::Builder::new().name(name.into()).spawn(move || {
            job();
            self.serve();
        })?;
        Ok(())
    }

    /// A thread's life after its first job: the next ones, until it has
    /// been idle for `idle_for`.
    fn serve(&self) {
        let mut s = self.state();
        loop {
            s.idle += 1;
            let (mut woke, _) = self
                .ready
                .wait_timeout_while(s, self.idle_for, |s| s.jobs.is_empty())
                .unwrap_or_else(PoisonError::into_inner);
            woke.idle -= 1;
            // None: idle for IDLE with nothing handed to it.
            let Some(job) = woke.jobs.pop_front() else {
                return;
            };
            drop(woke);
            job();
            s = self.state();
        }
    }
}

impl Default for Workers {
    fn default() -> Workers {
        Workers::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// A job goes to a thread that finished one before (the same thread,
    /// not a new one), and a job that hangs does not hold the next: it
    /// gets a thread of its own.
    #[test]
    fn jobs_reuse_idle_threads_and_never_wait_behind_a_hung_one() {
        let w: &'static Workers = Box::leak(Box::new(Workers::new()));
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        w.run("w", move || t.send(std::thread::current().id()).unwrap())
            .unwrap();
        let first = rx.recv().unwrap();
        let idle = || {
            let until = Instant::now() + Duration::from_secs(10);
            while w.state().idle == 0 {
                assert!(Instant::now() < until, "the thread never went idle");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // Once idle, the next job is that thread's.
        idle();
        let t = tx.clone();
        w.run("w", move || t.send(std::thread::current().id()).unwrap())
            .unwrap();
        assert_eq!(rx.recv().unwrap(), first, "a new thread for the second job");
        // A job that hangs (until released) on that thread, then another:
        // it runs at once, on a thread of its own.
        idle();
        let (release, hang) = mpsc::channel::<()>();
        w.run("w", move || {
            hang.recv().ok();
        })
        .unwrap();
        let t = tx.clone();
        w.run("w", move || t.send(std::thread::current().id()).unwrap())
            .unwrap();
        let got = rx.recv_timeout(Duration::from_secs(10));
        assert!(
            got.is_ok_and(|id| id != first),
            "the job waited behind a hung one"
        );
        release.send(()).unwrap();
    }

    /// A thread idle for its time ends.
    #[test]
    fn idle_threads_end() {
        struct Gone(mpsc::Sender<()>);
        impl Drop for Gone {
            fn drop(&mut self) {
                self.0.send(()).ok();
            }
        }
        thread_local! {
            static GONE: std::cell::RefCell<Option<Gone>> = const { std::cell::RefCell::new(None) };
        }
        let w: &'static Workers = Box::leak(Box::new(Workers::idle_for(Duration::from_millis(50))));
        let (tx, gone) = mpsc::channel();
        w.run("w", move || GONE.with(|g| *g.borrow_mut() = Some(Gone(tx))))
            .unwrap();
        // Its thread-locals go when the thread ends.
        assert!(gone.recv_timeout(Duration::from_secs(10)).is_ok(), "still there");
        assert_eq!(w.state().idle, 0);
    }
}
