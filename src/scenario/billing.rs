//! The playlist's `[billing]` table, read key by key with diagnostics.

use super::diag::Diags;
use super::doc::{self, Table};
use crate::billing::{Auth, BillingConfig, Fields, Format, HttpConfig, Method, NumberRules, Secret, Source};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::de::DeValue;

const KEYS: &[&str] = &[
    "url",
    "accounts_file",
    "method",
    "param",
    "timeout",
    "retries",
    "auth",
    "user",
    "secret_file",
    "secret_env",
    "number",
    "fields",
    "format",
];

/// Reads `[billing]`. The accounts file is only named here, not read (no
/// file I/O in the parser): `accounts_at` gets where it is named, and
/// `holdmix check` reads it.
pub fn parse(
    d: &mut Diags,
    base: &Path,
    t: &Table,
    accounts_at: &mut Option<Range<usize>>,
) -> Option<BillingConfig> {
    t.deny_unknown(d, KEYS);
    let url = t.str(d, "url");
    let file = t.str(d, "accounts_file");
    // Whichever way the source is wrong, the rest of the table is still
    // read: `check` lists every problem of it, not the first.
    let source = match (url, file) {
        (Some((u, url_span)), Some((_, span))) => {
            d.error(
                span,
                &t.key_path("accounts_file"),
                "both `url` and `accounts_file` are set",
            )
            .hint("the accounts file is the stand-in for a billing server: keep one");
            http(d, base, t, u, url_span);
            None
        }
        (None, None) => {
            d.error(t.span.clone(), &t.path, "billing needs `url` or `accounts_file`")
                .hint("e.g. accounts_file = \"accounts.toml\" for a demo, url = \"https://billing/api/balance\" for real");
            None
        }
        (None, Some((f, span))) => {
            *accounts_at = Some(span);
            Some(Source::File(base.join(f)))
        }
        (Some((u, span)), None) => http(d, base, t, u, span).map(|h| Source::Http(Box::new(h))),
    };
    let mut number = NumberRules {
        strip: " -().".into(),
        prefixes: Vec::new(),
    };
    if let Some(n) = t.table(d, "number") {
        n.deny_unknown(d, &["strip", "prefixes"]);
        if let Some((s, _)) = n.str(d, "strip") {
            number.strip = s.to_string();
        }
        if let Some(p) = n.table(d, "prefixes") {
            for (from, _, v) in p.entries() {
                match v.get_ref() {
                    DeValue::String(to) => number.prefixes.push((from.to_string(), to.to_string())),
                    other => doc::type_error(d, v.span(), &p.key_path(from), "a string", other),
                }
            }
        }
    }
    for key in ["fields", "format"] {
        if matches!(source, Some(Source::File(_)))
            && let Some(v) = t.get(key)
        {
            d.warning(
                v.span(),
                &t.key_path(key),
                format!("`{key}` applies to a billing `url` only"),
            );
        }
    }
    Some(BillingConfig {
        source: source?,
        number,
    })
}

fn http(
    d: &mut Diags,
    base: &Path,
    t: &Table,
    url: &str,
    span: std::ops::Range<usize>,
) -> Option<HttpConfig> {
    // A bad URL makes the table unusable, but the rest of it is still
    // read: `check` lists every problem, not the first.
    let url_ok = web_url(
        d,
        t,
        &url.replace("{number}", "0"),
        span,
        "use auth = \"basic\" with secret_file or secret_env",
        "https://billing.example/api/balance?phone={number}",
    );
    let method = match t.str(d, "method") {
        None => Method::Get,
        Some((m, _)) if m.eq_ignore_ascii_case("get") => Method::Get,
        Some((m, _)) if m.eq_ignore_ascii_case("post") => Method::Post,
        Some((m, span)) => {
            d.error(span, &t.key_path("method"), format!("unknown method {m:?}"))
                .hint("\"get\" or \"post\"");
            Method::Get
        }
    };
    let secret = secret(d, base, t, "billing");
    let auth = match t.str(d, "auth") {
        None | Some(("none", _)) => Auth::None,
        Some(("basic", span)) => match (t.str(d, "user"), secret) {
            (Some((user, _)), Some(secret)) => Auth::Basic {
                user: user.to_string(),
                secret,
            },
            (None, _) => {
                d.error(span, &t.key_path("auth"), "basic auth needs `user`");
                Auth::None
            }
            (_, None) => {
                d.error(
                    span,
                    &t.key_path("auth"),
                    "basic auth needs `secret_file` or `secret_env`",
                );
                Auth::None
            }
        },
        Some(("bearer", span)) => match secret {
            Some(secret) => Auth::Bearer { secret },
            None => {
                d.error(
                    span,
                    &t.key_path("auth"),
                    "bearer auth needs `secret_file` or `secret_env`",
                );
                Auth::None
            }
        },
        Some((other, span)) => {
            d.error(span, &t.key_path("auth"), format!("unknown auth {other:?}"))
                .hint("\"none\", \"basic\" or \"bearer\"");
            Auth::None
        }
    };
    let retries = t.whole(d, "retries", 0, 5).map_or(1, |(n, _)| n as u32);
    let timeout = match t.duration(d, "timeout") {
        Some(x) if x.is_zero() || x > Duration::from_secs(30) => {
            let span = t.get("timeout").map(|v| v.span()).unwrap_or_default();
            d.error(
                span,
                &t.key_path("timeout"),
                "a timeout must be over 0 and at most 30s",
            );
            Duration::from_secs(2)
        }
        Some(x) => x,
        None => Duration::from_secs(2),
    };
    let format = match t.str(d, "format") {
        None | Some(("json", _)) => Format::Json,
        Some(("php", _)) => Format::Php,
        Some((other, span)) => {
            d.error(
                span,
                &t.key_path("format"),
                format!("unknown answer format {other:?}"),
            )
            .hint("\"json\", or \"php\" for PHP-serialized answers (the old hack's billing)");
            Format::Json
        }
    };
    // A PHP answer is the old hack's billing: its field names by default.
    let mut fields = match format {
        Format::Json => Fields::default(),
        Format::Php => Fields::hack(),
    };
    if let Some(f) = t.table(d, "fields") {
        f.deny_unknown(
            d,
            &["accounts", "id", "balance", "currency", "locked", "locked_value"],
        );
        for (name, slot) in [
            ("accounts", &mut fields.accounts),
            ("id", &mut fields.id),
            ("balance", &mut fields.balance),
            ("currency", &mut fields.currency),
            ("locked", &mut fields.locked),
        ] {
            if let Some((s, _)) = f.str(d, name) {
                *slot = s.to_string();
            }
        }
        match f.number(d, "locked_value") {
            Some((n, _)) if n.fract() == 0.0 && n.abs() <= 1e15 => fields.locked_value = Some(n as i64),
            Some((n, span)) => {
                d.error(
                    span,
                    &f.key_path("locked_value"),
                    if n.fract() == 0.0 {
                        format!("{} is too large: at most 10^15 either way", doc::shown(n))
                    } else {
                        format!("{} is not a whole status number", doc::shown(n))
                    },
                )
                .hint("the status that means locked, e.g. locked_value = -2");
            }
            None => {}
        }
    }
    if !url_ok {
        return None;
    }
    Some(HttpConfig {
        url: url.to_string(),
        method,
        param: t
            .str(d, "param")
            .map_or_else(|| "number".to_string(), |(p, _)| p.to_string()),
        auth,
        timeout,
        retries,
        format,
        fields,
    })
}

/// `secret_file` (relative to the playlist) or `secret_env`, not both. An
/// unreadable file is a warning: `check` may run as another user than
/// Asterisk's.
/// Whether `url` (`t`'s `url`, at `span`) is one to send requests to:
/// http or https, and no credentials in it (they would show in logs;
/// `instead` says where they go). Each reason is a diagnostic.
pub(super) fn web_url(
    d: &mut Diags,
    t: &Table,
    url: &str,
    span: Range<usize>,
    instead: &str,
    example: &str,
) -> bool {
    let key = t.key_path("url");
    match reqwest::Url::parse(url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            d.error(span, &key, format!("`{}` is not http or https", u.scheme()));
            false
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            d.error(span, &key, "the URL holds credentials")
                .hint(format!("they would show in logs: {instead}"));
            false
        }
        Ok(_) => true,
        Err(e) => {
            d.error(span, &key, format!("not a URL: {e}"))
                .hint(format!("e.g. \"{example}\""));
            false
        }
    }
}

/// `secret_file` or `secret_env` of `t` (not both); an unreadable file is
/// a warning (`check` may run as another user than Asterisk's), naming
/// the secret as `what`'s.
pub(super) fn secret(d: &mut Diags, base: &Path, t: &Table, what: &str) -> Option<Secret> {
    match (t.str(d, "secret_file"), t.str(d, "secret_env")) {
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
            if let Err(e) = s.read() {
                d.warning(span, &t.key_path("secret_file"), e.replace("billing", what));
            }
            Some(s)
        }
        (None, Some((name, _))) => Some(Secret::Env(name.to_string())),
        (None, None) => None,
    }
}
