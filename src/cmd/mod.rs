//! The subcommands' entry points, one file each: `check`, `plan`, `render`
//! (with `replay`, what repeats a simulated call), `say`, `cache` (`holdmix cache warm`), `completions` and `man` (`stdout`
//! is how the last two print). `main.rs` parses the arguments and calls one
//! of these (or `run`/`hub`).
//!
//! `run` and `hub` are subcommands too, but
//! each is a subsystem with threads and files of its own, so each has its
//! own folder at the top of `src/`.

pub mod cache;
pub mod check;
pub mod completions;
pub mod ctl;
pub mod man;
pub mod plan;
pub mod play;
pub mod render;
pub mod replay;
pub mod report;
pub mod say;
pub mod serve;
mod stdout;
