//! The HTTP client every outbound request uses (billing lookups, hold-plan
//! asks): one per call, kept alive between requests, rustls with ring, a
//! deadline on the whole exchange, and nothing that would send a request
//! (or its headers) somewhere the operator did not name: no redirects
//! followed, no `Referer`.

use std::time::Duration;

/// `what`: the client's job, for the error (e.g. "billing").
pub fn client(timeout: Duration, what: &str) -> Result<reqwest::Client, String> {
    // ring, chosen in Cargo.toml; a second call finds it installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("holdmix/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|e| format!("cannot set up the {what} client: {}", e.without_url()))
}
