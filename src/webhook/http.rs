//! One ask over HTTP(S): a POST of the ask's JSON, the auth header from its
//! secret, and the answer read to at most [`MAX_BODY`] within one deadline
//! for the whole exchange (a server that drips its answer a byte at a time
//! is cut off at it). Redirects are not followed and no `Referer` is sent:
//! what the ask carries goes to the configured origin only. Errors name
//! neither the URL nor the header.

use super::answer::{self, MAX_BODY, PlanAnswer};
use super::config::PlanConfig;

/// A client for the whole call: connections are kept alive between asks.
pub fn client(cfg: &PlanConfig) -> Result<reqwest::Client, String> {
    crate::util::http::client(cfg.timeout, "plan")
}

/// Asks once. `Err` says why (for the log).
pub async fn ask(client: &reqwest::Client, cfg: &PlanConfig, body: Vec<u8>) -> PlanAnswer {
    let header = cfg.header_value()?;
    // reqwest's own timeout covers the body too; this one is the bound the
    // docs promise, whatever the client does.
    match tokio::time::timeout(cfg.timeout, fetch(client, cfg, header, body)).await {
        Ok(Ok(bytes)) => answer::parse(&bytes),
        Ok(Err(why)) => Err(why),
        Err(_) => Err(format!(
            "the plan server did not answer within {} ms",
            cfg.timeout.as_millis()
        )),
    }
}

async fn fetch(
    client: &reqwest::Client,
    cfg: &PlanConfig,
    header: Option<(String, String)>,
    body: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let mut req = client
        .post(&cfg.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    if let Some((name, value)) = header {
        let mut v = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| "the plan's auth secret is not a valid header value".to_string())?;
        // Kept out of reqwest's debug output.
        v.set_sensitive(true);
        req = req.header(name, v);
    }
    let mut resp = req.send().await.map_err(|e| transport(&e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(format!(
            "the plan server answered {status}: redirects are not followed"
        ));
    }
    if !status.is_success() {
        return Err(format!("the plan server answered {status}"));
    }
    let over = || format!("the answer is over {} KiB", MAX_BODY / 1024);
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(over());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(over());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the plan server did not answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect to the plan server".to_string()
    } else {
        let mut cur: &(dyn std::error::Error + 'static) = e;
        while let Some(next) = cur.source() {
            cur = next;
        }
        format!("the plan request failed: {cur}")
    }
}
