//! The playlist's `[plan]` table, read key by key with diagnostics: the
//! webhook a call's hold plan is asked of (see `crate::webhook`).

use super::diag::Diags;
use super::doc::Table;
use crate::webhook::PlanConfig;
use crate::webhook::config::{EVERY, TIMEOUT};
use std::path::Path;
use std::time::Duration;

const KEYS: &[&str] = &["url", "timeout", "every", "header", "secret_file", "secret_env"];

/// Reads `[plan]`; `None` when it cannot be used (each reason a diagnostic).
pub fn parse(d: &mut Diags, base: &Path, t: &Table) -> Option<PlanConfig> {
    t.deny_unknown(d, KEYS);
    // A missing or bad URL makes the plan unusable; the rest is still
    // read, so that `check` lists every problem of the table at once.
    let url = match t.str(d, "url") {
        Some((url, span)) => super::billing::web_url(
            d,
            t,
            url,
            span,
            "use header with secret_file or secret_env",
            "https://hold.example/plan",
        )
        .then_some(url),
        None => {
            if t.get("url").is_none() {
                d.error(t.span.clone(), &t.path, "a plan needs `url`")
                    .hint("e.g. url = \"https://hold.example/plan\"");
            }
            None
        }
    };
    let timeout = bounded(
        d,
        t,
        "timeout",
        TIMEOUT,
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    let every = bounded(
        d,
        t,
        "every",
        EVERY,
        Duration::from_secs(1),
        Duration::from_secs(3600),
    );
    let secret = super::billing::secret(d, base, t, "plan");
    let name = match t.str(d, "header") {
        Some((h, span)) if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() => {
            d.error(span, &t.key_path("header"), format!("{h:?} is not a header name"));
            return None;
        }
        Some((h, span)) if secret.is_none() => {
            d.error(
                span,
                &t.key_path("header"),
                format!("`{h}` needs `secret_file` or `secret_env`"),
            )
            .hint("the header's value is a secret: it is read from a file or the environment");
            return None;
        }
        Some((h, _)) => h.to_string(),
        None => "Authorization".to_string(),
    };
    let url = url?;
    Some(PlanConfig {
        url: url.to_string(),
        timeout,
        every,
        header: secret.map(|s| (name, s)),
    })
}

fn bounded(d: &mut Diags, t: &Table, key: &str, default: Duration, min: Duration, max: Duration) -> Duration {
    match t.duration(d, key) {
        Some(x) if x < min || x > max => {
            let span = t.get(key).map(|v| v.span()).unwrap_or_default();
            d.error(
                span,
                &t.key_path(key),
                format!("`{key}` must be {:?} to {:?}", min, max),
            );
            default
        }
        Some(x) => x,
        None => default,
    }
}
