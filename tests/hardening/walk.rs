//! Playlists that point at hostile directory trees or hold an absurd number
//! of mistakes: `check` ends, says what is wrong, and writes a report of
//! bounded length (issue 18, findings 3, 4 and 13).

use crate::common::*;
use std::os::unix::fs::symlink;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// `holdmix check --quick PLAYLIST`, killed (and the test failed) if it is
/// still running after `limit`: generous, for a loaded machine.
fn check_within(dir: &std::path::Path, playlist: &std::path::Path, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = holdmix(dir)
        .args(["check", "--quick"])
        .arg(playlist)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn check");
    // Drain stdout in a thread so a long report cannot block the child.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut all).ok();
        all
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("check still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let stdout = reader.join().expect("reader");
    let mut stderr = Vec::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_end(&mut e, &mut stderr).ok();
    }
    (
        Output {
            status,
            stdout,
            stderr,
        },
        elapsed,
    )
}

/// Two links to a parent (as /usr/lib/llvm-14/build has) made a `**` glob
/// exponential: `check` never ended. Now each directory is walked once and
/// each track listed once.
#[test]
fn a_glob_through_links_to_a_parent_ends_with_each_track_once() {
    let dir = tempdir();
    let music = dir.path().join("music");
    let tone = sine(440.0, 0.3, 0.5, 8000);
    for (sub, name) in [("a", "a.wav"), ("a/b", "b.wav"), ("a/b/c", "c.wav")] {
        std::fs::create_dir_all(music.join(sub)).expect("mkdir");
        write_wav(&music.join(sub).join(name), 8000, 1, &tone);
        symlink("..", music.join(sub).join("r1")).expect("symlink");
        symlink("..", music.join(sub).join("r2")).expect("symlink");
    }
    let p = playlist(
        dir.path(),
        "loop.toml",
        "[music]\ntracks = \"music/**/*.wav\"\norder = \"sequential\"\ncrossfade = \"0ms\"\n",
    );
    let (out, took) = check_within(dir.path(), &p, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 errors, 0 warnings"), "{stdout}");
    eprintln!("check of the linked tree took {took:?}");

    // The same tree rendered: the three tracks play, each once in turn.
    let tl = dir.path().join("tl.jsonl");
    ok(holdmix(dir.path())
        .args(["render", p.to_str().expect("path"), "--duration", "3s", "-o"])
        .arg(dir.path().join("out.raw"))
        .arg("--timeline")
        .arg(&tl));
    let names: Vec<String> = events(&timeline(&tl), "music_start")
        .iter()
        .filter_map(|e| e["file"].as_str().map(str::to_string))
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    assert_eq!(
        names[..4],
        ["a.wav", "b.wav", "c.wav", "a.wav"],
        "each track once, in turn"
    );
}

/// 20,000 unknown keys: 50 diagnostics, one line counting the rest, the
/// total; before, 20,000 lines (and time quadratic in them).
#[test]
fn twenty_thousand_errors_give_a_bounded_report() {
    let dir = tempdir();
    let mut text = String::from("[music]\n");
    for i in 0..20_000 {
        text.push_str(&format!("bogus_{i} = 1\n"));
    }
    let p = playlist(dir.path(), "many.toml", &text);
    let (out, took) = check_within(dir.path(), &p, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines.len(), 52, "{}", lines.join("\n"));
    let first = format!("{}:2:1: error: music.bogus_0: unknown key `bogus_0`", p.display());
    assert!(lines[0].starts_with(&first), "{}", lines[0]);
    assert!(lines[49].contains("music.bogus_49:"), "{}", lines[49]);
    assert_eq!(
        lines[50],
        format!(
            "{}: … and 19,950 more errors (only the first 50 are shown)",
            p.display()
        )
    );
    assert_eq!(lines[51], format!("{}: 20000 errors, 0 warnings", p.display()));
    eprintln!("check of 20,000 unknown keys took {took:?}");
}

/// `/dev/zero` as a track exists: it is a device, and `check` says so
/// (it said "does not exist (hint: did you mean "zero"?)").
#[test]
fn a_device_as_a_track_is_named_for_what_it_is() {
    let dir = tempdir();
    let p = playlist(dir.path(), "dev.toml", "[music]\ntracks = \"/dev/zero\"\n");
    let (out, _) = check_within(dir.path(), &p, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let want = format!(
        "{}:2:10: error: music.tracks: /dev/zero is a character device, not a regular file\n",
        p.display()
    );
    assert!(stdout.starts_with(&want), "{stdout}");
}
