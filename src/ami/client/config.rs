//! What a generator's own AMI session is told: how to reach Asterisk and
//! whom to follow.

use std::time::Duration;

/// How to reach Asterisk and whom to follow.
#[derive(Clone)]
pub struct AmiConfig {
    pub addr: String,
    pub user: String,
    /// Never logged, never on a command line (from a file or the environment).
    pub secret: String,
    pub channel: Option<String>,
    pub uniqueid: Option<String>,
    /// The caller number this process was given (to confirm with Asterisk).
    pub caller: Option<String>,
    pub queue: Option<String>,
    pub status_every: Duration,
}

impl std::fmt::Debug for AmiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiConfig")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("secret", &"<hidden>")
            .field("channel", &self.channel)
            .finish()
    }
}
