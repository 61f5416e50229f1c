//! Issue 20, installing holdmix like a PBX component: the completions and
//! manual pages it generates, its logs (journald, a file reopened for
//! logrotate), the Debian package and its layout, and the call state
//! removed at the channel's `Hangup`.

mod completions;
mod hangup;
mod logging;
mod package;
