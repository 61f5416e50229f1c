//! The Asterisk Manager Interface: the wire format ([`codec`]) and what a
//! generator takes from it for its own call ([`watch`]). The network client
//! and the per-host hub build on these.

pub mod client;
pub mod codec;
pub mod connection;
pub mod hub;
pub mod reconnect;
pub mod watch;
