//! holdmix: a per-call programmable music-on-hold generator for Asterisk.
//!
//! The engine (`engine`) is a deterministic state machine: events in, 20 ms
//! frames and a timeline out. `run` drives it in real time for Asterisk,
//! `render` on a virtual clock for previews and tests.

pub mod ami;
pub mod audio;
pub mod bell;
pub mod billing;
pub mod check;
pub mod cli;
pub mod config;
pub mod duration;
pub mod engine;
pub mod footprint;
pub mod hub;
pub mod logging;
pub mod percent;
pub mod plot;
pub mod render;
pub mod run;
pub mod say;
pub mod scenario;
pub mod sources;
pub mod speech;
pub mod state;
pub mod store;
pub mod warm;
