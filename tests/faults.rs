//! Faults around a running call that must not cost the caller the stream:
//! files changed under it. (Signals and slow start-up are in `startup`,
//! servers that go away in `ami`, `billing` and `store`.)

use crate::common::*;
use std::time::Duration;

#[test]
fn a_cache_entry_truncated_while_it_plays_leaves_the_stream_going() {
    let dir = tempdir();
    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 8000, 1, &sine(440.0, 0.5, 30.0, 8000));
    let pl = playlist(
        dir.path(),
        "tone.toml",
        &format!("[music]\ntracks = [{:?}]\n", tone.to_str().expect("path")),
    );
    warm_cache(dir.path(), &pl);
    let entry = std::fs::read_dir(dir.path().join("cache"))
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tone"))
        })
        .expect("the tone's cache entry");
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            pl.to_str().expect("path"),
            "--timeline",
            tl.to_str().expect("path"),
        ],
    );
    let reader = drain(&mut child);
    std::thread::sleep(Duration::from_millis(1000));
    // Cut to its first kilobyte: every page after it is gone.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&entry)
        .expect("open entry")
        .set_len(1024)
        .expect("truncate");
    std::thread::sleep(Duration::from_millis(2000));
    let alive = child.try_wait().expect("try_wait").is_none();
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    let audio = reader.join().expect("reader");
    assert!(
        alive,
        "the generator outlived its cache entry's truncation: {status:?}"
    );
    assert!(status.success(), "{status:?}");
    // Streamed on to the end: about 3 s of frames, not 1.
    assert!(audio.len() >= 16_000 * 2, "{} bytes", audio.len());
    let tl = timeline(&tl);
    assert_eq!(
        events(&tl, "exit").first().map(|e| e["reason"].clone()),
        Some(serde_json::json!("sighup")),
        "{tl:?}"
    );
    let log = log_text(dir.path());
    assert_eq!(log.matches("truncated while it played").count(), 1, "{log}");
}
