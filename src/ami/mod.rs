//! The Asterisk Manager Interface, in layers: the wire format ([`codec`],
//! sans-IO), one connection ([`connection`]: connect, log in, actions
//! matched to their responses by ActionID) and when to retry it
//! ([`reconnect`]). On these: a generator's own session ([`client`]) and
//! what a generator takes from AMI for its call ([`channel_watch`]);
//! [`wake`] lets a session send what is asked at once, not at its read
//! tick. The
//! per-host hub builds on these too; nothing here imports it.

pub mod channel_watch;
pub mod client;
pub mod codec;
pub mod connection;
pub mod reconnect;
pub mod secret;
pub mod wake;
