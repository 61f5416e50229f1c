//! holdmix: a per-call programmable music-on-hold generator for Asterisk.
//!
//! The engine (`engine`) is a deterministic state machine: events in, 20 ms
//! frames and a timeline out. `run` drives it in real time for Asterisk,
//! `cmd::render` on a virtual clock for previews and tests.
//!
//! The modules, in layers; a module imports from its own layer and the
//! layers below it, never above (one exception: the core takes `billing`'s
//! data types, `BillingConfig` and `BalanceAnswer`, into scenarios and events,
//! and `webhook`'s, `PlanConfig`, `Ask` and `PlanAnswer`, likewise):
//!
//! - core: `engine` (the state machine, without I/O; its `library` only
//!   registers the sources), `scenario` (playlists), `speech` (values into
//!   words), `audio` (decoding, the decoded-audio cache, the mixing stages,
//!   output formats);
//! - adapters to the world outside: `ami` (Asterisk Manager Interface),
//!   `hub` (one AMI session per host, shared by the calls), `control`
//!   (control sockets: a call's, the hub's for every call), `billing`
//!   (balance lookups), `webhook` (hold plans asked of an HTTP endpoint),
//!   `store` (the callers' database), `state` (where a
//!   call resumes), `report` (timelines and Asterisk's queue_log added
//!   up for `holdmix report`), `plot` (`render --plot` pictures, and
//!   `report`'s), `metrics` (the hub's Prometheus metrics and what
//!   generators report to it);
//! - drivers: `run` (a call, in real time), `serve` (many calls over
//!   Asterisk's AudioSocket) and `cmd` (the other
//!   subcommands), with `sources` (loading the audio files through the
//!   cache, for both), `cli` (the arguments as typed) and `config` (the
//!   arguments resolved); `main.rs` only parses and dispatches;
//! - `util`: small helpers any layer may use (the doorbell channels,
//!   durations, percent-encoding, logging set-up, the start-up footprint,
//!   cache-line prefetch); they import nothing else of the crate.
//!   They are grouped in a folder of their own so that the top of `src/`
//!   lists only the layers above.

pub mod ami;
pub mod audio;
pub mod billing;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod control;
pub mod engine;
pub mod export;
pub mod hub;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod routes;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod sources;
pub mod speech;
pub mod state;
pub mod store;
pub mod util;
pub mod webhook;
