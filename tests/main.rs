//! The one integration-test binary: each module is a topic, each test runs
//! the real `holdmix` binary or library on real files, pipes and signals.

// Tests and their helpers may unwrap: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

mod ami;
mod audiosocket;
mod billing;
mod cache;
mod cache_faults;
mod codecs;
mod control;
mod corpus;
mod dates;
mod decode;
mod diagnostics;
mod errors;
mod faults;
mod g711;
#[path = "hardening/files.rs"]
mod hardening_files;
#[path = "hardening/walk.rs"]
mod hardening_walk;
#[path = "hardening/wire.rs"]
mod hardening_wire;
mod hubaudio;
mod install;
mod keys;
mod language;
mod lifecycle;
mod memory;
mod metrics;
mod migration;
mod mohqueue;
mod msrv;
mod pacing;
// `holdmix play` needs the sound output (scripts/test.sh builds with it).
#[cfg(feature = "speaker")]
mod play;
mod random_start;
mod readme;
mod realtime;
mod render_audio;
mod report;
mod respawn;
mod routes;
mod scenario;
mod shim;
mod speech;
mod speech_asterisk;
mod startup;
mod store;
mod timelines;
mod webhook;
