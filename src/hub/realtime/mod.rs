//! Asterisk's realtime lookups of music-on-hold classes, answered by the
//! hub over HTTP for `res_config_curl`: `POST <path>/single` with body
//! `name=<class>` gets the row of a per-call class (see `row`; the class
//! name read in `class`, the call's route from the routes file, reloaded
//! in `watch`), anything else an empty answer (Asterisk then falls back
//! to `[default]`).
//!
//! The channel's own thread waits for the answer, so it comes from memory
//! at once. Asterisk keeps one HTTP/1.1 connection per channel for the
//! whole call; each gets a thread with a small stack, and their number is
//! bounded.
//!
//! The HTTP is hand-written: requests have one fixed shape (a few headers,
//! a form body of one field), every size is bounded, and the hub stays
//! free of an async server stack for it.

pub mod class;
pub mod route_log;
pub mod row;
pub mod watch;

use crate::routes::Routes;
use row::{FactsFn, RowTemplate};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Request line plus headers.
const MAX_HEAD: usize = 8 * 1024;
/// A `name=` body is tens of bytes; anything over this is not Asterisk's.
const MAX_BODY: usize = 4 * 1024;
const MAX_CONNECTIONS: usize = 4096;
/// Asterisk holds a connection for as long as the channel lives.
const IDLE: Duration = Duration::from_secs(4 * 3600);

pub struct RealtimeConfig {
    pub listen: String,
    /// The extconfig URL's path, e.g. `/moh`.
    pub path: String,
    pub template: RowTemplate,
    /// `--timeline-dir`: each call's route is noted in its timeline.
    pub timelines: Option<crate::run::timeline_file::TimelineDir>,
}

/// The routes a hub serves: a routes file's (watched for new versions)
/// or `--playlist`'s one default route.
pub struct Served {
    pub routes: Routes,
    pub file: Option<std::path::PathBuf>,
}

/// [`spawn`], each row with its call's route from `served`, picked by the
/// class name or by what `facts` (the hub's AMI memory) says of the call.
pub fn spawn_routed(
    mut cfg: RealtimeConfig,
    key: Arc<crate::hub::token::Key>,
    served: Served,
    facts: FactsFn,
    picked: route_log::RouteLogFn,
) -> anyhow::Result<std::net::SocketAddr> {
    let shared = Arc::new(std::sync::RwLock::new(Arc::new(served.routes)));
    cfg.template = cfg
        .template
        .with_key(key.clone())
        .and_then(|t| t.with_routes(shared.clone(), facts))
        .map_err(anyhow::Error::msg)?;
    // Each route picked goes to the hub's table (for the control socket)
    // and, with timelines, to the call's timeline.
    let log = match (cfg.timelines.clone(), &served.file) {
        (Some(dir), Some(_)) => Some(route_log::spawn(dir)?),
        _ => None,
    };
    cfg.template = cfg
        .template
        .with_route_log(Arc::new(move |uniqueid: &str, route: &str| {
            picked(uniqueid, route);
            if let Some(log) = &log {
                log(uniqueid, route);
            }
        }));
    if let Some(file) = served.file {
        let template = cfg.template.clone();
        watch::spawn(file, shared, move |r| template.check_routes(r))?;
    }
    spawn(cfg, key)
}

/// Binds and serves in background threads; returns the bound address.
/// Each row carries its call's token under the hub's `key`.
pub fn spawn(
    mut cfg: RealtimeConfig,
    key: Arc<crate::hub::token::Key>,
) -> anyhow::Result<std::net::SocketAddr> {
    cfg.template = cfg.template.with_key(key).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(&cfg.listen).map_err(|e| anyhow::anyhow!("{}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let cfg = Arc::new(cfg);
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("realtime".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors, most likely: wait rather than spin.
                        tracing::warn!("realtime: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    tracing::warn!("realtime: {MAX_CONNECTIONS} connections open; refusing one");
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let (cfg, open) = (cfg.clone(), open.clone());
                let spawned = std::thread::Builder::new()
                    .name("realtime-conn".into())
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        serve(conn, &cfg);
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    tracing::warn!("realtime: cannot start a connection thread");
                }
            }
        })?;
    Ok(addr)
}

/// One keep-alive connection: requests until the peer closes or misbehaves.
fn serve(conn: TcpStream, cfg: &RealtimeConfig) {
    conn.set_read_timeout(Some(IDLE)).ok();
    conn.set_nodelay(true).ok();
    // Both halves through references: one descriptor per connection.
    let mut reader = BufReader::new(&conn);
    let mut out = &conn;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(why) => {
                // Not Asterisk's: an empty answer, and the connection ends.
                tracing::debug!("realtime: {why}");
                respond(&mut out, "", true);
                return;
            }
        };
        let started = Instant::now();
        let body = answer(&request, cfg);
        crate::metrics::get().realtime_lookup(!body.is_empty(), started.elapsed());
        let close = request.close;
        if !respond(&mut out, &body, close) || close {
            return;
        }
        tracing::debug!(
            us = started.elapsed().as_micros() as u64,
            found = !body.is_empty(),
            "realtime lookup"
        );
    }
}

struct Request {
    method: String,
    target: String,
    body: Vec<u8>,
    close: bool,
}

fn read_request(r: &mut BufReader<&TcpStream>) -> Result<Option<Request>, String> {
    let mut head = Vec::new();
    // Headers, line by line, within MAX_HEAD in all.
    loop {
        let before = head.len();
        let n = (&mut *r)
            .take((MAX_HEAD - head.len()) as u64 + 1)
            .read_until(b'\n', &mut head)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err("connection closed in a request".into())
            };
        }
        if head.len() > MAX_HEAD {
            return Err("request head over 8 KiB".into());
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                // Stray blank line between requests: ignore it.
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, target, version) = (
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or(""),
    );
    let mut length = 0usize;
    let mut close = version != "HTTP/1.1";
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse().map_err(|_| "bad Content-Length")?;
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked bodies are not Asterisk's".into());
        }
    }
    if length > MAX_BODY {
        return Err(format!("a {length}-byte body"));
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(Some(Request {
        method,
        target,
        body,
        close,
    }))
}

/// The row for a `/single` lookup of a per-call class; empty otherwise.
fn answer(req: &Request, cfg: &RealtimeConfig) -> String {
    if req.method != "POST" || req.target != format!("{}/single", cfg.path) {
        return String::new();
    }
    let Ok(body) = std::str::from_utf8(&req.body) else {
        return String::new();
    };
    let mut name = None;
    for pair in body.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if crate::util::percent::decode(k).is_some_and(|k| k.eq_ignore_ascii_case("name")) {
            if name.is_some() {
                // Two names: not a lookup Asterisk makes.
                return String::new();
            }
            name = crate::util::percent::decode(v);
        } else {
            // res_config_curl sends only `name` for a class lookup.
            return String::new();
        }
    }
    name.and_then(|n| cfg.template.row(&n)).unwrap_or_default()
}

fn respond(out: &mut &TcpStream, body: &str, close: bool) -> bool {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    );
    out.write_all(head.as_bytes())
        .and_then(|_| out.write_all(body.as_bytes()))
        .is_ok()
}
