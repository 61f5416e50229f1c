//! Drop-in migration from the old Python + Liquidsoap hack (issue 19): its
//! `queue_music` table exactly as its README creates it
//! (`migration/queue_music.sql`, `music_class` an index into the music
//! list), read and written as it is by the store and by real `holdmix run`
//! processes against a real MariaDB.

use crate::common::mariadb::Mariadb;
use crate::common::*;
use crate::store::{lines_with, log_capture};
use holdmix::store::{Backend, CallerRecord};
use std::io::Write;
use std::time::Duration;

/// The hack's DDL, verbatim.
const HACK_DDL: &str = include_str!("migration/queue_music.sql");
const DAY: Duration = Duration::from_secs(24 * 3600);

fn tracks() -> Vec<String> {
    ["m/a.wav", "m/b.mp3", "m/c.flac", "m/d.ogg"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn choice(music: &str, offset_ms: u64) -> CallerRecord {
    CallerRecord {
        music: Some(music.to_string()),
        offset_ms,
        heard: Default::default(),
        language: None,
    }
}

fn hack_db(db: &Mariadb, name: &str) -> (String, Backend) {
    let name = db.create_db(name);
    db.sql(Some(&name), HACK_DDL);
    // Rows the hack left: an index, NULL, one past the list's end.
    db.sql(
        Some(&name),
        "INSERT INTO queue_music (src, music_class) VALUES
         ('79001112233', 2), ('79004445566', NULL), ('79007778899', 9)",
    );
    let mut b = Backend::open(Some(&db.url(&name)), Some(&db.password_file())).expect("open");
    b.set_tracks(&tracks());
    (name, b)
}

fn class_of(db: &Mariadb, name: &str, src: &str) -> Vec<Vec<Option<String>>> {
    db.sql(
        Some(name),
        &format!("SELECT music_class FROM queue_music WHERE src = '{src}'"),
    )
}

#[test]
fn the_hacks_queue_music_table_is_read_and_written_as_an_index() {
    let db = Mariadb::start();
    let (name, mut b) = hack_db(&db, "hack");
    let now = holdmix::store::unix_now();
    // Read: the index is the playlist's third track.
    let got = b.get_caller("79001112233", now, DAY).expect("read").expect("row");
    assert_eq!(got.music.as_deref(), Some("m/c.flac"));
    assert_eq!(
        b.get_caller("79004445566", now, DAY).expect("read"),
        Some(CallerRecord::default())
    );
    // Write: a new choice goes back as its index, the row keeps its id.
    b.set_caller("79001112233", &choice("m/d.ogg", 1500))
        .expect("write");
    assert_eq!(class_of(&db, &name, "79001112233"), [[Some("3".to_string())]]);
    let got = b.get_caller("79001112233", now, DAY).expect("read").expect("row");
    assert_eq!((got.music.as_deref(), got.offset_ms), (Some("m/d.ogg"), 1500));
    // A new caller gets a new row of the hack's kind.
    b.set_caller("79005550000", &choice("m/a.wav", 0)).expect("write");
    assert_eq!(class_of(&db, &name, "79005550000"), [[Some("0".to_string())]]);
    let ids = db.sql(Some(&name), "SELECT MIN(id) >= 753748 FROM queue_music");
    assert_eq!(ids, [[Some("1".to_string())]]);
    // The old hack changing the choice beside holdmix: its index wins, and
    // holdmix's offset (of another track) is not applied to it.
    db.sql(
        Some(&name),
        "UPDATE queue_music SET music_class = 1 WHERE src = '79001112233'",
    );
    let got = b.get_caller("79001112233", now, DAY).expect("read").expect("row");
    assert_eq!((got.music.as_deref(), got.offset_ms), (Some("m/b.mp3"), 0));
}

#[test]
fn a_mismatched_index_or_track_costs_nothing_but_the_choice() {
    let db = Mariadb::start();
    let (name, mut b) = hack_db(&db, "mismatch");
    let now = holdmix::store::unix_now();
    let (logger, log) = log_capture();
    // Index 9 with four tracks: no choice, one clear line, not an error.
    let got = tracing::dispatcher::with_default(&logger, || b.get_caller("79007778899", now, DAY))
        .expect("an index out of range is not a failed read");
    assert_eq!(got, Some(CallerRecord::default()));
    assert_eq!(
        lines_with(&log, "music_class 9 is outside the playlist's 4 tracks"),
        1
    );
    // A track not in the list (a reloaded playlist) and a number longer
    // than `src char(15)`: written to holdmix's row, queue_music untouched.
    tracing::dispatcher::with_default(&logger, || {
        b.set_caller("79007778899", &choice("m/new.wav", 10))
            .expect("written");
        b.set_caller("7900777889912345", &choice("m/a.wav", 20))
            .expect("written");
    });
    assert_eq!(class_of(&db, &name, "79007778899"), [[Some("9".to_string())]]);
    assert!(class_of(&db, &name, "7900777889912345").is_empty());
    assert_eq!(
        lines_with(&log, "kept in holdmix_caller only"),
        1,
        "once per store"
    );
    let got = b.get_caller("79007778899", now, DAY).expect("read").expect("row");
    assert_eq!((got.music.as_deref(), got.offset_ms), (Some("m/new.wav"), 10));
    let got = b
        .get_caller("7900777889912345", now, DAY)
        .expect("read")
        .expect("row");
    assert_eq!(got.music.as_deref(), Some("m/a.wav"));
    // Without the playlist's list (an ops tool), indexes are not guessed.
    let mut bare = Backend::open(Some(&db.url(&name)), Some(&db.password_file())).expect("open");
    assert_eq!(
        bare.get_caller("79004445566", now, DAY).expect("read"),
        Some(CallerRecord::default())
    );
    let got = bare.get_caller("79001112233", now, DAY).expect("read");
    assert_eq!(got, Some(CallerRecord::default()));
}

/// A real call of the hack's caller: the remembered index picks the music,
/// key 3 moves on, and the new index is in the hack's table after SIGHUP.
/// The store is named by `HOLDMIX_STORE` (what a hub-served generator has).
#[test]
fn a_real_call_uses_the_hacks_table() {
    let db = Mariadb::start();
    let name = db.create_db("call");
    db.sql(Some(&name), HACK_DDL);
    db.sql(
        Some(&name),
        "INSERT INTO queue_music (src, music_class) VALUES ('79009998877', 2)",
    );
    let dir = tempdir();
    let root = root();
    let pl = playlist(
        dir.path(),
        "hack.toml",
        &format!(
            "[music]\ntracks = [\"{}/sample-audio/music\"]\nstart = \"remembered\"\n\n[keys]\n3 = {{ action = \"next-music\" }}\n",
            root.display()
        ),
    );
    warm_cache(dir.path(), &pl);
    let tl = dir.path().join("call.jsonl");
    let url = db.url(&name);
    let pw = db.password_file();
    // No `--store`: the spec from the environment, as a hub's generators
    // get it (they inherit Asterisk's), the password from its variable.
    let password = std::fs::read_to_string(&pw).expect("password");
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .arg("run")
        .args(["--playlist", pl.to_str().expect("path"), "--events", "-"])
        .args([
            "--caller",
            "79009998877",
            "--timeline",
            tl.to_str().expect("path"),
        ])
        .env("HOLDMIX_STORE", &url)
        .env("HOLDMIX_STORE_PASSWORD", password.trim())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn holdmix run");
    let (count, reader) = counted_drain(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    // The stream's own times (a loaded machine starts late, not short).
    stream_reaches(&mut child, &count, 8_000, || {
        format!("by the key: {}", log_text(dir.path()))
    });
    writeln!(stdin, "dtmf 3").expect("key");
    stream_reaches(&mut child, &count, 32_000, || log_text(dir.path()));
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}: {}", log_text(dir.path()));
    reader.join().expect("reader");
    let tl = timeline(&tl);
    let first = events(&tl, "music_start")[0]["file"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(first, "bed-3-soft.flac", "index 2 of the sorted directory");
    assert_eq!(class_of(&db, &name, "79009998877"), [[Some("3".to_string())]]);
    assert!(
        !log_text(dir.path()).contains("refused"),
        "{}",
        log_text(dir.path())
    );
}

/// `order = "repeat-one"`: the old hack's one track over and over until
/// key 3, then the next one over and over; heard in the rendered audio.
#[test]
fn repeat_one_loops_a_track_until_the_caller_switches() {
    let dir = tempdir();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    write_wav(&a, 8000, 1, &sine(300.0, 0.3, 2.0, 8000));
    write_wav(&b, 8000, 1, &sine(500.0, 0.3, 2.0, 8000));
    let pl = playlist(
        dir.path(),
        "loop.toml",
        &format!(
            "[music]\ntracks = [\"{}\", \"{}\"]\norder = \"repeat-one\"\ncrossfade = \"100ms\"\n\n[keys]\n3 = {{ action = \"next-music\" }}\n",
            a.display(),
            b.display()
        ),
    );
    ok(holdmix(dir.path()).args(["check", "--quick"]).arg(&pl));
    let (out, tl) = (dir.path().join("out.wav"), dir.path().join("tl.jsonl"));
    ok(holdmix(dir.path())
        .arg("render")
        .arg(&pl)
        .args(["--duration", "10s", "--event", "5s:dtmf:3", "-o"])
        .arg(&out)
        .arg("--timeline")
        .arg(&tl));
    let tl = timeline(&tl);
    let starts: Vec<(String, i64)> = events(&tl, "music_start")
        .iter()
        .map(|e| {
            let t = e["t"].as_f64().unwrap_or(-1.0);
            (e["file"].as_str().unwrap_or("").to_string(), t.round() as i64)
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("a.wav", 0),
        ("a.wav", 2),
        ("a.wav", 4),
        ("b.wav", 5),
        ("b.wav", 7),
        ("b.wav", 9),
    ]
    .iter()
    .map(|&(f, t)| (f.to_string(), t))
    .collect();
    assert_eq!(starts, want);
    let (rate, s) = read_wav(&out);
    // The first track again after its end, the second after the key.
    let at = |x: f64, f: f32| tone_amplitude(window(&s, rate, x, x + 0.5), f, rate);
    assert!(at(2.5, 300.0) > 0.1 && at(2.5, 500.0) < 0.01, "a again at 2.5 s");
    assert!(at(4.2, 300.0) > 0.1, "a a third time");
    assert!(at(7.5, 500.0) > 0.1 && at(7.5, 300.0) < 0.01, "b again at 7.5 s");
}

/// `playlists/operators.toml` spaces its advices as the hack did (20 s of
/// music between two) and loops the caller's track as it did.
#[test]
fn operators_toml_keeps_the_hacks_spacing_and_loop() {
    let dir = tempdir();
    let pl = root().join("playlists/operators.toml");
    ok(holdmix(dir.path()).args(["check", "--quick"]).arg(&pl));
    let tl = dir.path().join("tl.jsonl");
    ok(holdmix(dir.path())
        .arg("render")
        .arg(&pl)
        .args([
            "--duration",
            "150s",
            "--at",
            "2026-11-23T09:30",
            "--seed",
            "7",
            "-o",
        ])
        .arg(dir.path().join("out.wav"))
        .arg("--timeline")
        .arg(&tl));
    let tl = timeline(&tl);
    let advice = |e: &serde_json::Value| e["file"].as_str().is_some_and(|f| f.ends_with(".ogg"));
    let starts: Vec<f64> = events(&tl, "prompt_start")
        .iter()
        .filter(|e| e["queue"].as_str().is_some_and(|q| q.starts_with("advice/")))
        .filter_map(|e| e["t"].as_f64())
        .collect();
    let ends: Vec<f64> = events(&tl, "prompt_end")
        .iter()
        .filter(|e| advice(e))
        .filter_map(|e| e["t"].as_f64())
        .collect();
    assert!(starts.len() >= 3, "{starts:?}");
    // From one advice's end to the next one's words: the 20 s gap, then the
    // 1 s duck before the words.
    for (end, next) in ends.iter().zip(&starts[1..]) {
        let gap = next - end;
        assert!(
            (20.0..=21.5).contains(&gap),
            "gap {gap:.2} s: ends {ends:?}, starts {starts:?}"
        );
    }
    let music: Vec<&str> = events(&tl, "music_start")
        .iter()
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert!(music.len() >= 10, "an 8 s track over 150 s: {music:?}");
    assert!(music.iter().all(|&f| f == "bed-1-calm.wav"), "{music:?}");
}
