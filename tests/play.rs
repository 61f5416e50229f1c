//! `holdmix play` (feature `speaker`) on ALSA's `null` output: the real
//! rodio/cpal/ALSA path with no sound card. Keys and words typed on stdin
//! act on the call as its timeline says, the status line follows it, and
//! the call is heard in real time even though `null` has no clock.

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// `play` on the null output with a timeline; its status lines come
/// through the returned channel.
fn spawn_play(dir: &std::path::Path, extra: &[&str]) -> (Child, ChildStdin, Receiver<String>) {
    let mut child = holdmix(dir)
        .args(["play", "--device", "null", "--seed", "1", "--timeline"])
        .arg(dir.join("tl.jsonl"))
        .arg(root().join("playlists/demo.toml"))
        .args(extra)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn holdmix play");
    let stdin = child.stdin.take().expect("stdin");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx)
}

/// Waits (bounded) for a status line that `pred` accepts; all lines seen.
fn wait_line(rx: &Receiver<String>, seen: &mut Vec<String>, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }
    panic!("no such status line; saw:\n{}", seen.join("\n"));
}

/// The call's time at the start of a status line (`01:05  music …`).
fn clock(line: &str) -> Option<u64> {
    let (m, s) = line.get(..5)?.split_once(':')?;
    Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?)
}

#[test]
fn typed_keys_skips_and_quit_act_on_the_call_in_real_time() {
    let dir = tempdir();
    warm_cache(dir.path(), &root().join("playlists/demo.toml"));
    let started = Instant::now();
    let (mut child, mut stdin, rx) = spawn_play(dir.path(), &[]);
    let mut seen = Vec::new();
    wait_line(&rx, &mut seen, |l| clock(l).is_some_and(|t| t >= 2));
    // ALSA's null output takes audio as fast as it comes: the wall clock
    // paced these two seconds (a lower bound: load only makes it later).
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    writeln!(stdin, "s 1m").unwrap();
    wait_line(&rx, &mut seen, |l| clock(l).is_some_and(|t| t >= 62));
    writeln!(stdin, "3").unwrap();
    wait_line(&rx, &mut seen, |l| l.contains("key 3: next-music"));
    writeln!(stdin, "p 4").unwrap();
    wait_line(&rx, &mut seen, |l| l.contains("position 4"));
    writeln!(stdin, "banana").unwrap();
    wait_line(&rx, &mut seen, |l| l.contains("`q` quits"));
    writeln!(stdin, "q").unwrap();
    let last = wait_line(&rx, &mut seen, |l| l.contains("ended: quit"));
    let (status, _) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
    assert!(last.contains("position 4"), "{last}");

    let tl = timeline(&dir.path().join("tl.jsonl"));
    let keys = events(&tl, "dtmf");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["action"], "next-music");
    // Typed after the skip: at the call's minute, not its third second.
    assert!(keys[0]["t"].as_f64().unwrap() >= 62.0, "{keys:?}");
    let switched = events(&tl, "music_switch");
    assert!(
        switched
            .iter()
            .any(|s| (s["t"].as_f64().unwrap() - keys[0]["t"].as_f64().unwrap()).abs() < 0.05),
        "the music switched at the key: {switched:?}"
    );
    assert!(events(&tl, "position").iter().any(|p| p["value"] == 4));
    assert_eq!(events(&tl, "exit")[0]["reason"], "quit");
    // The welcome was heard before the skip, once.
    assert_eq!(
        events(&tl, "prompt_start")
            .iter()
            .filter(|p| p["file"] == "welcome.wav")
            .count(),
        1
    );
}

#[test]
fn a_call_that_ends_ends_the_preview() {
    let dir = tempdir();
    warm_cache(dir.path(), &root().join("playlists/demo.toml"));
    let (mut child, mut stdin, rx) = spawn_play(dir.path(), &["--skip", "10s", "--duration", "5m"]);
    let mut seen = Vec::new();
    let first = wait_line(&rx, &mut seen, |l| clock(l).is_some());
    assert!(clock(&first).unwrap() >= 10, "--skip 10s starts at 0:10: {first}");
    writeln!(stdin, "hangup").unwrap();
    let (status, _) = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
    let tl = timeline(&dir.path().join("tl.jsonl"));
    // The hangup, not the duration: 5 minutes would outlast the bound.
    assert_eq!(events(&tl, "exit")[0]["reason"], "hangup");
}

#[test]
fn an_unknown_device_is_named_with_the_ones_there_are() {
    let dir = tempdir();
    let out = holdmix(dir.path())
        .args(["play", "--device", "no-such-card"])
        .arg(root().join("playlists/demo.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--device no-such-card: no such output") && err.contains("null"),
        "{err}"
    );

    let list = ok(holdmix(dir.path())
        .args(["play", "--device", "list"])
        .arg(root().join("playlists/demo.toml")));
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.ends_with(":null"))
    );
}
