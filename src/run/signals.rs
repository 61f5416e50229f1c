//! The stop signals: how Asterisk ends a generator (SIGHUP, then SIGTERM,
//! then SIGKILL). Only the audio thread takes them, so a signal cuts its
//! sleep short and the stream ends within about a millisecond; every other
//! thread is started with them blocked (threads inherit the mask).

use super::exit::Exit;
use crate::audio::clock::{Clock, Wake, block_signals, restore_signals};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals that end a run.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];

/// Set by the handler to the signal that arrived (0: none yet).
pub struct StopFlag(Arc<AtomicUsize>);

impl StopFlag {
    /// Installs the handlers. The first thing a run does: a signal before
    /// it kills the process, which is right before the first frame.
    pub fn install() -> std::io::Result<StopFlag> {
        let flag = Arc::new(AtomicUsize::new(0));
        for sig in STOP_SIGNALS {
            signal_hook::flag::register_usize(sig, flag.clone(), sig as usize)?;
        }
        Ok(StopFlag(flag))
    }

    /// A flag a host sets (no signal handler): a hosted stream ends when
    /// the host stores a signal's number in `cell`.
    pub fn shared(cell: Arc<AtomicUsize>) -> StopFlag {
        StopFlag(cell)
    }

    /// The stop that came, if one did.
    pub fn get(&self) -> Option<Exit> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(Exit::Signal(sig as i32)),
        }
    }

    /// Sleeps to the clock's next deadline, unless a stop signal came. A
    /// signal landing between the check and the sleep is seen at the next
    /// tick, at most one period (40 ms) later.
    pub fn sleep(&self, clock: &mut Clock) -> Option<Exit> {
        while self.get().is_none() && clock.wait() == Wake::Interrupted {}
        self.get()
    }

    /// The flag's memory, for the prefetch at the wake (see `Warm`).
    pub fn cell(&self) -> &AtomicUsize {
        &self.0
    }
}

/// Runs `f` (which starts a thread) with the stop signals blocked, so the
/// new thread never takes them; then the mask is what it was (a thread
/// that had them blocked, as a hub's kept threads do, keeps them so).
pub fn unsignalled<T>(f: impl FnOnce() -> T) -> T {
    let before = block_signals(&STOP_SIGNALS);
    let out = f();
    restore_signals(&before);
    out
}
