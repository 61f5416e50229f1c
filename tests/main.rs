//! The one integration-test binary: each module is a topic, each test runs
//! the real `holdmix` binary or library on real files, pipes and signals.

mod common;

mod ami;
mod billing;
mod cache;
mod decode;
mod g711;
mod lifecycle;
mod memory;
mod pacing;
mod realtime;
mod render_audio;
mod respawn;
mod scenario;
mod speech;
mod store;
