//! Continuity by call: the dialplan names the call (`UserEvent(HoldmixCall,
//! CallKey: ...)`, bytes as a real Asterisk sent them in
//! session-callkey.raw), the hub hands the key to the call's generator, and
//! a second channel with the same key — the call held again through a
//! proxy (OpenSIPS callops, Kamailio SCA) — goes on where the first left.

use super::hub::{signal_hub, spawn_hub, token};
use super::server::{serve_script, transcript_events};
use super::*;
use crate::common::{events, playlist, sine, speech_head, timeline, warm_cache, write_wav};

const FIRST: &str = "1796520591.1";
const SECOND: &str = "1796520595.3";
const KEY: &str = "921b00e4-fec0-4a36-9397-a40ab74e1893@10.0.0.5";

#[test]
fn a_call_held_again_on_another_channel_goes_on_where_it_was() {
    let dir = crate::common::tempdir();
    let events_of = transcript_events("session-callkey.raw");
    let user_events: Vec<usize> = events_of
        .iter()
        .enumerate()
        .filter(|(_, e)| String::from_utf8_lossy(e).starts_with("Event: UserEvent\r\n"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(user_events.len(), 2, "one UserEvent per channel in the capture");
    // Each channel stays up (its hangup held back at a gate) until its
    // generator has played a while: the test opens the gates.
    let (a, b) = (user_events[0], user_events[1]);
    let gate = |n: u32| dir.path().join(format!("gate{n}"));
    let gate_chunk = |n: u32| format!("!gate:{}", gate(n).display()).into_bytes();
    let mut chunks: Vec<Vec<u8>> = events_of[..=a].to_vec();
    chunks.push(gate_chunk(1));
    chunks.extend(events_of[a + 1..=b].iter().cloned());
    chunks.push(gate_chunk(2));
    chunks.extend(events_of[b + 1..].iter().cloned());
    let (port, server) = serve_script("pw", vec![chunks]);

    let pl = held_playlist(dir.path());
    let state = dir.path().join("state");
    let (mut hub, socket) = spawn_hub(dir.path(), port);
    // Past the hub's wait for a channel list this server does not give.
    std::thread::sleep(Duration::from_millis(1500));
    let generator = |uid: &str, name: &str| {
        let mut cmd = crate::common::holdmix(dir.path());
        cmd.arg("--log")
            .arg(dir.path().join(format!("{name}.log")))
            .args(["run", "--hub"])
            .arg(&socket)
            .args(["--uniqueid", uid, "--hub-token", &token(dir.path(), uid)])
            .args(["--playlist", pl.to_str().expect("path"), "--state-dir"])
            .arg(&state)
            .arg("--timeline")
            .arg(dir.path().join(format!("{name}.jsonl")))
            .env_remove("PHONE")
            .env_remove("CHANNEL");
        start(&mut cmd)
    };
    // The first channel: held until its hangup, which keeps the call's
    // checkpoint (the call may go on elsewhere).
    let (mut first, first_audio) = generator(FIRST, "first");
    let played = |name: &str, secs: f64| {
        // Its timeline says how far the stream got (bounded wait).
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if so_far(&dir.path().join(format!("{name}.jsonl")))
                .iter()
                .any(|e| e["t"].as_f64().is_some_and(|t| t >= secs))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{name} never got {secs} s into the call");
    };
    played("first", 4.0);
    std::fs::write(gate(1), "").expect("gate");
    let log_of =
        |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
    let Some((status, _)) = crate::common::exit_within(&mut first, Duration::from_secs(30)) else {
        first.kill().ok();
        panic!(
            "the first generator runs on\n{}\n{}",
            log_of("first"),
            log_of("hub")
        );
    };
    assert!(status.success(), "its channel's hangup ends it: {status:?}");
    let heard = first_audio.join().expect("reader").len() as f64 / 16000.0;
    assert!(heard > 1.0, "the first channel heard {heard} s");
    let kept = crate::common::checkpoint_files(&state, None);
    assert!(
        kept.iter().any(|f| f.starts_with("call-"))
            && !kept.iter().any(|f| f.contains(KEY) || f.starts_with(FIRST)),
        "the call's checkpoint stays after the channel's hangup, named by a digest: {kept:?}\n{}",
        std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default()
    );

    // The same call on another channel: it goes on, no welcome again. Its
    // generator starts after its UserEvent, as hold music starts after the
    // dialplan's UserEvent: once the server sent it, and the hub read it.
    let started = std::time::Instant::now();
    while !gate(2).with_extension("reached").exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (mut second, second_audio) = generator(SECOND, "second");
    // Its hangup once it has resumed (or started over, which fails below).
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(30)
        && so_far(&dir.path().join("second.jsonl"))
            .iter()
            .all(|e| e["event"] != "music_start")
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(gate(2), "").expect("gate");
    let Some((status, _)) = crate::common::exit_within(&mut second, Duration::from_secs(30)) else {
        second.kill().ok();
        panic!(
            "the second generator runs on\n{}\n{}",
            log_of("second"),
            log_of("hub")
        );
    };
    assert!(status.success(), "{status:?}");
    second_audio.join().expect("reader");
    signal_hub(&mut hub);
    let actions = server.join().expect("server");
    let login = actions
        .iter()
        .find(|m| m.get("Action") == Some("Login"))
        .expect("login");
    assert_eq!(login.get("Events"), Some("call,dtmf,agent,user"));

    let tl1 = timeline(&dir.path().join("first.jsonl"));
    let tl2 = timeline(&dir.path().join("second.jsonl"));
    let welcomes = |tl: &[serde_json::Value]| {
        events(tl, "prompt_start")
            .iter()
            .filter(|e| e["file"].as_str().is_some_and(|f| f.contains("please-hold")))
            .count()
    };
    assert_eq!(welcomes(&tl1), 1, "{tl1:?}");
    assert!(events(&tl1, "resume").is_empty());
    let resume = events(&tl2, "resume");
    assert_eq!(
        resume.len(),
        1,
        "the second channel resumes the call: {tl2:?}\n{}\n{}",
        log_of("second"),
        log_of("hub")
    );
    let from = resume[0]["from"].as_f64().expect("from");
    assert!(from > 0.5, "from {from} s into the call");
    assert_eq!(welcomes(&tl2), 0, "no welcome again: {tl2:?}");
    // The music goes on from its place, not from the top.
    let music = events(&tl2, "music_start");
    assert!(music[0]["offset"].as_f64().expect("offset") > 0.5, "{tl2:?}");
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert!(log.contains("keyed by the call"), "{log}");
    assert!(!log.contains(KEY), "the key itself is not logged: {log}");
}

/// A 120 s bed with a welcome ("please-hold"), its cache warmed.
fn held_playlist(dir: &std::path::Path) -> std::path::PathBuf {
    let music = dir.join("bed.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 120.0, 8000));
    let pl = playlist(
        dir,
        "held.toml",
        &format!("{}\n[welcome]\nsay = [\"please-hold\"]\n", speech_head(&music)),
    );
    warm_cache(dir, &pl);
    pl
}

/// The timeline's whole lines so far (the generator is still writing it).
fn so_far(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A call the hub hosts (`hub --audio`), keyed by the dialplan's CallKey,
/// is taken back by its shim when the hub is killed and not restarted: no
/// hub greets the resumed stream with the key, so it resumes from the name
/// the hub told at the hand-over (`CHECKPOINTS`), not from the welcome.
#[test]
fn a_hosted_call_keyed_by_the_dialplan_resumes_after_its_hubs_death() {
    let dir = crate::common::tempdir();
    let events_of = transcript_events("session-callkey.raw");
    let first_user_event = events_of
        .iter()
        .position(|e| String::from_utf8_lossy(e).starts_with("Event: UserEvent\r\n"))
        .expect("a UserEvent in the capture");
    // The first channel's events up to its UserEvent, then nothing (the
    // call stays up until the test ends).
    let gate = dir.path().join("gate");
    let mut chunks: Vec<Vec<u8>> = events_of[..=first_user_event].to_vec();
    chunks.push(format!("!gate:{}", gate.display()).into_bytes());
    let (port, server) = serve_script("pw", vec![chunks]);
    let pl = held_playlist(dir.path());
    let state = dir.path().join("state");
    let (mut hub, socket) = super::hub::spawn_hub_args(dir.path(), port, &["--audio"]);
    // The UserEvent read by the hub before the call is handed over.
    let started = std::time::Instant::now();
    while !gate.with_extension("reached").exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let shim = std::path::Path::new(env!("CARGO_BIN_EXE_holdmix-shim"));
    let mut call = std::process::Command::new(shim)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--log")
        .arg(dir.path().join("call.log"))
        .arg("--hub")
        .arg(&socket)
        .args(["--uniqueid", FIRST, "--hub-token", &token(dir.path(), FIRST)])
        .args(["--playlist", pl.to_str().expect("path"), "--state-dir"])
        .arg(&state)
        .arg("--timeline")
        .arg(dir.path().join("call.jsonl"))
        .env("XDG_RUNTIME_DIR", dir.path().join("runtime"))
        .env_remove("PHONE")
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the shim");
    let (bytes, reader) = crate::common::counted_drain(&mut call);
    // Four seconds of the hosted call (past its welcome), checkpointed
    // under the call's key by the hub.
    crate::common::wait_for_stream(&mut call, &bytes, 64_000, Duration::from_secs(30));
    let log_of = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let hub_log = log_of("hub.log");
    assert!(hub_log.contains("hand-over taken"), "{hub_log}");
    let kept = crate::common::checkpoint_files(&state, None);
    assert!(kept.iter().any(|f| f.starts_with("call-")), "{kept:?}\n{hub_log}");
    // The hub dies, and no hub comes back.
    crate::common::signal(&hub, libc::SIGKILL);
    hub.wait().ok();
    let at_kill = bytes.load(std::sync::atomic::Ordering::SeqCst);
    crate::common::wait_for_stream(&mut call, &bytes, at_kill + 32_000, Duration::from_secs(30));
    // The shim became the full binary with the name the hub told (a
    // digest: never the key on a command line).
    let argv = std::fs::read(format!("/proc/{}/cmdline", call.id())).unwrap_or_default();
    let argv: Vec<String> = argv
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let at = argv.iter().position(|a| a == "--hub-checkpoints");
    assert!(
        at.is_some_and(|i| argv
            .get(i + 1)
            .is_some_and(|n| n.starts_with("call-") && kept.iter().any(|k| k.starts_with(&format!("{n}/"))))),
        "{argv:?} {kept:?}"
    );
    assert!(!argv.iter().any(|a| a.contains(KEY)), "{argv:?}");
    crate::common::signal(&call, libc::SIGHUP);
    let (status, _) = crate::common::wait_exit(&mut call, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let heard = reader.join().expect("reader").len();
    assert!(heard >= at_kill + 32_000, "{heard} bytes, {at_kill} at the kill");
    std::fs::write(&gate, "").ok();
    server.join().ok();
    // The taken-back stream's own timeline: resumed, no welcome again.
    let tl = timeline(&dir.path().join("call.jsonl"));
    let log = log_of("call.log");
    let resume = events(&tl, "resume");
    assert_eq!(resume.len(), 1, "resumed: {tl:?}\n{log}");
    assert!(resume[0]["from"].as_f64().expect("from") > 3.0, "{tl:?}");
    let welcomes = events(&tl, "prompt_start")
        .iter()
        .filter(|e| e["file"].as_str().is_some_and(|f| f.contains("please-hold")))
        .count();
    assert_eq!(welcomes, 0, "no welcome again: {tl:?}");
    assert!(log.contains("keyed by the call"), "{log}");
    assert!(!log.contains(KEY), "the key itself is not logged: {log}");
}
