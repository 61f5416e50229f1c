//! Small helpers that are not a subsystem and that several layers use:
//! channels with a doorbell into the audio thread (`bell`), durations as
//! people write them (`duration`), percent-encoding (`percent`), logging
//! set-up (`logging`), writes taken off the thread that makes them
//! (`offload`), log lines limited per cause (`ratelimit`), letting
//! go of start-up memory (`footprint`), asking for the memory lines a tick
//! will touch before it runs (`prefetch`), surviving a mapped file's
//! truncation (`mapguard`), checking a directory others must not write
//! into (`dirs`), doing a shared chore at most so often per host
//! (`marker`) and reading a file named by a user, bounded and without
//! blocking (`files`), the outbound HTTP client (`http`) and words for
//! JSON values in errors (`json`).
//! None of them imports another module of the crate, but `logging`,
//! whose lines `offload` writes.

pub mod bell;
pub mod dirs;
pub mod duration;
pub mod files;
pub mod footprint;
pub mod http;
pub mod json;
pub mod logging;
pub mod mapguard;
pub mod marker;
pub mod offload;
pub mod percent;
pub mod prefetch;
pub mod ratelimit;
pub mod workers;
