//! `debug on|off`: while on, the call's decisions that are logged at debug
//! level (the duck, stalls, reloads, a late start, failed sounds, what a
//! control command did) are logged at info, so an operator sees them
//! without restarting the generator with `-v`. One switch per process: a
//! `run` process is one call.

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

pub fn set(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}
