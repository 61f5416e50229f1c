//! The scrape: `GET /metrics` over HTTP on the hub's `--metrics` address,
//! answered with the OpenMetrics text of [`super::get`]; any other path is
//! a 404, any other method a 405, and the connection ends after each
//! answer.
//!
//! A tiny listener rather than an HTTP server crate: one fixed request,
//! read within [`MAX_REQUEST`] bytes and [`DEADLINE`], its request line
//! and headers parsed by `httparse` (the parser hyper uses, already in the
//! build for reqwest); the hub stays free of an async server stack for
//! it. Each connection has a thread of its own with a small stack, at most
//! [`MAX_CONNECTIONS`] at once: a client that sends nothing, or too much,
//! only ever holds its own thread, and never the hub's others.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A scrape's request line and headers: a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client has to send its request, and to take the answer.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Scrapes served at once (Prometheus sends one at a time).
const MAX_CONNECTIONS: usize = 8;
/// Headers parsed at most (a scrape sends about five).
const MAX_HEADERS: usize = 32;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `listen` (HOST:PORT) and serves scrapes on threads of their
/// own; returns the bound address.
pub fn spawn(listen: &str) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).map_err(|e| anyhow::anyhow!("--metrics {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else {
                    // Out of descriptors, most likely: wait rather than spin.
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    // Closed at once: no thread, no descriptor kept.
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let open = open.clone();
                let spawned = std::thread::Builder::new()
                    .name("metrics-conn".into())
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        serve(conn);
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    tracing::warn!("metrics: cannot start a connection thread");
                }
            }
        })?;
    Ok(addr)
}

/// One request, one answer, then the connection ends.
fn serve(mut conn: TcpStream) {
    let started = Instant::now();
    conn.set_write_timeout(Some(DEADLINE)).ok();
    let (status, body) = match read_head(&mut conn, started) {
        Ok(head) => route(&head),
        Err(Refused::TooLarge) => ("431 Request Header Fields Too Large", String::new()),
        Err(Refused::Gone) => return,
    };
    let kind = if status.starts_with("200") {
        OPENMETRICS
    } else {
        "text/plain; charset=utf-8"
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    if conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body.as_bytes()))
        .is_ok()
    {
        conn.flush().ok();
    }
    conn.shutdown(std::net::Shutdown::Both).ok();
}

enum Refused {
    /// No end of the headers within [`MAX_REQUEST`] bytes.
    TooLarge,
    /// The client left, or took longer than [`DEADLINE`].
    Gone,
}

/// The request's bytes up to the end of its headers.
fn read_head(conn: &mut TcpStream, started: Instant) -> Result<Vec<u8>, Refused> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = DEADLINE.checked_sub(started.elapsed()).ok_or(Refused::Gone)?;
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return Err(Refused::Gone);
        }
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return Err(Refused::Gone),
            Ok(n) => n,
        };
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST {
            return Err(Refused::TooLarge);
        }
    }
}

/// The answer to a whole request head: its status line and body.
fn route(head: &[u8]) -> (&'static str, String) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return ("431 Request Header Fields Too Large", String::new());
        }
        _ => return ("400 Bad Request", String::new()),
    }
    let path = req.path.unwrap_or("");
    // A query string (`?name[]=...`) asks for nothing more here.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match (req.method, path) {
        (Some("GET"), "/metrics") => ("200 OK", super::get().encode()),
        (Some("GET"), _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_answered() {
        let (status, body) = route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "200 OK");
        assert!(body.contains("holdmix_generator_starts_total"), "{body}");
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").0, "200 OK");
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n").0,
            "405 Method Not Allowed"
        );
        assert_eq!(route(b"\x16\x03\x01 hello\r\n\r\n").0, "400 Bad Request");
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            route(format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes()).0,
            "431 Request Header Fields Too Large"
        );
    }
}
