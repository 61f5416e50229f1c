//! The call's state is removed when the call is over (issue 20): a
//! generator SIGHUPed at `MusicOnHoldStop` keeps its checkpoint for a
//! respawn; the hub, seeing the channel's `Hangup` in the byte-exact
//! capture (tests/ami/session-queue-dtmf.raw) from a loopback AMI server,
//! removes that Uniqueid's checkpoints, and no other call's.

use crate::common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Alice's and Bob's held halves (`;2`) in the capture: each has a `Hangup`.
const ALICE_UID: &str = "1795452414.1";
const BOB_UID: &str = "1795452415.3";
/// A call the capture never hangs up.
const OTHER_UID: &str = "1795452499.7";

fn checkpoints(dir: &Path, uniqueid: &str) -> Vec<String> {
    checkpoint_files(dir, Some(uniqueid))
}

/// The capture's events, each as it went on the wire.
fn capture_events(name: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(root().join("tests/ami").join(name)).unwrap();
    String::from_utf8_lossy(&bytes)
        .split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .map(|m| format!("{m}\r\n\r\n").into_bytes())
        .collect()
}

#[test]
fn the_hub_removes_a_calls_checkpoints_at_its_hangup() {
    let dir = tempdir();
    let calls = dir.path().join("calls");
    let calls_arg = calls.to_str().unwrap();
    write_wav(
        &dir.path().join("tone.wav"),
        8000,
        1,
        &sine(440.0, 0.3, 2.0, 8000),
    );
    let list = playlist(dir.path(), "tone.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    // Asterisk's MusicOnHoldStop: each generator SIGHUPed, its checkpoint kept.
    for uid in [ALICE_UID, BOB_UID, OTHER_UID] {
        let mut g = spawn_run(
            dir.path(),
            &[
                "--playlist",
                list.to_str().unwrap(),
                "--uniqueid",
                uid,
                "--state-dir",
                calls_arg,
            ],
        );
        let reader = drain(&mut g);
        let start = Instant::now();
        while checkpoints(&calls, uid).is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20), "{uid}: no checkpoint");
            std::thread::sleep(Duration::from_millis(20));
        }
        // At least one whole snapshot written (one a second, and at once).
        std::thread::sleep(Duration::from_millis(300));
        signal(&g, libc::SIGHUP);
        let (status, _) = wait_exit(&mut g, Duration::from_secs(10));
        assert!(status.success(), "{status:?}");
        reader.join().unwrap();
        assert_eq!(checkpoints(&calls, uid).len(), 1, "{uid}: kept for a respawn");
    }

    // The hub, after the stop, sees the capture: Alice's and Bob's Hangup.
    let (port, server) =
        crate::ami::server::serve_script("pw", vec![capture_events("session-queue-dtmf.raw")]);
    let mut hub = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("hub.log"))
        .args(["-v", "hub", "--ami", &format!("127.0.0.1:{port}"), "--socket"])
        .arg(dir.path().join("hub.sock"))
        .args(["--state-dir", calls_arg])
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !(checkpoints(&calls, ALICE_UID).is_empty() && checkpoints(&calls, BOB_UID).is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "checkpoints still there: {:?}\n{}",
            std::fs::read_dir(&calls)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap();
    assert!(log.contains(&format!("uniqueid={ALICE_UID} removed=1")), "{log}");
    assert_eq!(
        checkpoints(&calls, OTHER_UID).len(),
        1,
        "another call's checkpoint went too"
    );
    signal(&hub, libc::SIGTERM);
    hub.wait().ok();
    drop(server);
}
