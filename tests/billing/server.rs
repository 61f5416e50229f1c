//! The test's billing server: plain HTTP/1.1 on loopback, answering every
//! request as told (JSON, a hang, a huge body, a slow reply, a credentials
//! check) and keeping what it was sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the test server answers.
#[derive(Clone)]
pub(super) enum Reply {
    Json(u16, String),
    /// Reads the request and never answers (closes after 5 s).
    Hang,
    /// A body of this many bytes, with or without Content-Length.
    Big(usize, bool),
    /// Answers after a delay.
    Slow(Duration, String),
    /// 200 with this body when the Authorization header is exactly this, else 401.
    Auth(String, String),
}

#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
}

pub(super) struct Server {
    pub(super) port: u16,
    pub(super) seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub(super) fn start(reply: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            // Bounded: a test makes a handful of connections.
            for conn in listener.incoming().take(64) {
                let Ok(conn) = conn else { break };
                let (reply, log) = (reply.clone(), log.clone());
                std::thread::spawn(move || serve(conn, &reply, &log));
            }
        });
        Server { port, seen }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve(conn: TcpStream, reply: &Reply, log: &Mutex<Vec<Seen>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut r = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (headers, body) = head_and_body(&mut r);
    let seen = Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.lock().expect("lock").push(seen.clone());
    let mut w = conn;
    let send = |w: &mut TcpStream, status: u16, body: &str| {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        w.write_all(head.as_bytes()).ok();
        w.write_all(body.as_bytes()).ok();
    };
    match reply {
        Reply::Json(status, body) => send(&mut w, *status, body),
        Reply::Hang => std::thread::sleep(Duration::from_secs(5)),
        Reply::Slow(d, body) => {
            std::thread::sleep(*d);
            send(&mut w, 200, body);
        }
        Reply::Auth(expected, body) => {
            let got = seen
                .headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.as_str());
            if got == Some(expected.as_str()) {
                send(&mut w, 200, body);
            } else {
                send(&mut w, 401, "{}");
            }
        }
        Reply::Big(size, with_length) => {
            let head = if *with_length {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string()
            };
            w.write_all(head.as_bytes()).ok();
            let chunk = vec![b' '; 64 * 1024];
            let mut left = *size;
            while left > 0 {
                let n = left.min(chunk.len());
                let ok = if *with_length {
                    w.write_all(&chunk[..n])
                } else {
                    w.write_all(format!("{n:x}\r\n").as_bytes())
                        .and_then(|_| w.write_all(&chunk[..n]))
                        .and_then(|_| w.write_all(b"\r\n"))
                };
                if ok.is_err() {
                    return; // holdmix gave up reading: what the test wants
                }
                left -= n;
            }
            if !*with_length {
                w.write_all(b"0\r\n\r\n").ok();
            }
        }
    }
}

/// A request's headers (names lower-cased, at most 100) and its body (by
/// `Content-Length`, at most 64 KiB), read after its request line.
pub(crate) fn head_and_body(r: &mut impl BufRead) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(1 << 16)];
    r.read_exact(&mut body).ok();
    (headers, body)
}
