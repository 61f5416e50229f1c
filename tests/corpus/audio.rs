//! Crafted sound files (tests/corpus/audio): `check` names the playlist,
//! line, column, key and file and says what is wrong with it; `run` of the
//! same playlist keeps the good track playing.

use super::{Case, cases, dir, tail_rms, tone};
use crate::common::*;
use std::path::Path;
use std::time::Duration;

/// A playlist naming the case's file, then a good track.
fn playlist_for(at: &Path, case: &Case, good: &Path) -> std::path::PathBuf {
    let bad = dir("audio").join(&case.file);
    playlist(
        at,
        "p.toml",
        &format!(
            "[music]\ntracks = [\"{}\", \"{}\"]\n",
            bad.display(),
            good.display()
        ),
    )
}

#[test]
fn check_says_what_is_wrong_with_every_crafted_sound_file() {
    let tmp = tempdir();
    let good = tone(tmp.path(), 2.0);
    for case in cases("audio") {
        let p = playlist_for(tmp.path(), &case, &good);
        let out = holdmix(tmp.path()).arg("check").arg(&p).output().expect("check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir("audio").join(&case.file);
        let line = text.lines().find(|l| l.contains(&case.expect));
        let line = line.unwrap_or_else(|| panic!("{}: want `{}` in:\n{text}", case.file, case.expect));
        match case.outcome.as_str() {
            "error" | "warning" => {
                // Where: the playlist, line 2, the key, and the file.
                let at = format!(
                    "{}:2:11: {}: music.tracks: {}",
                    p.display(),
                    case.outcome,
                    file.display()
                );
                assert!(line.starts_with(&at), "{}: want `{at}…` in:\n{text}", case.file);
            }
            "accepted" => {}
            other => panic!("{}: outcome {other}", case.file),
        }
        let code = if case.outcome == "error" { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(code), "{}:\n{text}", case.file);
    }
}

#[test]
fn run_plays_on_past_every_crafted_sound_file() {
    let tmp = tempdir();
    let good = tone(tmp.path(), 2.0);
    let all = cases("audio");
    let mut children = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let sub = tmp.path().join(format!("c{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let p = playlist_for(&sub, case, &good);
        children.push(spawn_run(&sub, &["--playlist", p.to_str().expect("path")]));
    }
    let readers: Vec<_> = children.iter_mut().map(counted_drain).collect();
    // Two and a half seconds of each stream's own time.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (c, (bytes, _)) in children.iter_mut().zip(&readers) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        wait_for_stream(c, bytes, 320 * 125, left);
    }
    for c in &children {
        signal(c, libc::SIGHUP);
    }
    for ((case, mut c), (_, r)) in all.iter().zip(children).zip(readers) {
        let status = c.wait().expect("wait");
        let pcm = r.join().expect("reader");
        assert!(status.success(), "{}: {status:?}", case.file);
        // 2.5 s of slin, the last half second of it music.
        assert!(pcm.len() >= 320 * 125, "{}: only {} bytes", case.file, pcm.len());
        let level = tail_rms(&pcm, 0.5);
        assert!(level > 0.05, "{}: the music stopped (rms {level})", case.file);
    }
}
