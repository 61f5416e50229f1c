//! `run --ami` against the loopback server: following its call, a refused
//! login, redirects, reconnects, hostile input, and which identities
//! Asterisk must confirm before anything personal is said.

use super::server::{serve, serve_script, serve_script_vars, transcript_events};
use super::*;

#[test]
fn run_follows_its_call_over_ami_until_music_on_hold_stops() {
    let dir = crate::common::tempdir();
    let (port, server) = serve("session-queue-dtmf.raw", "hunter2");
    let mut child = run_with_ami(dir.path(), port, "hunter2", ALICE);
    let reader = crate::common::drain(&mut child);
    // Alice's MusicOnHoldStop ends the run by itself.
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(!reader.join().expect("reader").is_empty(), "audio flowed");
    let received = server.join().expect("server");
    let actions = names(&received);
    assert_eq!(&actions[..2], ["Login", "Filter"], "{actions:?}");
    assert!(actions.contains(&"QueueStatus"), "{actions:?}");
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    let digits = digits_of(&tl);
    assert_eq!(digits, ["1", "2", "#"]);
    assert_eq!(crate::common::events(&tl, "position")[0]["value"], 1);
    // MusicOnHoldStop: this generator's part is over (the call's state is
    // kept for the next hold; only a Hangup forgets it).
    assert_eq!(crate::common::events(&tl, "exit")[0]["reason"], "music-stopped");
}

#[test]
fn a_refused_login_keeps_the_music_and_never_logs_the_secret() {
    let dir = crate::common::tempdir();
    let (port, server) = serve("session-badlogin.raw", "right-secret");
    let mut child = run_with_ami(dir.path(), port, "wrong-secret-xyz", ALICE);
    let (bytes, reader) = crate::common::counted_drain(&mut child);
    crate::common::wait_for_stream(&mut child, &bytes, 320 * 75, Duration::from_secs(30));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success());
    assert!(
        reader.join().expect("reader").len() >= 320 * 75,
        "the stream went on"
    );
    assert_eq!(names(&server.join().expect("server")), ["Login"]);
    let log = crate::common::log_text(dir.path());
    assert!(log.contains("login refused: Authentication failed"), "{log}");
    assert!(
        !log.contains("wrong-secret-xyz"),
        "the secret is in the log:\n{log}"
    );
}

#[test]
fn a_redirect_key_sends_the_caller_to_the_dialplan() {
    let dir = crate::common::tempdir();
    let pl = crate::common::playlist(
        dir.path(),
        "callback.toml",
        "[keys]\n1 = { action = \"redirect\", to = \"callback,s,1\" }\n",
    );
    let (port, server) = serve("session-queue-dtmf.raw", "pw");
    let mut child = run_with_ami_args(
        dir.path(),
        port,
        "pw",
        ALICE,
        &["--playlist", pl.to_str().expect("path")],
    );
    let reader = crate::common::drain(&mut child);
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success());
    reader.join().expect("reader");
    let actions = server.join().expect("server");
    let redirect = actions
        .iter()
        .find(|m| m.get("Action") == Some("Redirect"))
        .unwrap_or_else(|| panic!("no Redirect in {:?}", names(&actions)));
    assert_eq!(redirect.get("Channel"), Some(ALICE));
    assert_eq!(redirect.get("Context"), Some("callback"));
    assert_eq!(redirect.get("Exten"), Some("s"));
    assert_eq!(redirect.get("Priority"), Some("1"));
}

#[test]
fn after_a_dropped_connection_the_session_comes_back_and_the_music_never_stops() {
    let dir = crate::common::tempdir();
    let events = transcript_events("session-queue-dtmf.raw");
    // Cut the session just before Alice's second key; the rest comes on the
    // next connection.
    let cut = events
        .iter()
        .position(|e| {
            String::from_utf8_lossy(e).contains("Event: DTMFBegin")
                && String::from_utf8_lossy(e).contains("Digit: 2")
        })
        .expect("second key");
    let (first, second) = events.split_at(cut);
    let (port, server) = serve_script("pw", vec![first.to_vec(), second.to_vec()]);
    let started = std::time::Instant::now();
    let mut child = run_with_ami(dir.path(), port, "pw", ALICE);
    let reader = crate::common::drain(&mut child);
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(20));
    let elapsed = started.elapsed().as_secs_f64();
    assert!(status.success());
    let bytes = reader.join().expect("reader").len();
    // Real time all along: no gap while AMI was away (within the lead).
    assert!(
        bytes as f64 >= (elapsed - 0.3) * 16_000.0,
        "{bytes} bytes in {elapsed:.2} s"
    );
    assert_eq!(
        names(&server.join().expect("server"))
            .iter()
            .filter(|a| **a == "Login")
            .count(),
        2
    );
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    let digits = digits_of(&tl);
    assert_eq!(digits, ["1", "2", "#"]);
    let log = crate::common::log_text(dir.path());
    assert!(log.contains("AMI connection closed; reconnecting"), "{log}");
}

#[test]
fn garbage_a_huge_line_and_a_slow_drip_cost_nothing() {
    let dir = crate::common::tempdir();
    let mut chunks: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00 not AMI at all \xc3\x28\r\n\r\n".to_vec(),
        vec![b'x'; 1 << 20],
        b"\r\n\r\n".to_vec(),
    ];
    // Alice's key 7, one byte at a time.
    let key = format!("Event: DTMFEnd\r\nChannel: {ALICE}\r\nDigit: 7\r\nDirection: Received\r\n\r\n");
    chunks.extend(key.bytes().map(|b| vec![b]));
    chunks.push(format!("Event: Hangup\r\nChannel: {ALICE}\r\n\r\n").into_bytes());
    let (port, server) = serve_script("pw", vec![chunks]);
    let mut child = run_with_ami(dir.path(), port, "pw", ALICE);
    let pid = child.id();
    let reader = crate::common::drain(&mut child);
    let mut hwm_kib = 0u64;
    let started = std::time::Instant::now();
    while child.try_wait().expect("try_wait").is_none() && started.elapsed() < Duration::from_secs(20) {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let v = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            hwm_kib = hwm_kib.max(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(1));
    assert!(status.success(), "the hangup after the drip ended the run");
    assert!(!reader.join().expect("reader").is_empty());
    server.join().expect("server");
    assert!(hwm_kib < 40 * 1024, "peak memory {hwm_kib} KiB");
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    let log = crate::common::log_text(dir.path());
    assert_eq!(
        digits_of(&tl),
        ["7"],
        "the dripped key arrived whole: {tl:?}\n{log}"
    );
    assert!(log.contains("not AMI"), "garbage is reported: {log}");
}

#[test]
fn an_identity_asterisk_does_not_confirm_gets_nothing_personal() {
    // Two generators started with swapped environments (Asterisk's ENV() is
    // process-wide): both follow Alice's channel, one was given Bob's
    // number. Alice presses 2 (say-balance) in the transcript.
    let dir = crate::common::tempdir();
    let pl = crate::common::playlist(
        dir.path(),
        "balance.toml",
        &format!(
            "[prompts]\nfrom = {:?}\n\n[announce.balance]\nsay = [\"your-balance-is\"]\nfailed = [\"service-unavailable\"]\n\n[keys]\n2 = {{ action = \"say-balance\" }}\n",
            root().join("sample-audio/prompts/en").to_str().expect("path")
        ),
    );
    for (phone, confirmed) in [("79004445566", false), ("79001112233", true)] {
        let sub = dir.path().join(phone);
        std::fs::create_dir_all(&sub).expect("mkdir");
        let (port, server) = serve("session-queue-dtmf.raw", "pw");
        let mut cmd = crate::common::holdmix(&sub);
        cmd.arg("--log")
            .arg(sub.join("run.log"))
            .args([
                "run",
                "--ami",
                &format!("127.0.0.1:{port}"),
                "--playlist",
                pl.to_str().expect("path"),
            ])
            .arg("--timeline")
            .arg(sub.join("tl.jsonl"))
            .env("HOLDMIX_AMI_SECRET", "pw")
            .env("CHANNEL", ALICE)
            .env("PHONE", phone);
        let (mut child, reader) = start(&mut cmd);
        let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
        assert!(status.success());
        reader.join().expect("reader");
        server.join().expect("server");
        let tl = crate::common::timeline(&sub.join("tl.jsonl"));
        let identity = crate::common::events(&tl, "identity");
        assert_eq!(identity[0]["verified"], confirmed, "{phone}");
        let asked = !crate::common::events(&tl, "request").is_empty();
        assert_eq!(
            asked, confirmed,
            "{phone}: a balance lookup only for a confirmed caller"
        );
        let log = crate::common::log_text(&sub);
        assert_eq!(log.contains("identity not confirmed"), !confirmed, "{log}");
    }
}

#[test]
fn a_channel_asterisk_no_longer_has_ends_the_generator() {
    // The check at start finds no such channel (Getvar → `Response: Error`,
    // `Message: No such channel`, as in session-filtered.raw): a generator
    // left behind by a call that is over exits, naming the channel.
    let dir = crate::common::tempdir();
    let (port, server) = serve_script("pw", vec![Vec::new()]);
    let mut child = run_with_ami_args(dir.path(), port, "pw", BOB, &["--uniqueid", "1795734134.39"]);
    let reader = crate::common::drain(&mut child);
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    reader.join().expect("reader");
    drop(server);
    let log = crate::common::log_text(dir.path());
    assert!(log.contains("no such channel") && log.contains(BOB), "{log}");
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    assert_eq!(crate::common::events(&tl, "exit")[0]["reason"], "hangup");
}

#[test]
fn a_call_another_running_generator_has_claimed_gets_nothing_personal() {
    // Two generators sure of the same call mean one inherited another
    // call's environment: the later one does not trust itself. A claim by a
    // generator that is gone (the last one of a respawned call) is taken over.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let host = host.trim();
    let gone = {
        let mut c = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = c.id();
        c.wait().expect("wait");
        pid
    };
    let live = format!("{host}:{}", std::process::id());
    for (holder, confirmed) in [(live.clone(), false), (format!("{host}:{gone}"), true)] {
        let dir = crate::common::tempdir();
        let (port, server) = serve_script_vars(
            "pw",
            vec![transcript_events("session-queue-dtmf.raw")],
            vec![("HOLDMIX_GENERATOR", holder.clone())],
        );
        let mut child = run_with_ami_args(dir.path(), port, "pw", ALICE, &["--caller", "79001112233"]);
        let reader = crate::common::drain(&mut child);
        let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
        assert!(status.success());
        reader.join().expect("reader");
        let actions = server.join().expect("server");
        let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
        assert_eq!(
            crate::common::events(&tl, "identity")[0]["verified"],
            confirmed,
            "claimed by {holder}"
        );
        let set: Vec<&Message> = actions
            .iter()
            .filter(|m| m.get("Action") == Some("Setvar"))
            .collect();
        if confirmed {
            assert_eq!(set.len(), 1, "{:?}", names(&actions));
            assert_eq!(set[0].get("Variable"), Some("HOLDMIX_GENERATOR"));
            assert!(
                set[0]
                    .get("Value")
                    .is_some_and(|v| v.starts_with(&format!("{host}:")))
            );
        } else {
            assert!(set.is_empty(), "a claimed call is not claimed again");
            let log = crate::common::log_text(dir.path());
            assert!(log.contains("has claimed the call"), "{log}");
        }
    }
}

#[test]
fn only_a_channel_on_hold_or_in_a_queue_is_trusted() {
    // Alice's number matches, but Asterisk has her channel in no queue:
    // not a held caller, nothing personal. On hold in a bridge
    // (CHANNEL(onhold) = 1) she is.
    for (vars, confirmed) in [
        (vec![("!queue", "empty".to_string())], false),
        (
            vec![
                ("!queue", "empty".to_string()),
                ("CHANNEL(onhold)", "1".to_string()),
            ],
            true,
        ),
    ] {
        let dir = crate::common::tempdir();
        let (port, server) = serve_script_vars("pw", vec![transcript_events("session-queue-dtmf.raw")], vars);
        let mut child = run_with_ami_args(dir.path(), port, "pw", ALICE, &["--caller", "79001112233"]);
        let reader = crate::common::drain(&mut child);
        let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
        assert!(status.success());
        reader.join().expect("reader");
        server.join().expect("server");
        let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
        assert_eq!(crate::common::events(&tl, "identity")[0]["verified"], confirmed);
        let log = crate::common::log_text(dir.path());
        assert_eq!(
            log.contains("neither on hold nor in a queue"),
            !confirmed,
            "{log}"
        );
    }
}
