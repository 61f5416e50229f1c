//! Calls a hub hosts (`hub --audio`) follow their events in-process: a
//! real hub on the loopback Asterisk (the byte-exact queue capture), real
//! `run --hub` processes handing their pipes over, read as Asterisk reads
//! them. The hosted call hears its place from the hub's greeting and its
//! moves from the fan-out, its key's redirect reaches Asterisk, the hub's
//! control socket asks it in-process; the hub spends no thread per call,
//! and a call that ended leaves no subscriber.

use super::hub::{signal_hub, spawn_hub_args, token};
use super::positions::{assert_place_2_said_at_once, position_playlist, positions};
use super::server::{serve_script, serve_script_vars, transcript_events};
use super::*;
use crate::common::{
    Reaped, counted_drain, events, holdmix, playlist, stream_reaches, timeline, wait_exit, warm_cache,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ALICE_UID: &str = "1795452414.1";
const BOB_UID: &str = "1795452415.3";

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `ok` until it holds or `limit` passes; whether it held.
fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let t = std::time::Instant::now();
    while !ok() {
        if t.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn short_dir() -> tempfile::TempDir {
    // Socket paths have a length limit.
    tempfile::Builder::new()
        .prefix("ho")
        .rand_bytes(4)
        .tempdir_in("/tmp")
        .expect("tempdir")
}

/// A hub with `--audio` and a control socket (`dir/ctl.sock`) on the AMI
/// server at `port`; it streams from the cache in `dir`.
fn audio_hub(dir: &Path, port: u16) -> (Reaped, PathBuf) {
    let ctl = dir.join("ctl.sock");
    let (hub, _) = spawn_hub_args(dir, port, &["--audio", "--control", ctl.to_str().expect("path")]);
    (Reaped(hub), ctl)
}

/// `holdmix ctl --hub CTL WORDS`: its exit code and its answer.
fn ctl(dir: &Path, ctl: &Path, words: &[&str]) -> (i32, Value) {
    let out = holdmix(dir)
        .arg("ctl")
        .arg("--hub")
        .arg(ctl)
        .args(words)
        .output()
        .expect("ctl");
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(text.trim()).unwrap_or(Value::Null),
    )
}

/// The calls the hub has subscribed (hosted or over its socket).
fn subscribed(dir: &Path, ctl_sock: &Path) -> usize {
    ctl(dir, ctl_sock, &["list"]).1["calls"]
        .as_array()
        .map_or(usize::MAX, Vec::len)
}

/// `run --hub` for the call `uid` (its token from the hub's key in
/// `hub_dir`), its log and its files in `dir`: it hands its pipe over. Its
/// pipe read as Asterisk reads it, 640 bytes every 40 ms, until its end (a
/// reader emptying it faster makes it look dry: see docs/hub-audio.md,
/// "Limits"), with the count of bytes read so far.
fn call(
    dir: &Path,
    hub_dir: &Path,
    uid: &str,
    pl: &Path,
    timeline: Option<&Path>,
) -> (Child, Arc<AtomicUsize>, std::thread::JoinHandle<Vec<u8>>) {
    let mut cmd = holdmix(dir);
    cmd.arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--hub"])
        .arg(hub_dir.join("hub.sock"))
        .args([
            "--uniqueid",
            uid,
            "--hub-token",
            &token(hub_dir, uid),
            "--playlist",
        ])
        .arg(pl)
        .arg("--state-dir")
        .arg(dir.join("calls"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(tl) = timeline {
        cmd.arg("--timeline").arg(tl);
    }
    let mut child = cmd.spawn().expect("spawn run");
    let (count, audio) = counted_drain(&mut child);
    (child, count, audio)
}

fn hub_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default()
}

/// The call `uid` from the queue-dtmf capture, hosted by a new hub: the
/// capture up to its `MusicOnHoldStart` (Asterisk starts its generator
/// then), quiet until its generator has started and handed over, then
/// the rest. Returns its timeline (written by the hub), the actions the
/// hub sent Asterisk, and the hub's count of subscribed calls once the
/// call ended.
fn hosted_in_the_captured_queue(
    uid: &str,
    pl: impl Fn(&Path) -> PathBuf,
) -> (Vec<Value>, Vec<Message>, usize) {
    let tmp = short_dir();
    let dir = tmp.path();
    let all = transcript_events("session-queue-dtmf.raw");
    let hold = all
        .iter()
        .position(|e| {
            let t = String::from_utf8_lossy(e);
            t.starts_with("Event: MusicOnHoldStart\r\n") && t.contains(&format!("Uniqueid: {uid}\r\n"))
        })
        .expect("the hold start");
    // The rest waits until the generator has handed its pipe over: a
    // timer here was outrun by a slow start on a loaded machine (the
    // call's end reached the hub before the call did).
    let gate = dir.join("handed");
    let mut chunks = all[..=hold].to_vec();
    chunks.push(format!("!gate:{}", gate.display()).into_bytes());
    // Then 1.5 s of the call held quiet, as it was before the timer's end:
    // of the call's own stream (a second gate), not of the wall clock's.
    let quiet = dir.join("quiet");
    chunks.push(format!("!gate:{}", quiet.display()).into_bytes());
    chunks.extend(all[hold + 1..].iter().cloned());
    let (port, server) = serve_script_vars("pw", vec![chunks], vec![("!queue", "empty".to_string())]);
    let pl = pl(dir);
    // The hub streams: the sounds decoded beforehand in its cache, as an
    // operator does (what is timed is the place, not a decode).
    warm_cache(dir, &pl);
    let (mut hub, ctl_sock) = audio_hub(dir, port);
    // The hub has the events up to the hold start (the join it greets
    // with): all sent once the server is at the gate, after the login.
    wait_for("the hub's login", Duration::from_secs(20), || {
        hub_log(dir).contains("hub logged in")
    });
    wait_for("the events before the hold", Duration::from_secs(20), || {
        gate.with_extension("reached").exists()
    });
    // Past the hub's one-second wait for a channel list this server does
    // not give (the hub's own timer, from before its login).
    std::thread::sleep(Duration::from_millis(1500));
    let gen_dir = dir.join("gen");
    std::fs::create_dir_all(&gen_dir).expect("mkdir");
    let tl = gen_dir.join("tl.jsonl");
    let (mut child, count, audio) = call(&gen_dir, dir, uid, &pl, Some(&tl));
    // The client stopped as soon as the hub streams its call: whatever the
    // load, it cannot take the call back (its dry check: docs/hub-audio.md,
    // "Limits"); the hub streams it to its end, then the client reads its
    // `END` and exits.
    wait_for("the hand-over", Duration::from_secs(20), || {
        std::fs::read_to_string(gen_dir.join("run.log")).is_ok_and(|l| l.contains("the hub streams the call"))
    });
    crate::common::signal(&child, libc::SIGSTOP);
    std::fs::write(&gate, "").expect("open the gate");
    let want = count.load(Ordering::SeqCst) + 24_000;
    stream_reaches(&mut child, &count, want, || "the hosted stream".into());
    std::fs::write(&quiet, "").expect("open the gate");
    wait_for("the call's end", Duration::from_secs(30), || {
        hub_log(dir).contains("hosted call ended")
    });
    crate::common::signal(&child, libc::SIGCONT);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "the call's end ends it: {status:?}");
    let pcm = audio.join().expect("reader");
    assert!(pcm.len() > 8000 * 2, "{} bytes heard", pcm.len());
    assert!(!hub_log(dir).contains("took the call over"), "hosted to its end");
    let mut left = usize::MAX;
    wait_for("no subscriber left", Duration::from_secs(10), || {
        left = subscribed(dir, &ctl_sock);
        left == 0
    });
    signal_hub(&mut hub);
    let actions = server.join().unwrap_or_default();
    (timeline(&tl), actions, left)
}

#[test]
fn a_hosted_call_says_its_place_from_the_greeting_and_its_move_from_the_fan_out() {
    let (tl, _, left) = hosted_in_the_captured_queue(BOB_UID, position_playlist);
    let got = positions(&tl);
    eprintln!("hosted call's positions: {got:?}");
    // Place 2 from the join the hub remembered, said within 1.5 s of
    // stream time; then Alice's leave (stripped of her: another caller's)
    // moves him to 1.
    assert_place_2_said_at_once(&got, &tl);
    assert_eq!(got.last().map(|&(_, v)| v), Some(1), "{got:?}");
    assert_eq!(left, 0);
}

#[test]
fn a_hosted_calls_key_redirects_its_own_channel_through_the_hubs_session() {
    let (tl, actions, left) = hosted_in_the_captured_queue(ALICE_UID, |dir| {
        let pl = position_playlist(dir);
        let text = std::fs::read_to_string(&pl).expect("playlist");
        playlist(
            dir,
            "keys.toml",
            &format!("{text}\n[keys]\n1 = {{ action = \"redirect\", to = \"callback,s,1\" }}\n"),
        )
    });
    // Alice's first key (1) reached her engine from the fan-out...
    let keys: Vec<&str> = events(&tl, "dtmf")
        .iter()
        .filter_map(|e| e["digit"].as_str())
        .collect();
    assert_eq!(keys.first(), Some(&"1"), "{tl:?}");
    assert_eq!(events(&tl, "redirect").len(), 1, "{tl:?}");
    // ...and its redirect went to Asterisk for her own channel.
    let redirects: Vec<&Message> = actions
        .iter()
        .filter(|m| m.get("Action") == Some("Redirect"))
        .collect();
    assert_eq!(redirects.len(), 1, "{actions:?}");
    assert_eq!(redirects[0].get("Channel"), Some(ALICE));
    assert_eq!(redirects[0].get("Context"), Some("callback"));
    assert_eq!(left, 0);
}

/// Threads of a process (`/proc/PID/task`).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

#[test]
fn hosted_calls_cost_the_hub_no_thread_each_and_leave_no_subscriber() {
    const N: usize = 20;
    let tmp = short_dir();
    let dir = tmp.path();
    write_music(dir);
    let pl = playlist(dir, "p.toml", "[music]\ntracks = [\"m.wav\"]\n");
    warm_cache(dir, &pl);
    // An Asterisk with no calls to tell of: the hub is never sure a call
    // is over, and every hosted call streams until its client stops it.
    let (port, _server) = serve_script("pw", vec![vec![Vec::new(); 1500]]);
    let (mut hub, ctl_sock) = audio_hub(dir, port);
    // Its own threads all started: it logs in after starting them.
    wait_for("the hub's login", Duration::from_secs(20), || {
        hub_log(dir).contains("hub logged in")
    });
    assert_eq!(subscribed(dir, &ctl_sock), 0);
    let before = threads(hub.id());
    let uids: Vec<String> = (0..N).map(|i| format!("1795452500.{i}")).collect();
    // Each client stopped as soon as its hub streams its call: none takes
    // its call back under load (see `hosted_in_the_captured_queue`), not
    // even while the others start.
    let calls: Vec<_> = uids
        .iter()
        .map(|uid| {
            let d = dir.join(uid);
            std::fs::create_dir_all(&d).expect("mkdir");
            let (child, _, audio) = call(&d, dir, uid, &pl, None);
            wait_for("the hand-over", Duration::from_secs(30), || {
                std::fs::read_to_string(d.join("run.log"))
                    .is_ok_and(|l| l.contains("the hub streams the call"))
            });
            crate::common::signal(&child, libc::SIGSTOP);
            (child, audio)
        })
        .collect();
    wait_for("every call hosted", Duration::from_secs(30), || {
        hub_log(dir).matches("hand-over taken").count() == N
    });
    wait_for("every call subscribed", Duration::from_secs(30), || {
        subscribed(dir, &ctl_sock) == N
    });
    // Once the preparations' and the loaders' threads are done (however
    // long a loaded machine takes), fewer than one a call is left: a
    // thread of each call's own would stay while the calls are hosted.
    let mut during = usize::MAX;
    let fewer = wait_until(Duration::from_secs(20), || {
        during = threads(hub.id());
        during < before + N
    });
    eprintln!("hub threads: {before} with no call, {during} with {N} hosted calls");
    assert!(
        fewer,
        "{before} threads, then {during} with {N} calls: a thread (or more) per call"
    );
    // The hub's control socket asks a hosted call in-process.
    let (code, s) = ctl(dir, &ctl_sock, &[&uids[0], "status"]);
    assert_eq!((code, &s["music"]), (0, &Value::from("m.wav")), "{s}");
    for (mut child, audio) in calls {
        crate::common::signal(&child, libc::SIGHUP);
        crate::common::signal(&child, libc::SIGCONT);
        let (status, _) = wait_exit(&mut child, Duration::from_secs(20));
        assert!(status.success(), "{status:?}");
        audio.join().expect("reader");
    }
    let taken: Vec<String> = uids
        .iter()
        .filter_map(|uid| std::fs::read_to_string(dir.join(uid).join("run.log")).ok())
        .flat_map(|log| {
            log.lines()
                .filter(|l| l.contains("taking the call over") || l.contains("watch"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !hub_log(dir).contains("took the call over"),
        "every call hosted to its end; the clients said: {taken:#?}"
    );
    wait_for("no subscriber left", Duration::from_secs(10), || {
        subscribed(dir, &ctl_sock) == 0
    });
    wait_for("the hub's threads back", Duration::from_secs(10), || {
        threads(hub.id()) <= before
    });
    signal_hub(&mut hub);
}

/// A long 300 Hz track, `dir/m.wav`.
fn write_music(dir: &Path) {
    crate::common::write_wav(
        &dir.join("m.wav"),
        8000,
        1,
        &crate::common::sine(300.0, 0.25, 60.0, 8000),
    );
}
