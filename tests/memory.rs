//! Callers remembered across calls by real `holdmix run` processes: the
//! music they were on and where, and the advices they heard, in the
//! embedded SQLite store and in a real MariaDB (with the old hack's
//! `queue_music` table as it is).

use crate::common::mariadb::Mariadb;
use crate::common::*;
use holdmix::store::Backend;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn memory_playlist(dir: &Path) -> PathBuf {
    let root = root();
    playlist(
        dir,
        "memory.toml",
        &format!(
            r#"
[music]
tracks = ["{root}/sample-audio/music"]
start = "remembered"

[advice]
start = "1s"
gap = "1s"

[[advice.group]]
name = "first"
files = "{root}/sample-audio/advice/en/first"

[keys]
3 = {{ action = "next-music" }}
"#,
            root = root.display()
        ),
    )
}

/// One call of `caller`: keys at the given stream times (ms), SIGHUP at
/// `secs` of stream.
/// Returns its timeline.
fn call(
    dir: &Path,
    pl: &Path,
    caller: &str,
    store: &[&str],
    keys: &[(u64, &str)],
    secs: u64,
) -> Vec<serde_json::Value> {
    let tl = dir.join(format!("{caller}-{}.jsonl", fastrand_suffix()));
    let mut args = vec![
        "--playlist",
        pl.to_str().expect("path"),
        "--events",
        "-",
        "--caller",
        caller,
        "--timeline",
        tl.to_str().expect("path"),
        // What is remembered is asserted here, not how long a store may
        // take (the store's own tests do that): on a loaded machine a new
        // process's first MariaDB query once took longer than the 300 ms
        // default, and the call began as a stranger's.
        "--store-timeout",
        "5s",
    ];
    args.extend_from_slice(store);
    let mut child = spawn_run(dir, &args);
    let (count, reader) = counted_drain(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    // The call's times are the stream's own (what the reader has taken,
    // 16 bytes a millisecond), not the wall clock's: a loaded machine once
    // took long enough to start, or to stream, that a call hung up by the
    // wall clock at 5 s ended before its advice at 1 s.
    // Of the call itself, past any silence of a late start: the store's
    // first query on a loaded machine can hold the start back a second.
    for &(t, key) in keys {
        heard_reaches(&mut child, &count, &tl, t as usize * 16, || {
            format!("by the key: {}", log_text(dir))
        });
        writeln!(stdin, "dtmf {key}").expect("key");
    }
    heard_reaches(&mut child, &count, &tl, secs as usize * 16_000, || log_text(dir));
    signal(&child, libc::SIGHUP);
    // The exit writes the caller's memory (to MariaDB too): bounded, not timed.
    let (status, _) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}: {}", log_text(dir));
    reader.join().expect("reader");
    timeline(&tl)
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn advices(tl: &[serde_json::Value]) -> Vec<String> {
    events(tl, "prompt_start")
        .iter()
        .filter(|e| e["queue"].as_str().is_some_and(|q| q.starts_with("advice/")))
        .map(|e| e["file"].as_str().unwrap_or("").to_string())
        .collect()
}

fn music_start(tl: &[serde_json::Value]) -> (String, f64) {
    let m = events(tl, "music_start")[0];
    (
        m["file"].as_str().unwrap_or("").to_string(),
        m["offset"].as_f64().unwrap_or(-1.0),
    )
}

/// Call 1 switches music and hears an advice; call 2 of the same caller
/// resumes that music where it stopped and goes on to the next advice;
/// another caller starts from the top.
fn remembered_across_calls(dir: &Path, store: &[&str]) {
    let pl = memory_playlist(dir);
    warm_cache(dir, &pl);
    let first = call(dir, &pl, "79001112233", store, &[(300, "3")], 5);
    assert_eq!(music_start(&first), ("bed-1-calm.wav".to_string(), 0.0));
    let heard = advices(&first);
    assert_eq!(heard, ["01-online.ogg"], "{first:?}");

    let second = call(dir, &pl, "79001112233", store, &[], 2);
    let r = events(&second, "remembered");
    assert_eq!(
        (r[0]["music"].as_bool(), r[0]["heard"].as_u64()),
        (Some(true), Some(1)),
        "{second:?}"
    );
    let (file, offset) = music_start(&second);
    assert_eq!(file, "bed-2-bright.mp3");
    // Switched at 0.3 s, left at 5 s (plus the pipe's lead).
    assert!((4.4..5.3).contains(&offset), "resumed at {offset}");
    assert_eq!(advices(&second), ["02-app.ogg"]);

    let other = call(dir, &pl, "79005556677", store, &[], 2);
    assert!(events(&other, "remembered").is_empty() || events(&other, "remembered")[0]["music"] == false);
    assert_eq!(music_start(&other), ("bed-1-calm.wav".to_string(), 0.0));
    assert_eq!(advices(&other), ["01-online.ogg"]);
}

#[test]
fn the_embedded_store_remembers_callers_across_calls() {
    let dir = tempdir();
    let db = dir.path().join("store.sqlite3");
    let spec = format!("sqlite:{}", db.display());
    remembered_across_calls(dir.path(), &["--store", &spec]);
    // The rows, read back through the store itself.
    let mut b = Backend::open(Some(&spec), None).expect("open");
    let rec = b
        .get_caller(
            "79001112233",
            holdmix::store::unix_now(),
            Duration::from_secs(86400),
        )
        .expect("read")
        .expect("row");
    assert!(
        rec.music
            .as_deref()
            .is_some_and(|m| m.ends_with("bed-2-bright.mp3")),
        "{rec:?}"
    );
    assert!(rec.heard.keys().any(|k| k.ends_with("02-app.ogg")), "{rec:?}");
}

#[test]
fn mariadb_remembers_callers_and_keeps_the_old_queue_music_table() {
    let db = Mariadb::start();
    let name = db.create_db("calls");
    let url = db.url(&name);
    let pw = db.password_file();
    let store = [
        "--store",
        &url,
        "--store-password-file",
        pw.to_str().expect("path"),
    ];
    let dir = tempdir();
    remembered_across_calls(dir.path(), &store);

    // The old hack's table, as it is: a caller's music class there is the
    // music they get, and a new choice is written back into it on SIGHUP.
    let db2 = db.create_db("old");
    let url2 = db.url(&db2);
    let store2 = [
        "--store",
        &url2,
        "--store-password-file",
        pw.to_str().expect("path"),
    ];
    let bed3 = root().join("sample-audio/music/bed-3-soft.flac");
    db.sql(
        Some(&db2),
        &format!(
            "CREATE TABLE queue_music (src VARCHAR(32) PRIMARY KEY, music_class VARCHAR(255)); \
             INSERT INTO queue_music VALUES ('79009998877', '{}')",
            bed3.display()
        ),
    );
    let pl = memory_playlist(dir.path());
    let tl = call(dir.path(), &pl, "79009998877", &store2, &[(500, "3")], 2);
    assert_eq!(music_start(&tl).0, "bed-3-soft.flac");
    let rows = db.sql(
        Some(&db2),
        "SELECT music_class FROM queue_music WHERE src = '79009998877'",
    );
    let music = rows[0][0].clone().unwrap_or_default();
    assert!(music.ends_with("bed-4-pulse.ogg"), "{rows:?}");
}

/// A respawned call of a known caller resumes from its checkpoint and
/// does not wait for the store: that is the plan, not a fault to warn of.
#[test]
fn a_resumed_call_does_not_warn_that_the_store_was_not_waited_for() {
    let dir = tempdir();
    let pl = memory_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    let db = dir.path().join("store.sqlite3");
    let spec = format!("sqlite:{}", db.display());
    let args = ["--store", &spec, "--uniqueid", "1700000000.42"];
    call(dir.path(), &pl, "79001112233", &args, &[], 2);
    let second = call(dir.path(), &pl, "79001112233", &args, &[], 1);
    let log = log_text(dir.path());
    assert!(log.contains("resuming the call"), "not resumed:\n{log}");
    assert!(!events(&second, "music_start").is_empty(), "{second:?}");
    assert!(!log.contains("did not answer"), "{log}");
}
