//! The hub answering Asterisk's realtime class lookups (res_config_curl):
//! the captured request gets a row whose `application`, split the way
//! Asterisk splits it, starts holdmix for that call; anything else gets an
//! empty answer (Asterisk then falls back to `[default]`); nothing a caller
//! controls reaches the argv.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The first lookup of REALTIME-AND-RESPAWN.md, byte for byte.
pub(crate) const CAPTURED: &[u8] = b"POST /moh/single HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUser-Agent: asterisk-libcurl-agent/1.0\r\nAccept: */*\r\nContent-Length: 25\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nname=holdmix-1795734025.1";

pub(crate) fn lookup(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /moh/single HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUser-Agent: asterisk-libcurl-agent/1.0\r\nAccept: */*\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

struct Hub {
    child: Child,
    port: u16,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A hub answering lookups, with its AMI pointed at `ami` (a server that
/// may or may not be there: rows do not need AMI).
fn hub(dir: &Path, ami: &str) -> Hub {
    hub_with(dir, ami, &[])
}

/// [`hub`] with more of the hub's arguments.
fn hub_with(dir: &Path, ami: &str, extra: &[&str]) -> Hub {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // The cache through the environment, not `--cache-dir`: the row's
    // application must fit Asterisk's 255 bytes with this test's long
    // paths, a 64-character Uniqueid and the call's token.
    let child = std::process::Command::new(BIN)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .arg("--log")
        .arg(dir.join("hub.log"))
        .args(["hub", "--ami", ami, "--socket"])
        .arg(dir.join("hub.sock"))
        .args(["--realtime", &format!("127.0.0.1:{port}"), "--playlist"])
        .arg(root().join("playlists/demo.toml"))
        .args(extra)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    // Bounded wait for the listener.
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "the hub never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    Hub { child, port }
}

/// Sends requests on one keep-alive connection, as Asterisk does per
/// channel; returns each answer's status and body.
pub(crate) fn ask(port: u16, requests: &[Vec<u8>]) -> Vec<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut answers = Vec::new();
    for req in requests {
        if s.write_all(req).is_err() {
            break;
        }
        let mut status = String::new();
        if r.read_line(&mut status).unwrap_or(0) == 0 {
            break;
        }
        let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut len = 0;
        for _ in 0..20 {
            let mut h = String::new();
            r.read_line(&mut h).expect("header");
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("body");
        answers.push((code, String::from_utf8(body).expect("utf-8")));
    }
    answers
}

/// The row as res_config_curl reads it: the first line, `&`-separated
/// pairs, `%XX` decoded (a `+` stays a `+`), keys lower-cased, empty
/// values dropped.
pub(crate) fn parse_row(body: &str) -> Vec<(String, String)> {
    let line = body.split(['\r', '\n']).next().unwrap_or("").trim_end();
    line.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let v = percent_decode(v);
            (!v.is_empty()).then(|| (percent_decode(k).to_ascii_lowercase(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Asterisk's argv: the application split on single spaces.
pub(crate) fn argv(row: &[(String, String)]) -> Vec<String> {
    let app = &row
        .iter()
        .find(|(k, _)| k == "application")
        .expect("application")
        .1;
    app.split(' ').map(str::to_string).collect()
}

fn expected_argv(dir: &Path, uniqueid: &str) -> Vec<String> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .expect("absolute")
            .to_string_lossy()
            .into_owned()
    };
    vec![
        abs(Path::new(BIN)),
        "run".into(),
        "-H".into(),
        abs(&dir.join("hub.sock")),
        "-p".into(),
        abs(&root().join("playlists/demo.toml")),
        "-u".into(),
        uniqueid.into(),
        "-t".into(),
        holdmix::hub::token::Key::load_or_create(&dir.join("hub.key"))
            .expect("the hub's key")
            .token(uniqueid),
    ]
}

#[test]
fn the_captured_lookup_gets_a_row_that_starts_holdmix_for_that_call() {
    let dir = tempdir();
    let h = hub(dir.path(), "127.0.0.1:1");
    // Bob's six lookups went over one connection.
    let answers = ask(h.port, &vec![CAPTURED.to_vec(); 6]);
    assert_eq!(answers.len(), 6);
    for (code, body) in &answers {
        assert_eq!(*code, 200);
        let row = parse_row(body);
        let get = |k: &str| row.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("name"), Some("holdmix-1795734025.1"));
        assert_eq!(get("mode"), Some("custom"));
        assert_eq!(get("format"), Some("slin"));
        let args = argv(&row);
        assert_eq!(args, expected_argv(dir.path(), "1795734025.1"));
        assert!(get("application").is_some_and(|a| a.len() <= 255));
    }
}

#[test]
fn unknown_hostile_empty_and_huge_lookups_get_an_empty_answer() {
    let dir = tempdir();
    let h = hub(dir.path(), "127.0.0.1:1");
    let hostile = [
        b"name=default".to_vec(),
        b"name=programmable".to_vec(),
        b"name=holdmix-".to_vec(),
        b"name=holdmix-1795734025.1%20--playlist%20/etc/passwd".to_vec(),
        b"name=holdmix-1795734025.1&name=holdmix-2".to_vec(),
        b"name=holdmix-1%0Aapplication=/bin/sh".to_vec(),
        b"name=holdmix-1795734025.1%26application%3D%2Fbin%2Fsh".to_vec(),
        b"name=holdmix-..%2F..%2Fetc".to_vec(),
        // `--uniqueid -q`: a generator that cannot start (finding 11).
        b"name=holdmix--q".to_vec(),
        b"name=holdmix---help".to_vec(),
        b"name=holdmix-_1".to_vec(),
        format!("name=holdmix-{}", "7".repeat(4096 - 13)).into_bytes(),
        b"position%20%3E%3D=0&name=plist-1795734083.16".to_vec(),
        Vec::new(),
    ];
    let requests: Vec<Vec<u8>> = hostile.iter().map(|b| lookup(b)).collect();
    let answers = ask(h.port, &requests);
    assert_eq!(
        answers.len(),
        hostile.len(),
        "the connection stays up for well-formed requests"
    );
    for ((code, body), req) in answers.iter().zip(&hostile) {
        assert_eq!(
            (*code, body.as_str()),
            (200, ""),
            "{}",
            String::from_utf8_lossy(req)
        );
    }
    // A 64 KiB body: empty answer, connection closed, and the hub lives on.
    let mut big = lookup(&vec![b'a'; 64 * 1024]);
    big.truncate(big.len());
    let answers = ask(h.port, &[big, CAPTURED.to_vec()]);
    assert_eq!(answers[0], (200, String::new()));
    assert_eq!(ask(h.port, &[CAPTURED.to_vec()]).len(), 1, "still answering");
    // Another path (the playlist-entry lookup) and another method.
    let multi = b"POST /mohentry/multi HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nposition%20%3E%3D=0&name=plist-1795734083.16".to_vec();
    let get = b"GET /moh/single?name=holdmix-1795734025.1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    for (code, body) in ask(h.port, &[multi, get]) {
        assert_eq!((code, body.as_str()), (200, ""));
    }
}

#[test]
fn caller_controlled_text_never_reaches_the_argv() {
    row_from_hostile_ami_streams(false);
}

/// With hub-mode audio the row starts `holdmix-shim` (beside `holdmix`)
/// with the same arguments, and that process hands its pipe to the hub.
#[test]
fn an_audio_hubs_rows_start_the_shim_which_hands_the_call_over() {
    row_from_hostile_ami_streams(true);
}

fn row_from_hostile_ami_streams(audio: bool) {
    // The hub follows AMI, where callers' names and numbers are theirs to
    // set: spaces, &, %, =, newlines, 4 KB. The row is built from the
    // Uniqueid alone, so the argv is exactly the same.
    let dir = tempdir();
    let evil = format!("Robert & co %20 a=b {}", "x".repeat(4000));
    let newchannel = format!(
        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/evil-00000001\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 7900 & --playlist /etc/passwd\r\nCallerIDName: {evil}\r\nUniqueid: 1795734999.5\r\nLinkedid: 1795734999.5\r\n\r\n"
    );
    let ami = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ami_port = ami.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = ami.accept().expect("accept");
        s.write_all(b"Asterisk Call Manager/11.0.0\r\n").ok();
        s.set_read_timeout(Some(Duration::from_millis(500))).ok();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("ActionID: "))
            .unwrap_or("login")
            .to_string();
        s.write_all(
            format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n")
                .as_bytes(),
        )
        .ok();
        s.write_all(newchannel.as_bytes()).ok();
        std::thread::sleep(Duration::from_secs(2));
    });
    let h = hub_with(
        dir.path(),
        &format!("127.0.0.1:{ami_port}"),
        if audio { &["--audio"] } else { &[] },
    );
    std::thread::sleep(Duration::from_millis(500));
    let answers = ask(h.port, &[lookup(b"name=holdmix-1795734999.5")]);
    let args = argv(&parse_row(&answers[0].1));
    let mut expected = expected_argv(dir.path(), "1795734999.5");
    if audio {
        let shim = Path::new(BIN).with_file_name("holdmix-shim");
        expected.splice(
            0..2,
            [std::path::absolute(shim)
                .expect("absolute")
                .to_string_lossy()
                .into_owned()],
        );
    }
    assert_eq!(args, expected);
    // And that argv, run as Asterisk runs it (execv, no shell), streams.
    let mut generator = std::process::Command::new(&args[0])
        .args(&args[1..])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("XDG_RUNTIME_DIR", dir.path().join("runtime"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("exec the row's application");
    // Three quarters of a second of the stream's own time (a loaded
    // machine may take longer to start the process and hand the call over).
    let (bytes, reader) = counted_drain(&mut generator);
    wait_for_stream(&mut generator, &bytes, 12_000, Duration::from_secs(30));
    signal(&generator, libc::SIGHUP);
    let (status, _) = wait_exit(&mut generator, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let pcm = reader.join().expect("reader");
    assert!(pcm.len() >= 12_000, "{} bytes in 30 s", pcm.len());
    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default();
    assert_eq!(log.contains("hand-over taken"), audio, "{log}");
    server.join().ok();
}
