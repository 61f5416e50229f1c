//! One balance lookup over HTTP(S): the request (number escaped, auth from
//! a secret), a timeout per attempt, a retry on transient failures, and a
//! body read with a size limit. Errors never carry the URL (it holds the
//! caller's number) nor any credential. Redirects are not followed (a 3xx
//! is a failure: the caller hears "service unavailable") and no `Referer`
//! is ever sent: the URL with the caller's number goes to the configured
//! origin and nowhere else (issue 18, finding 12).

use super::answer;
use super::balance::BalanceAnswer;
use super::config::{Auth, Format, HttpConfig, Method};
use std::time::Duration;

/// Largest answer read; a bigger one is a failure, not a memory hazard.
pub const MAX_BODY: usize = 1 << 20;
/// Pause before the retry.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// A client for the whole call: connections are kept alive between lookups.
pub fn client(cfg: &HttpConfig) -> Result<reqwest::Client, String> {
    crate::util::http::client(cfg.timeout, "billing")
}

/// Looks `number` up. `Err` says why (for the log); the caller then hears
/// the "service unavailable" prompt.
pub async fn lookup(
    client: &reqwest::Client,
    cfg: &HttpConfig,
    number: &str,
) -> Result<BalanceAnswer, String> {
    let secret = match &cfg.auth {
        Auth::None => None,
        Auth::Basic { secret, .. } | Auth::Bearer { secret } => Some(secret.read()?),
    };
    let mut attempt = 0;
    loop {
        match once(client, cfg, number, secret.as_deref()).await {
            Err(Failure::Transient(why)) if attempt < cfg.retries => {
                tracing::debug!("billing lookup: {why}; trying again");
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(Failure::Transient(why) | Failure::Final(why)) => return Err(why),
            Ok(body) => {
                let value = match cfg.format {
                    Format::Json => {
                        serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))?
                    }
                    Format::Php => answer::php_none(super::php::parse(&body)?),
                };
                return answer::accounts(&value, &cfg.fields);
            }
        }
    }
}

enum Failure {
    /// Worth one more try: a timeout, no connection, a 5xx.
    Transient(String),
    Final(String),
}

async fn once(
    client: &reqwest::Client,
    cfg: &HttpConfig,
    number: &str,
    secret: Option<&str>,
) -> Result<Vec<u8>, Failure> {
    let in_url = cfg.url.contains("{number}");
    // Every reserved character escaped: the number cannot change the URL.
    let url = cfg
        .url
        .replace("{number}", &crate::util::percent::encode(number, b""));
    let mut req = match cfg.method {
        Method::Get => client.get(&url),
        Method::Post => client.post(&url),
    };
    if !in_url {
        let field = [(cfg.param.as_str(), number)];
        req = match cfg.method {
            Method::Get => req.query(&field),
            Method::Post => req.form(&field),
        };
    }
    // reqwest marks these headers sensitive: they never show in its logs.
    req = match (&cfg.auth, secret) {
        (Auth::Basic { user, .. }, Some(s)) => req.basic_auth(user, Some(s)),
        (Auth::Bearer { .. }, Some(s)) => req.bearer_auth(s),
        _ => req,
    };
    let mut resp = req.send().await.map_err(|e| transport(&e))?;
    let status = resp.status();
    if status.is_server_error() {
        return Err(Failure::Transient(format!("billing answered {status}")));
    }
    if status.is_redirection() {
        return Err(Failure::Final(format!(
            "billing answered {status}: redirects are not followed"
        )));
    }
    if !status.is_success() {
        return Err(Failure::Final(format!("billing answered {status}")));
    }
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Failure::Final(format!(
            "the answer is over {} KiB",
            MAX_BODY / 1024
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Failure::Final(format!(
                "the answer is over {} KiB",
                MAX_BODY / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Redirects within the configured origin only (scheme, host and port
/// equal), at most [`MAX_REDIRECTS`]; any other is not followed (the 3xx
/// then fails the lookup). For a billing API that moves paths; not the
/// default (see [`client`]) until the `[billing]` table has a key for it.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous().first();
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if from.is_some_and(|from| same_origin(from, attempt.url())) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Most redirects [`same_origin_redirects`] follows for one lookup.
pub const MAX_REDIRECTS: usize = 5;

/// Same scheme, host and port (a port left out is the scheme's own).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn transport(e: &reqwest::Error) -> Failure {
    let what = if e.is_timeout() {
        "billing did not answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect to billing".to_string()
    } else {
        format!("billing request failed: {}", root_cause(e))
    };
    if e.is_timeout() || e.is_connect() || e.is_request() {
        Failure::Transient(what)
    } else {
        Failure::Final(what)
    }
}

/// The innermost cause, which says what happened without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("url")
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let base = url("https://billing.example/v1/balance?n=79001112233");
        assert!(same_origin(&base, &url("https://billing.example/v2/balance")));
        assert!(same_origin(&base, &url("https://BILLING.example:443/x")));
        assert!(!same_origin(&base, &url("http://billing.example/v1/balance")));
        assert!(!same_origin(&base, &url("https://billing.example:8443/v1")));
        assert!(!same_origin(&base, &url("https://evil.example/v1/balance")));
        assert!(!same_origin(&base, &url("https://billing.example.evil/v1")));
        let lo = url("http://127.0.0.1:8080/b");
        assert!(!same_origin(&lo, &url("http://127.0.0.1:8081/b")));
        assert!(!same_origin(&lo, &url("http://localhost:8080/b")));
    }
}
