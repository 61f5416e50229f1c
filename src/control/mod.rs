//! Runtime control of held calls. Under Asterisk a generator's stdin is
//! `/dev/null`, so `run --events -` cannot reach a call that is already
//! holding; a control socket can. One call's own socket (`run --control
//! PATH`), or the hub's for every call it serves (`hub --control PATH`),
//! takes one command per line and answers each with one line of JSON.
//!
//! The words are [`protocol`]'s (sans-IO, shared by server and client);
//! [`listener`] serves a Unix socket for anything implementing [`Target`]
//! (a call, the hub, an AudioSocket server), with the bounds a hostile
//! client meets; [`socket`] creates it (mode 0600, a stale one replaced)
//! and checks who connects; [`call`] is one `run` call's target; [`relay`]
//! is a generator's side of commands the hub passes on; [`debug`] is the
//! per-process `debug on|off` switch.

pub mod call;
pub mod debug;
pub mod listener;
pub mod protocol;
pub mod relay;
pub mod socket;

pub use listener::{Mode, Target, serve};
pub use protocol::{Answer, Command};
