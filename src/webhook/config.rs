//! What the playlist's `[plan]` table says: the endpoint a call's hold plan
//! is asked of, how long an ask may take, how often it may be made, and
//! where the optional auth header's value is read from. Parsed (with
//! diagnostics) by `scenario`; used by the ask worker. The secret is named
//! here (a file or an environment variable), never held: it is read when
//! an ask starts, as billing's is.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// http or https; no credentials in it (checked by the parser).
    pub url: String,
    /// For a whole ask: connecting, sending, and reading the answer to its
    /// last byte (a server dripping its answer is cut off at it).
    pub timeout: Duration,
    /// The floor between two asks of one call.
    pub every: Duration,
    /// An auth header: its name and where its value is read from.
    pub header: Option<(String, crate::billing::Secret)>,
}

/// Default for `timeout`.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Default for `every`.
pub const EVERY: Duration = Duration::from_secs(5);
/// Longest back-off after failed asks.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl PlanConfig {
    /// A config for `url` with the defaults (tests, examples).
    pub fn new(url: &str) -> PlanConfig {
        PlanConfig {
            url: url.to_string(),
            timeout: TIMEOUT,
            every: EVERY,
            header: None,
        }
    }

    /// The header's value, read now. `Err` says why, naming no value.
    pub fn header_value(&self) -> Result<Option<(String, String)>, String> {
        match &self.header {
            None => Ok(None),
            Some((name, secret)) => {
                let value = secret
                    .read()
                    .map_err(|e| e.replace("the billing secret", "the plan's auth secret"))?;
                Ok(Some((name.clone(), value)))
            }
        }
    }
}

/// `every` doubled for each failed ask in a row, at most [`MAX_BACKOFF`]
/// (and never under `every`).
pub fn backoff(every: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(10);
    every.saturating_mul(factor).min(MAX_BACKOFF).max(every)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(5), 0), s(5));
        assert_eq!(backoff(s(5), 1), s(10));
        assert_eq!(backoff(s(5), 3), s(40));
        assert_eq!(backoff(s(5), 7), s(300));
        assert_eq!(backoff(s(5), 40), s(300));
        assert_eq!(backoff(s(600), 2), s(600));
    }
}
