//! The playlist's `[plan]` table, read key by key with diagnostics: the
//! webhook a call's hold plan is asked of (see `crate::webhook`).

use super::diag::Diags;
use super::doc::Table;
use crate::billing::Secret;
use crate::webhook::PlanConfig;
use crate::webhook::config::{EVERY, TIMEOUT};
use std::path::Path;
use std::time::Duration;

const KEYS: &[&str] = &["url", "timeout", "every", "header", "secret_file", "secret_env"];

/// Reads `[plan]`; `None` when it cannot be used (each reason a diagnostic).
pub fn parse(d: &mut Diags, base: &Path, t: &Table) -> Option<PlanConfig> {
    t.deny_unknown(d, KEYS);
    let Some((url, span)) = t.str(d, "url") else {
        if t.get("url").is_none() {
            d.error(t.span.clone(), &t.path, "a plan needs `url`")
                .hint("e.g. url = \"https://hold.example/plan\"");
        }
        return None;
    };
    let key = t.key_path("url");
    match reqwest::Url::parse(url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            d.error(span, &key, format!("`{}` is not http or https", u.scheme()));
            return None;
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            d.error(span, &key, "the URL holds credentials")
                .hint("they would show in logs: use header with secret_file or secret_env");
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            d.error(span, &key, format!("not a URL: {e}"))
                .hint("e.g. \"https://hold.example/plan\"");
            return None;
        }
    }
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
    let secret = match (t.str(d, "secret_file"), t.str(d, "secret_env")) {
        (Some(_), Some((_, span))) => {
            d.error(
                span,
                &t.key_path("secret_env"),
                "both `secret_file` and `secret_env` are set",
            );
            None
        }
        (Some((f, span)), None) => {
            let s = Secret::File(base.join(f));
            // A warning: `check` may run as another user than Asterisk's.
            if let Err(e) = s.read() {
                d.warning(span, &t.key_path("secret_file"), e.replace("billing", "plan"));
            }
            Some(s)
        }
        (None, Some((name, _))) => Some(Secret::Env(name.to_string())),
        (None, None) => None,
    };
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
