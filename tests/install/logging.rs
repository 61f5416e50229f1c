//! Logs as a packaged service keeps them: `--log FILE` reopened at SIGUSR1
//! (logrotate renames the file, then signals), and `--log journald`.

use crate::common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A one-tone playlist: nothing to decode but a short WAV.
fn tone_playlist(dir: &Path) -> std::path::PathBuf {
    write_wav(&dir.join("tone.wav"), 8000, 1, &sine(440.0, 0.3, 2.0, 8000));
    playlist(dir, "tone.toml", "[music]\ntracks = [\"tone.wav\"]\n")
}

fn wait_for(path: &Path, text: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got.contains(text) {
            return got;
        }
        assert!(
            start.elapsed() < limit,
            "{}: no {text:?} after {limit:?}:\n{got}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigusr1_reopens_the_log_file_and_the_stream_goes_on() {
    let dir = tempdir();
    let list = tone_playlist(dir.path());
    let mut child = spawn_run(dir.path(), &["--playlist", list.to_str().unwrap()]);
    let reader = drain(&mut child);
    let log = dir.path().join("run.log");
    wait_for(&log, "streaming", Duration::from_secs(20));
    // logrotate: rename, then signal; lines after it go to a new file.
    let rotated = dir.path().join("run.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let signalled = Instant::now();
    signal(&child, libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "SIGUSR1 ended the run");
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let audio = reader.join().unwrap();
    let new = std::fs::read_to_string(&log).expect("a new log file after SIGUSR1");
    assert!(new.contains("reason=sighup"), "new file:\n{new}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(
        old.contains("streaming") && !old.contains("reason=sighup"),
        "rotated file:\n{old}"
    );
    // The stream went on through the signal: whole frames, and at least the
    // half second between the two signals (a generous floor: a loaded
    // machine reads late, never less).
    assert_eq!(audio.len() % 320, 0);
    let secs = audio.len() as f64 / 16000.0;
    assert!(secs >= 0.4, "{secs:.2} s of audio in {:?}", signalled.elapsed());
}

#[test]
fn journald_logs_there_or_says_why_not_and_keeps_stderr() {
    let dir = tempdir();
    let list = tone_playlist(dir.path());
    let out = holdmix(dir.path())
        .args(["--log", "journald", "render"])
        .arg(&list)
        .args(["--duration", "1s", "-o"])
        .arg(dir.path().join("out.wav"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if Path::new("/run/systemd/journal/socket").exists() {
        // The journal has the lines: none on stderr.
        assert!(!stderr.contains("rendered"), "{stderr}");
    } else {
        // No journal here (a container): said once, and the lines go on to stderr.
        assert!(
            stderr.contains("journald: ") && stderr.contains("logging to stderr"),
            "{stderr}"
        );
        assert!(stderr.contains("rendered"), "{stderr}");
        assert!(!dir.path().join("journald").exists());
    }
}
