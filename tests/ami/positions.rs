//! Positions from the first second (issue 19): app_queue sends a caller's
//! `QueueCallerJoin` before it starts hold music, so a hub-served generator
//! never sees its own join; the hub remembers it and greets the generator
//! with it. And a caller at position 1 hears no "still there" repeat
//! unless the playlist asks.

use super::hub::{signal_hub, spawn_hub_args, token};
use super::server::{serve_script_vars, transcript_events};
use super::*;
use crate::common::{events, holdmix, ok, playlist, tempdir, timeline};

const BOB_UID: &str = "1795452415.3";

/// A playlist that says the position at once when it is known, over the
/// sample music, with no welcome before it.
pub(super) fn position_playlist(dir: &std::path::Path) -> std::path::PathBuf {
    playlist(
        dir,
        "position.toml",
        &format!(
            "[music]\ntracks = [{:?}]\n\n[prompts]\nfrom = {:?}\n\n[announce.position]\nsay = [\"you-are\", \"in-queue\"]\nnext = [\"you-are-next\"]\n",
            root().join("sample-audio/music").to_str().expect("path"),
            root().join("sample-audio/prompts/en").to_str().expect("path"),
        ),
    )
}

/// A generator for Bob's call through the hub at `socket` (its Uniqueid
/// and token, as its realtime row starts it).
fn bob_via_hub(
    dir: &std::path::Path,
    hub_dir: &std::path::Path,
    socket: &std::path::Path,
    pl: &std::path::Path,
) -> (std::process::Child, std::thread::JoinHandle<Vec<u8>>) {
    let mut cmd = holdmix(dir);
    cmd.arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--hub"])
        .arg(socket)
        .args([
            "--uniqueid",
            BOB_UID,
            "--hub-token",
            &token(hub_dir, BOB_UID),
            "--playlist",
            pl.to_str().expect("path"),
            "--timeline",
        ])
        .arg(dir.join("tl.jsonl"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE");
    start(&mut cmd)
}

/// (t, value) of each `position` the engine got.
pub(super) fn positions(tl: &[serde_json::Value]) -> Vec<(f64, u64)> {
    events(tl, "position")
        .iter()
        .map(|e| (e["t"].as_f64().expect("t"), e["value"].as_u64().expect("value")))
        .collect()
}

/// Stream time of the first prompt of the `position` queue.
fn first_position_prompt(tl: &[serde_json::Value]) -> Option<f64> {
    events(tl, "prompt_start")
        .iter()
        .find(|e| e["queue"] == "position")
        .map(|e| e["t"].as_f64().expect("t"))
}

/// A hub on the AMI server at `port`, and 1.5 s later (past the hub's
/// wait for its lists, whatever it learned by then long learned) Bob's
/// generator through it, in `dir/bob`: the hub, Bob's folder, his
/// generator and its reader.
fn bob_through_a_new_hub(
    dir: &std::path::Path,
    port: u16,
    pl: &std::path::Path,
    gate: Option<&std::path::Path>,
) -> (
    std::process::Child,
    std::path::PathBuf,
    std::process::Child,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let gen_dir = dir.join("bob");
    std::fs::create_dir_all(&gen_dir).expect("mkdir");
    // The sounds decoded beforehand, as an operator does: what is timed
    // here is when the place is known and said, not a decode under load
    // (a loaded suite once heard it at 3.5 s of stream time).
    crate::common::warm_cache(&gen_dir, pl);
    // Verbose: the hub logs each subscription, which opens the gate.
    let (hub, socket) = spawn_hub_args(dir, port, &["-v"]);
    std::thread::sleep(Duration::from_millis(1500));
    let (child, reader) = bob_via_hub(&gen_dir, dir, &socket, pl);
    if let Some(gate) = gate {
        let log = dir.join("hub.log");
        let t = std::time::Instant::now();
        while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("generator subscribed")) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "Bob's generator never subscribed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::write(gate, "").expect("open the gate");
    }
    (hub, gen_dir, child, reader)
}

/// Stream time (samples written), not wall-clock: the engine had place 2
/// within 1.5 s of the hold start, and said it.
#[track_caller]
pub(super) fn assert_place_2_said_at_once(got: &[(f64, u64)], tl: &[serde_json::Value]) {
    assert!(
        got.first().is_some_and(|&(t, v)| v == 2 && t <= 1.5),
        "positions {got:?}"
    );
    let said = first_position_prompt(tl);
    assert!(
        said.is_some_and(|t| t <= 1.5),
        "first position prompt at {said:?}"
    );
}

/// Bob's call from the queue-dtmf capture, through a new hub, his
/// generator playing `pl`: its timeline. The capture's order, byte for
/// byte: Alice's and Bob's joins, each before its MusicOnHoldStart. The
/// hub's own QueueStatus is answered with no entries (as when the hub
/// logged in before anyone queued), so the place can only come from the
/// join the hub remembered.
fn bob_in_the_captured_queue(pl: impl Fn(&std::path::Path) -> std::path::PathBuf) -> Vec<serde_json::Value> {
    bob_in_the_captured_queue_lingering(pl, 0)
}

/// [`bob_in_the_captured_queue`], with `linger` empty chunks (quiet time)
/// after Alice's `QueueCallerLeave`: Bob waits on at place 1.
fn bob_in_the_captured_queue_lingering(
    pl: impl Fn(&std::path::Path) -> std::path::PathBuf,
    linger: usize,
) -> Vec<serde_json::Value> {
    let dir = tempdir();
    let events_all = transcript_events("session-queue-dtmf.raw");
    let is = |e: &Vec<u8>, what: &str| {
        let t = String::from_utf8_lossy(e);
        t.starts_with(&format!("Event: {what}\r\n")) && t.contains(&format!("Uniqueid: {BOB_UID}\r\n"))
    };
    let join = events_all
        .iter()
        .position(|e| is(e, "QueueCallerJoin"))
        .expect("Bob's join");
    let hold = events_all
        .iter()
        .position(|e| is(e, "MusicOnHoldStart"))
        .expect("Bob's hold start");
    assert!(join < hold, "app_queue: the join comes before the hold music");
    let mut chunks: Vec<Vec<u8>> = events_all[..=hold].to_vec();
    // The generator starts at the hold start (Asterisk spawns it then) and
    // subscribes while nothing else is said of Bob's call: the rest waits
    // for its subscription (a timer here can be outrun by a slow start on
    // a loaded machine).
    let gate = dir.path().join("subscribed");
    chunks.push(format!("!gate:{}", gate.display()).into_bytes());
    // Then 1.5 s of the call held quiet, as it was before the timer's end.
    chunks.extend(vec![Vec::new(); 150]);
    for e in &events_all[hold + 1..] {
        chunks.push(e.clone());
        let t = String::from_utf8_lossy(e);
        if t.starts_with("Event: QueueCallerLeave\r\n") && !t.contains(&format!("Uniqueid: {BOB_UID}\r\n")) {
            chunks.extend(vec![Vec::new(); linger]);
        }
    }
    let (port, server) = serve_script_vars("pw", vec![chunks], vec![("!queue", "empty".to_string())]);
    let pl = pl(dir.path());
    let (mut hub, gen_dir, mut child, reader) = bob_through_a_new_hub(dir.path(), port, &pl, Some(&gate));
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "Bob's MusicOnHoldStop ends it: {status:?}");
    reader.join().expect("reader");
    signal_hub(&mut hub);
    server.join().ok();
    let log = crate::common::log_text(&gen_dir);
    assert!(!log.contains("no hub answers"), "{log}");
    timeline(&gen_dir.join("tl.jsonl"))
}

#[test]
fn a_hub_served_generator_says_the_position_from_the_first_second() {
    let tl = bob_in_the_captured_queue(position_playlist);
    let got = positions(&tl);
    eprintln!("first position through the hub (join before hold start): {got:?}");
    assert_place_2_said_at_once(&got, &tl);
    // Alice's leave then moves him to 1 (the hub passes it on).
    assert_eq!(got.last().map(|&(_, v)| v), Some(1), "{got:?}");
}

#[test]
fn a_hub_served_generator_takes_the_channels_language_from_the_greeting() {
    // Bob's MusicOnHoldStart (`Language: en`) comes before his generator
    // subscribes: the hub's greeting carries it. The playlist's default is
    // another language, so only the channel's can choose English.
    let tl = bob_in_the_captured_queue(|dir| {
        let pl = position_playlist(dir);
        let text = std::fs::read_to_string(&pl).expect("playlist");
        playlist(
            dir,
            "languages.toml",
            &format!("{text}\n[languages]\ndefault = \"ru\"\n[languages.en]\n"),
        )
    });
    let chosen: Vec<_> = events(&tl, "language")
        .iter()
        .map(|e| (e["code"].clone(), e["by"].clone(), e["t"].as_f64().expect("t")))
        .collect();
    assert!(
        chosen
            .iter()
            .any(|(code, by, t)| code == "en" && by == "channel" && *t <= 0.5),
        "{chosen:?}"
    );
}

#[test]
fn a_restarted_hub_greets_with_the_place_from_its_queue_status() {
    // A hub started under calls in progress (a restart) learns each
    // caller's place from the answer to its QueueStatus (the capture's
    // bytes, both entries) and greets with it: a generator does not wait
    // 10 s for the next status.
    let dir = tempdir();
    let (port, server) = serve_script_vars("pw", vec![vec![Vec::new(); 400]], Vec::new());
    let pl = position_playlist(dir.path());
    let (mut hub, gen_dir, mut child, reader) = bob_through_a_new_hub(dir.path(), port, &pl, None);
    // Until the place is said (when is asserted on the stream's time below).
    crate::common::wait_for_text(
        &gen_dir.join("tl.jsonl"),
        "\"queue\":\"position\"",
        Duration::from_secs(30),
    );
    crate::common::signal(&child, libc::SIGHUP);
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    reader.join().expect("reader");
    signal_hub(&mut hub);
    server.join().ok();
    let tl = timeline(&gen_dir.join("tl.jsonl"));
    let got = positions(&tl);
    eprintln!("first position from a restarted hub's QueueStatus: {got:?}");
    assert_place_2_said_at_once(&got, &tl);
}

/// A playlist with a "still there" repeat every 10 s from 5 s, with
/// `extra` lines in its `[[repeat]]`.
fn repeat_playlist(dir: &std::path::Path, name: &str, extra: &str) -> std::path::PathBuf {
    playlist(
        dir,
        name,
        &format!(
            "[music]\ntracks = [{:?}]\n\n[prompts]\nfrom = {:?}\n\n[[repeat]]\nfirst = \"5s\"\nevery = \"10s\"\nsay = [\"still-there\"]\n{extra}",
            root().join("sample-audio/music").to_str().expect("path"),
            root().join("sample-audio/prompts/en").to_str().expect("path"),
        ),
    )
}

/// Start times of the repeats in a 60 s render with `events`.
fn repeats_heard(dir: &std::path::Path, pl: &std::path::Path, events_: &[&str]) -> Vec<f64> {
    let tl_path = dir.join(format!(
        "{}.jsonl",
        pl.file_stem().expect("stem").to_str().expect("utf-8")
    ));
    let mut cmd = holdmix(dir);
    cmd.args(["render", pl.to_str().expect("path"), "--duration", "60s", "-o"])
        .arg(dir.join("out.raw"))
        .arg("--timeline")
        .arg(&tl_path);
    for e in events_ {
        cmd.args(["--event", e]);
    }
    ok(&mut cmd);
    events(&timeline(&tl_path), "prompt_start")
        .iter()
        .filter(|e| e["queue"] == "repeat")
        .map(|e| e["t"].as_f64().expect("t"))
        .collect()
}

#[test]
fn a_caller_at_position_1_hears_no_still_there_unless_the_playlist_asks() {
    let dir = tempdir();
    let default = repeat_playlist(dir.path(), "default.toml", "");
    // At 3rd place the repeats play; from 1st place (at 30 s) they stop.
    let heard = repeats_heard(dir.path(), &default, &["1s:position:3", "30s:position:1"]);
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(heard.iter().all(|&t| t < 30.0), "{heard:?}");
    // A caller in no queue (no position known) hears them all.
    let heard = repeats_heard(dir.path(), &default, &[]);
    assert_eq!(heard.len(), 6, "{heard:?}");
    // `position_above = 0`: at any place, as the playlist asks.
    let asks = repeat_playlist(dir.path(), "asks.toml", "position_above = 0\n");
    let heard = repeats_heard(dir.path(), &asks, &["1s:position:1"]);
    assert_eq!(heard.len(), 6, "{heard:?}");
    // `position_above = 4`: only above 4th place.
    let long = repeat_playlist(dir.path(), "long.toml", "position_above = 4\n");
    let heard = repeats_heard(dir.path(), &long, &["1s:position:6", "20s:position:4"]);
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(heard.iter().all(|&t| t < 20.0), "{heard:?}");
}

#[test]
fn check_names_a_bad_position_above_where_it_is() {
    let dir = tempdir();
    for (value, name) in [
        ("-1", "negative.toml"),
        ("1.5", "fraction.toml"),
        ("\"two\"", "text.toml"),
    ] {
        let pl = repeat_playlist(dir.path(), name, &format!("position_above = {value}\n"));
        let out = holdmix(dir.path())
            .arg("check")
            .arg(&pl)
            .output()
            .expect("spawn check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{value}: {stdout}");
        // The `[[repeat]]` opens on line 7: the key is on line 11, its
        // value at column 18.
        let prefix = format!("{}:11:18: error: ", pl.display());
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains("position_above")),
            "{value}: want `{prefix}…position_above…` in:\n{stdout}"
        );
    }
    let fine = repeat_playlist(dir.path(), "fine.toml", "position_above = 0\n");
    let out = holdmix(dir.path())
        .arg("check")
        .arg(&fine)
        .output()
        .expect("check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A hold plan through the hub (issue 22): each ask says Bob's queue, his
/// place and the queue's size as Asterisk said them: 2 of 2 after the
/// joins (the hub's greeting), 1 of 1 once Alice's `QueueCallerLeave`
/// (`Count: 1`) moved him up. The plan pauses a second at a time, so it is
/// asked again and again over the call.
#[test]
fn a_hub_served_plan_ask_says_the_queue_its_size_and_the_place() {
    use crate::webhook::server::{Reply, Server};
    let s = Server::start(vec![Reply::Json(200, r#"{"items":[{"pause":1}]}"#.into())]);
    let url = s.url();
    let tl = bob_in_the_captured_queue_lingering(
        |dir| {
            let pl = position_playlist(dir);
            let text = std::fs::read_to_string(&pl).expect("playlist");
            playlist(
                dir,
                "plan.toml",
                &format!("{text}\n[plan]\nurl = {url:?}\ntimeout = \"1s\"\nevery = \"1s\"\n"),
            )
        },
        300,
    );
    let asks = s.bodies();
    let said = |a: &serde_json::Value| (a["position"].as_u64(), a["queue_size"].as_u64());
    let seen: Vec<_> = asks.iter().map(said).collect();
    for a in &asks {
        assert_eq!(
            (&a["queue"], &a["call"]),
            (&"holdq".into(), &BOB_UID.into()),
            "{a}"
        );
        // The size comes with the place, never after it.
        assert!(
            matches!(said(a), (None, None) | (Some(2), Some(2)) | (Some(1), Some(1))),
            "{seen:?}"
        );
    }
    assert!(seen.contains(&(Some(2), Some(2))), "{seen:?} {tl:?}");
    assert!(seen.contains(&(Some(1), Some(1))), "{seen:?} {tl:?}");
}
