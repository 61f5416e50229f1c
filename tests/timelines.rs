//! Per-call timelines in production: `run --timeline-dir DIR` appends each
//! call's timeline to `DIR/<UTC day the call started>/<uniqueid>.jsonl`,
//! across respawned generators, bounded in size and age, in a directory
//! other users cannot write; the log names every prompt, position and key
//! action; the hub's realtime rows carry the flag.

use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod hub;

/// A long tone, a welcome prompt, position announcements and key 3.
fn keyed_playlist(dir: &Path) -> PathBuf {
    let music = dir.join("bed.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 60.0, 8000));
    let pl = playlist(
        dir,
        "keyed.toml",
        &format!(
            r#"{head}
[welcome]
say = ["please-hold"]

[announce.position]
say = ["you-are", {{ say = "ordinal", value = "position" }}, "in-queue"]

[keys]
3 = {{ action = "next-music", debounce = "0s" }}
"#,
            head = speech_head(&music),
        ),
    );
    warm_cache(dir, &pl);
    pl
}

/// A Uniqueid as Asterisk makes them (seconds now, a sequence) and the
/// day directory its calls' files go to.
fn call_id(seq: u32) -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let day = chrono::DateTime::from_timestamp(secs as i64, 0)
        .expect("date")
        .format("%Y-%m-%d")
        .to_string();
    (format!("{secs}.{seq}"), day)
}

/// One generator of a call, its stdin the event feed, its stdout read as
/// Asterisk reads it.
struct Gen {
    child: Child,
    events: std::process::ChildStdin,
    reader: std::thread::JoinHandle<Vec<u8>>,
}

fn start(dir: &Path, pl: &Path, extra: &[&str]) -> Gen {
    let mut child = holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--playlist"])
        .arg(pl)
        .args(["--events", "-", "--state-dir"])
        .arg(dir.join("calls"))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let events = child.stdin.take().expect("stdin");
    let reader = drain(&mut child);
    Gen {
        child,
        events,
        reader,
    }
}

impl Gen {
    fn send(&mut self, line: &str) {
        writeln!(self.events, "{line}").expect("event");
    }

    /// SIGHUP (Asterisk's stop); returns the audio bytes read.
    fn stop(mut self) -> usize {
        signal(&self.child, libc::SIGHUP);
        wait_exit(&mut self.child, Duration::from_secs(10));
        self.reader.join().expect("reader").len()
    }
}

/// Waits (bounded) until `path` holds a line containing `what`.
fn wait_for(path: &Path, what: &str) {
    let t = Instant::now();
    while !std::fs::read_to_string(path).unwrap_or_default().contains(what) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{} never had {what}: {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The file's lines, each parsed (a line cut or interleaved fails here).
fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("timeline file");
    assert!(text.ends_with('\n'), "the last line is whole: {text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not a whole line: {e}")))
        .collect()
}

fn count(tl: &[serde_json::Value], kind: &str) -> usize {
    events(tl, kind).len()
}

#[test]
fn a_call_and_its_respawn_append_to_one_file_under_its_day() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    let tl_dir = dir.join("timelines");
    let (uid, day) = call_id(1);
    let file = tl_dir.join(&day).join(format!("{uid}.jsonl"));
    let args = [
        "--uniqueid",
        &uid,
        "--timeline-dir",
        tl_dir.to_str().expect("path"),
    ];

    let mut g1 = start(dir, &pl, &args);
    wait_for(&file, "prompt_start");
    g1.send("position 4");
    g1.send("dtmf 3");
    wait_for(&file, "next-music");
    assert!(g1.stop() > 0, "the first generator streamed");

    // Asterisk respawns the call's generator after an announcement.
    let mut g2 = start(dir, &pl, &args);
    wait_for(&file, "resume");
    g2.send("dtmf 3");
    let t = Instant::now();
    while count(&lines(&file), "dtmf") < 2 {
        assert!(t.elapsed() < Duration::from_secs(20), "the second key never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(g2.stop() > 0, "the second generator streamed");

    let tl = lines(&file);
    assert_eq!(count(&tl, "exit"), 2, "both generators' lines: {tl:?}");
    assert_eq!(count(&tl, "resume"), 1);
    assert_eq!(events(&tl, "position")[0]["value"], 4);
    assert!(events(&tl, "dtmf").iter().all(|d| d["action"] == "next-music"));
    assert!(
        events(&tl, "prompt_start")
            .iter()
            .any(|p| p["file"].as_str().is_some_and(|f| f.contains("please-hold")))
    );
    // The first generator's lines all come before the second's.
    let first_exit = tl.iter().position(|e| e["event"] == "exit").expect("exit");
    assert!(tl[..first_exit].iter().all(|e| e["event"] != "resume"));
    // Readable by the operator's group, nobody else.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&file).expect("file").mode() & 0o777, 0o640);

    // The log says the same, one line per event, keys by their action.
    let log = log_text(dir);
    let keys: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("timeline: key pressed"))
        .collect();
    assert_eq!(keys.len(), 2, "{log}");
    assert!(
        keys.iter()
            .all(|l| l.contains("action=next-music") && !l.contains("digit")),
        "{keys:?}"
    );
    assert!(
        log.contains("timeline: queue position") && log.contains("position=4"),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("timeline: prompt starts") && l.contains("please-hold")),
        "{log}"
    );
}

#[test]
fn past_the_cap_one_truncated_line_and_nothing_more() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    let tl_dir = dir.join("timelines");
    let (uid, day) = call_id(2);
    let file = tl_dir.join(&day).join(format!("{uid}.jsonl"));
    let mut g = start(
        dir,
        &pl,
        &[
            "--uniqueid",
            &uid,
            "--timeline-dir",
            tl_dir.to_str().expect("path"),
            "--timeline-max",
            "400",
        ],
    );
    for p in (1..=30).rev() {
        g.send(&format!("position {p}"));
    }
    wait_for(&file, "truncated");
    assert!(g.stop() > 0, "the call streamed on past the cap");
    let text = std::fs::read_to_string(&file).expect("file");
    let tl = lines(&file);
    assert_eq!(tl.last().expect("lines")["event"], "truncated", "{text}");
    assert_eq!(count(&tl, "truncated"), 1);
    assert_eq!(count(&tl, "exit"), 0, "nothing after the mark: {text}");
    let before_mark = text.len() - text.lines().last().expect("line").len() - 1;
    assert!(before_mark <= 400, "{before_mark} bytes before the mark");
}

/// Sets a file's modification time `days` days back (`touch -d`).
fn age(path: &Path, days: u32) {
    let ok = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(path)
        .status()
        .expect("touch");
    assert!(ok.success());
}

#[test]
fn old_files_and_days_are_swept_at_most_every_ten_minutes() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    let tl_dir = dir.join("timelines");
    let old_day = tl_dir.join("2020-01-01");
    std::fs::create_dir_all(&old_day).expect("mkdir");
    std::fs::set_permissions(&tl_dir, std::os::unix::fs::PermissionsExt::from_mode(0o750)).expect("chmod");
    let old = old_day.join("1577836800.1.jsonl");
    let (uid, day) = call_id(3);
    let today = tl_dir.join(&day);
    std::fs::create_dir_all(&today).expect("mkdir");
    let stale = today.join("stale.jsonl");
    let recent = today.join("recent.jsonl");
    let other = today.join("notes.txt");
    for f in [&old, &stale, &recent, &other] {
        std::fs::write(f, "{}\n").expect("write");
    }
    for f in [&old, &stale, &other] {
        age(f, 40);
    }
    age(&recent, 20);

    let file = today.join(format!("{uid}.jsonl"));
    let args = [
        "--uniqueid",
        &uid,
        "--timeline-dir",
        tl_dir.to_str().expect("path"),
        "--timeline-days",
        "30",
    ];
    let g = start(dir, &pl, &args);
    wait_for(&file, "music_start");
    // The sweep runs beside the call, not before its first note.
    let t = Instant::now();
    while old_day.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the old day was never swept"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    g.stop();
    assert!(!old.exists() && !old_day.exists(), "the old day is gone");
    assert!(!stale.exists(), "a file older than 30 days is gone");
    assert!(recent.exists(), "a 20-day-old file is kept");
    assert!(other.exists(), "only timeline files are touched");
    assert!(file.exists());

    // Within ten minutes of that sweep, the next call does not sweep.
    age(&recent, 40);
    let (uid2, _) = call_id(4);
    let file2 = today.join(format!("{uid2}.jsonl"));
    let args = [
        "--uniqueid",
        &uid2,
        "--timeline-dir",
        tl_dir.to_str().expect("path"),
        "--timeline-days",
        "30",
    ];
    let g = start(dir, &pl, &args);
    wait_for(&file2, "music_start");
    std::thread::sleep(Duration::from_millis(500));
    g.stop();
    assert!(recent.exists(), "no second sweep within ten minutes");

    // Eleven minutes later (the marker's age says so), the next call sweeps.
    let ok = std::process::Command::new("touch")
        .args(["-d", "11 minutes ago"])
        .arg(tl_dir.join(".swept"))
        .status()
        .expect("touch");
    assert!(ok.success());
    let (uid3, _) = call_id(6);
    let args = [
        "--uniqueid",
        &uid3,
        "--timeline-dir",
        tl_dir.to_str().expect("path"),
        "--timeline-days",
        "30",
    ];
    let g = start(dir, &pl, &args);
    let t = Instant::now();
    while recent.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no sweep after ten minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    g.stop();
}

#[test]
fn a_world_writable_directory_is_refused_and_the_call_streams_on() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    let tl_dir = dir.join("open");
    std::fs::create_dir(&tl_dir).expect("mkdir");
    std::fs::set_permissions(&tl_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let (uid, _) = call_id(5);
    let g = start(
        dir,
        &pl,
        &[
            "--uniqueid",
            &uid,
            "--timeline-dir",
            tl_dir.to_str().expect("path"),
        ],
    );
    let t = Instant::now();
    while !log_text(dir).contains("refused") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no refusal logged: {}",
            log_text(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(g.stop() > 8000, "the caller heard the call");
    let log = log_text(dir);
    let refusal: Vec<&str> = log.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refusal.len(), 1, "logged once: {log}");
    assert!(
        refusal[0].contains(&format!("{}: refused: world-writable", tl_dir.display())),
        "{}",
        refusal[0]
    );
    assert_eq!(
        std::fs::read_dir(&tl_dir).expect("dir").count(),
        0,
        "nothing written there"
    );
}

#[test]
fn without_a_uniqueid_no_file_and_one_line_says_why() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    let tl_dir = dir.join("timelines");
    let mut g = start(dir, &pl, &["--timeline-dir", tl_dir.to_str().expect("path")]);
    g.send("position 2");
    let t = Instant::now();
    while !log_text(dir).contains("timeline: queue position") {
        assert!(t.elapsed() < Duration::from_secs(20), "{}", log_text(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
    g.stop();
    let log = log_text(dir);
    assert_eq!(
        log.matches("this call's timeline is not written").count(),
        1,
        "{log}"
    );
    assert!(!tl_dir.exists(), "no directory made for nothing");
}
