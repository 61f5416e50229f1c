//! The test's plan server: plain HTTP/1.1 on loopback, answering each
//! request with the next reply of its script (the last one over and over),
//! well or badly (slow, dripping, cut short, reset, garbage, huge), and
//! keeping what it was sent and when.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub(crate) enum Reply {
    Json(u16, String),
    /// These bytes as they are (a head and what follows), then close.
    Raw(Vec<u8>),
    /// Reads the request, then resets the connection.
    Reset,
    /// Answers after a delay.
    Slow(Duration, String),
    /// A 200 whose body comes a byte every `Duration`.
    Drip(Duration, String),
}

pub(crate) struct Seen {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
}

pub(crate) struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub(crate) fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            // Bounded: a test makes a handful of connections.
            for conn in listener.incoming().take(200) {
                let Ok(conn) = conn else { break };
                let log = log.clone();
                let script = script.clone();
                std::thread::spawn(move || serve(conn, &script, &log));
            }
        });
        Server { port, seen }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/plan", self.port)
    }

    /// The bodies of the requests so far, in order.
    pub(crate) fn bodies(&self) -> Vec<serde_json::Value> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|s| s.body.clone())
            .collect()
    }

    pub(crate) fn seen_headers(&self) -> Vec<Vec<(String, String)>> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|s| s.headers.clone())
            .collect()
    }
}

fn serve(conn: TcpStream, script: &[Reply], log: &Mutex<Vec<Seen>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut r = BufReader::new(conn.try_clone().expect("clone"));
    // Keep-alive: one connection may carry several requests.
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (headers, body) = crate::billing::server::head_and_body(&mut r);
        let reply = {
            let mut l = log.lock().expect("lock");
            l.push(Seen {
                headers,
                body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            });
            script[(l.len() - 1).min(script.len() - 1)].clone()
        };
        let mut w = conn.try_clone().expect("clone");
        let head = |status: u16, len: usize| {
            format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
        };
        match reply {
            Reply::Json(status, body) => {
                w.write_all(head(status, body.len()).as_bytes()).ok();
                w.write_all(body.as_bytes()).ok();
            }
            Reply::Slow(d, body) => {
                std::thread::sleep(d);
                w.write_all(head(200, body.len()).as_bytes()).ok();
                w.write_all(body.as_bytes()).ok();
            }
            Reply::Drip(d, body) => {
                w.write_all(head(200, body.len()).as_bytes()).ok();
                for b in body.bytes() {
                    if w.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(d);
                }
            }
            Reply::Raw(bytes) => {
                w.write_all(&bytes).ok();
                return;
            }
            Reply::Reset => {
                reset(&w);
                return;
            }
        }
    }
}

/// Closes with a RST: SO_LINGER on, zero seconds.
fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a linger struct of the
    // size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const l).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
