//! Issue 18, the wire's part: what a hostile AMI server, billing server or
//! event feed sends cannot grow a generator's memory, reach another origin
//! or flood its log. Real servers on loopback, the real binary.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The AMI flood: 32 MiB, five times that in memory when it was all kept.
const FLOOD: usize = 32 << 20;
/// A generator's peak with the flood bounded: a debug build's own size,
/// plus the 2 MiB kept while waiting (measured: see the commit).
const PEAK_KIB: u64 = 48 * 1024;

/// Peak resident memory of a live process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// An AMI server that answers a Login only after `flood` bytes of events
/// for another channel, sent on that connection and any earlier ones the
/// client gave up on (it waits 5 s for a Login answer, then reconnects);
/// then it answers every action with Success and keeps the connection
/// open. `done` is set once the whole flood was written.
fn flooding_ami(flood: usize, done: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let event = "Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: Local/900@flood-00000001;2\r\n\
                 Context: flood\r\nExtension: 900\r\nPriority: 1\r\nApplication: Wait\r\n\
                 AppData: 1\r\nUniqueid: 1795452376.99\r\n\r\n";
    let mut block = Vec::new();
    while block.len() < 64 * 1024 {
        block.extend_from_slice(event.as_bytes());
    }
    std::thread::spawn(move || {
        let mut sent = 0;
        for conn in listener.incoming().take(100) {
            let Ok(mut sock) = conn else { return };
            sock.write_all(b"Asterisk Call Manager/11.0.0\r\n").ok();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let mut answered = 0usize;
            'session: loop {
                let n = match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).into_owned();
                let actions: Vec<&str> = text
                    .split("\r\n\r\n")
                    .filter(|a| a.contains("ActionID: "))
                    .collect();
                for action in &actions[answered..] {
                    let id = action
                        .lines()
                        .find_map(|l| l.strip_prefix("ActionID: "))
                        .unwrap_or("");
                    if action.starts_with("Action: Login") {
                        while sent < flood {
                            if sock.write_all(&block).is_err() {
                                break 'session;
                            }
                            sent += block.len();
                        }
                        done.store(true, Ordering::SeqCst);
                    }
                    let reply = format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n");
                    if sock.write_all(reply.as_bytes()).is_err() {
                        break 'session;
                    }
                }
                answered = actions.len();
            }
        }
    });
    port
}

#[test]
fn a_flood_of_events_before_the_login_answer_keeps_memory_bounded() {
    // Issue 18, finding 10: 100 MB of events before a Login answer grew a
    // generator to 0.5 GB; what is read while waiting is now bounded.
    let dir = tempdir();
    let done = Arc::new(AtomicBool::new(false));
    let port = flooding_ami(FLOOD, done.clone());
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["run", "--ami", &format!("127.0.0.1:{port}")])
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let reader = drain(&mut child);
    // Generous: the flood is read and decoded on a loaded machine.
    let started = Instant::now();
    while !(done.load(Ordering::SeqCst) && log_text(dir.path()).contains("AMI logged in")) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the flood was not read, or no login followed:\n{}",
            log_text(dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = peak_rss_kib(child.id());
    signal(&child, libc::SIGTERM);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    let audio = reader.join().expect("reader");
    assert!(status.success(), "{status:?}");
    let log = log_text(dir.path());
    eprintln!("peak RSS {peak} KiB after a {} MiB flood", FLOOD >> 20);
    assert!(peak < PEAK_KIB, "peak RSS {peak} KiB:\n{log}");
    assert!(
        audio.len() >= 320 * 25,
        "the stream went on during the flood: {} bytes",
        audio.len()
    );
    assert!(log.contains("dropped while waiting"), "{log}");
}
