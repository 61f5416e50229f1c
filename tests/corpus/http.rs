//! Requests to the hub's realtime endpoint (tests/corpus/http): only
//! Asterisk's own lookup of a well-formed per-call class gets a row;
//! anything else an empty answer, a malformed request a closed connection
//! with its reason in the debug log; and the hub answers on throughout.

use super::{Case, bytes, cases};
use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A hub answering lookups at the returned port, logging at debug level.
fn hub(dir: &Path) -> (Hub, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(BIN)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("HOLDMIX_AMI_SECRET", "pw")
        .arg("-v")
        .arg("--log")
        .arg(dir.join("hub.log"))
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(dir.join("hub.sock"))
        .args(["--realtime", &format!("127.0.0.1:{port}"), "--playlist"])
        .arg(root().join("playlists/demo.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let hub = Hub(child);
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "the hub never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    (hub, port)
}

/// The case's request, its `{len}` made the body's length.
fn request(case: &Case) -> Vec<u8> {
    let raw = bytes("http", case);
    let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return raw;
    };
    let head = String::from_utf8_lossy(&raw[..at]).replace("{len}", &(raw.len() - at - 4).to_string());
    [head.as_bytes(), &raw[at..]].concat()
}

/// Reads one answer: (status, whether it says `Connection: close`, body).
fn answer(r: &mut BufReader<TcpStream>) -> (u16, bool, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (mut len, mut close) = (0, false);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header");
        if h.trim().is_empty() {
            break;
        }
        let h = h.to_ascii_lowercase();
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().expect("length");
        }
        close |= h.starts_with("connection: close");
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).expect("body");
    (code, close, String::from_utf8(body).expect("utf-8"))
}

const ROW: &str = "name=holdmix-1795734025.1&mode=custom";

fn captured() -> Vec<u8> {
    std::fs::read(super::dir("http").join("captured-lookup.http")).expect("captured lookup")
}

#[test]
fn every_hostile_realtime_request_gets_an_empty_answer_and_the_hub_answers_on() {
    let tmp = tempdir();
    let (mut hub, port) = hub(tmp.path());
    let all = cases("http");
    for case in &all {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        // The hub may answer and close before it read everything.
        s.write_all(&request(case)).ok();
        let (code, close, body) = answer(&mut r);
        assert_eq!(code, 200, "{}", case.file);
        match case.outcome.as_str() {
            "row" => assert!(body.starts_with(&case.expect), "{}: {body}", case.file),
            "empty" | "refused" => assert_eq!(body, "", "{}", case.file),
            other => panic!("{}: outcome {other}", case.file),
        }
        assert_eq!(close, case.close, "{}: Connection: close", case.file);
        if case.close {
            let mut rest = Vec::new();
            let n = r.read_to_end(&mut rest).unwrap_or(0);
            assert_eq!(n, 0, "{}: the connection was closed", case.file);
        } else {
            // The same connection serves the next lookup, as Asterisk's does.
            s.write_all(&captured()).expect("send");
            let (_, _, body) = answer(&mut r);
            assert!(body.starts_with(ROW), "{}: then {body}", case.file);
        }
    }
    // A new call still gets its row, from the same hub.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(&captured()).expect("send");
    let (_, _, body) = answer(&mut BufReader::new(s));
    assert!(body.starts_with(ROW), "{body}");
    assert!(hub.0.try_wait().expect("try_wait").is_none(), "the hub died");
    // The hub logs through its offload thread: each refusal's line is
    // waited for (bounded), not expected the moment the answer came.
    let log_path = tmp.path().join("hub.log");
    for case in all.iter().filter(|c| c.outcome == "refused") {
        assert!(
            wait_for_text(&log_path, &case.expect, Duration::from_secs(10)),
            "{}: want `{}` in:\n{}",
            case.file,
            case.expect,
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
}
