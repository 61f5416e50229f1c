//! Asterisk's manager going away under a standalone `run --ami`: the
//! server is killed (its listener and connection closed, so reconnects are
//! refused) and a new one starts on the same port seconds later. What it
//! sends after the restart must reach the call, the music must not stop,
//! and the loss is one log line however many reconnects were refused.

use crate::common::*;
use holdmix::ami::codec::{Decoder, Item};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const BOB: &str = "Local/200@test-00000001;2";

/// The messages of the byte-exact transcript, each as it goes on the wire.
fn transcript() -> Vec<String> {
    let raw = std::fs::read(root().join("tests/ami/session-queue-dtmf.raw")).expect("transcript");
    String::from_utf8_lossy(&raw)
        .split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .map(|m| format!("{m}\r\n\r\n"))
        .collect()
}

/// The first transcript event starting with `head` and containing `has`.
fn event(all: &[String], head: &str, has: &str) -> String {
    all.iter()
        .find(|m| m.starts_with(head) && m.contains(has))
        .unwrap_or_else(|| panic!("no {head} with {has:?} in the transcript"))
        .clone()
}

/// Alice's key `digit` as Bob pressed it: Asterisk's own DTMFEnd with
/// Bob's channel and ids (the capture has keys from Alice only).
fn bob_key(all: &[String], digit: &str) -> String {
    event(all, "Event: DTMFEnd", &format!("Digit: {digit}\r\n"))
        .replace("Local/200@test-00000000;2", BOB)
        .replace("1795452414.1", "1795452415.3")
        .replace("1795452414.0", "1795452415.2")
        .replace("79001112233", "79004445566")
        .replace("Alice", "Bob")
}

/// One Asterisk lifetime on `listener`: accepts one client, answers its
/// actions as Asterisk does (Login, Filter, Getvar, Setvar, QueueStatus as
/// an empty list) and, once it has logged in and been answered, sends
/// `events` 10 ms apart. Runs until `until` says so or the client leaves;
/// then everything is dropped, as a killed Asterisk drops it.
fn asterisk(listener: TcpListener, events: Vec<String>, until: impl Fn() -> bool) {
    listener.set_nonblocking(true).expect("nonblocking");
    let started = Instant::now();
    let mut sock = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no client came: {e}"),
        }
    };
    sock.set_nonblocking(false).expect("blocking");
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    sock.write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .expect("banner");
    let mut decoder = Decoder::new();
    let mut events = events.into_iter();
    let mut logged_in = false;
    while !until() && started.elapsed() < Duration::from_secs(60) {
        let mut buf = [0u8; 4096];
        let mut items = Vec::new();
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => decoder.feed(&buf[..n], &mut items),
            Err(_) => {}
        }
        for item in items {
            let Item::Message(m) = item else { continue };
            let id = m.get("ActionID").unwrap_or("");
            let reply = match m.get("Action").unwrap_or("") {
                "Login" => {
                    logged_in = true;
                    format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n")
                }
                "Getvar" => {
                    let var = m.get("Variable").unwrap_or("");
                    let value = if var == "CHANNEL(onhold)" { "1" } else { "" };
                    format!(
                        "Response: Success\r\nActionID: {id}\r\nVariable: {var}\r\nValue: {value}\r\n\r\n"
                    )
                }
                "QueueStatus" => format!(
                    "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
                     Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                ),
                _ => format!("Response: Success\r\nActionID: {id}\r\nMessage: Success\r\n\r\n"),
            };
            if sock.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
        if logged_in && let Some(e) = events.next() {
            if sock.write_all(e.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Binds `port` again (the killed server's port), retrying briefly.
fn rebind(port: u16) -> TcpListener {
    let started = Instant::now();
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("rebind {port}: {e}"),
        }
    }
}

/// Whether the timeline at `path` has `kind` entries already.
fn seen(path: &std::path::Path, kind: &str, n: usize) -> bool {
    path.exists() && events(&timeline(path), kind).len() >= n
}

#[test]
fn an_ami_server_killed_and_restarted_loses_the_call_nothing() {
    let dir = tempdir();
    let tl = dir.path().join("tl.jsonl");
    let all = transcript();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Before the kill: Alice and Bob join the queue (Bob second) and Bob
    // presses 1.
    let before = vec![
        event(&all, "Event: QueueCallerJoin", "Alice"),
        event(&all, "Event: QueueCallerJoin", "Bob"),
        bob_key(&all, "1"),
    ];
    write_wav(
        &dir.path().join("tone.wav"),
        8000,
        1,
        &sine(440.0, 0.5, 30.0, 8000),
    );
    let pl = playlist(dir.path(), "p.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    warm_cache(dir.path(), &pl);
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["run", "--ami", &format!("127.0.0.1:{port}"), "--channel", BOB])
        .arg("--playlist")
        .arg(&pl)
        .arg("--timeline")
        .arg(&tl)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let (count, reader) = counted_drain(&mut child);
    let tl_first = tl.clone();
    let first = std::thread::spawn(move || asterisk(listener, before, || seen(&tl_first, "dtmf", 1)));
    first.join().expect("first server");
    // Killed: nothing listens on the port for 2.5 s (every reconnect in
    // that time is refused), then a new Asterisk starts there.
    std::thread::sleep(Duration::from_millis(2500));
    // And not before the call itself has streamed past 2.5 s (the exit's
    // stream time below): a loaded machine's stream lags the wall clock.
    heard_reaches(&mut child, &count, &tl, 2_600 * 16, || {
        format!("during the outage:\n{}", log_text(dir.path()))
    });
    let listener = rebind(port);
    // After the restart: Alice leaves (Bob moves up to 1), Bob presses 2,
    // then his call hangs up, which ends the run.
    let after = vec![
        event(&all, "Event: QueueCallerLeave", "Alice"),
        bob_key(&all, "2"),
        event(&all, "Event: Hangup", "Channel: Local/200@test-00000001;2\r\n"),
    ];
    let second = std::thread::spawn(move || asterisk(listener, after, || false));
    let (status, _) = wait_exit(&mut child, Duration::from_secs(30));
    second.join().expect("second server");
    assert!(status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl);
    let log = log_text(dir.path());

    // What came after the restart took effect, in order.
    let digits: Vec<&str> = events(&tl, "dtmf")
        .iter()
        .map(|e| e["digit"].as_str().expect("digit"))
        .collect();
    assert_eq!(digits, ["1", "2"], "{tl:?}\n{log}");
    let positions: Vec<u64> = events(&tl, "position")
        .iter()
        .map(|e| e["value"].as_u64().expect("value"))
        .collect();
    assert_eq!(positions, [2, 1], "{tl:?}");
    assert_eq!(events(&tl, "exit")[0]["reason"], "hangup");

    // The music never stopped: everything the stream's clock covered was
    // read (within the lead), nothing skipped, nothing dropped.
    let exit_t = events(&tl, "exit")[0]["t"].as_f64().expect("t");
    assert!(exit_t > 2.5, "stream time at exit {exit_t}");
    let heard = audio.len() as f64 / 16_000.0;
    assert!(
        heard >= exit_t - 0.25,
        "{heard:.2} s read of {exit_t:.2} s streamed"
    );
    assert!(
        !log.contains("skipping to the present") && !log.contains("dropping audio"),
        "{log}"
    );
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let quietest = pcm
        .chunks(8000)
        .map(|s| tone_amplitude(s, 440.0, 8000))
        .fold(f32::MAX, f32::min);
    assert!(quietest > 0.05, "a second without the tone: {quietest}");

    // The loss is one line, however many reconnects were refused.
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("AMI"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("AMI connection closed"), "{warnings:?}");
    assert_eq!(log.matches("AMI logged in").count(), 2, "{log}");
}
