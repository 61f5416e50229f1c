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

/// A log that does not keep up (here a FIFO held open, full, and not read;
/// a stalled disk or a busy journald alike) costs the call nothing: its
/// audio streams on, SIGHUP still ends it at once, and the lines are
/// written once the log moves again. Before the lines were queued, the
/// first one stopped the audio thread for as long as the log stood still.
#[test]
fn a_log_that_does_not_keep_up_costs_the_call_no_audio_and_no_stop() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempdir();
    let list = tone_playlist(dir.path());
    let log = dir.path().join("run.log");
    let c = std::ffi::CString::new(log.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // Held open for reading (so the run's open and writes find a reader),
    // and filled: its next write waits.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&log)
        .unwrap();
    let filled = fill(&mut fifo);
    let mut child = spawn_run(dir.path(), &["--playlist", list.to_str().unwrap()]);
    // The reader counts what arrives, as Asterisk reads (640 bytes every 40 ms).
    let got = Arc::new(AtomicUsize::new(0));
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn({
        let got = got.clone();
        move || {
            let mut buf = [0u8; 640];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                got.fetch_add(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    });
    // Two seconds of audio (bounded by a generous limit, not timed: a
    // thread stopped by the log never gets there, however long it waits).
    let start = Instant::now();
    while got.load(Ordering::SeqCst) < 2 * 16000 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} bytes of audio in {:?} while the log stood still",
            got.load(Ordering::SeqCst),
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The log moves again: what was logged meanwhile arrives.
    let mut text = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&text).contains("streaming") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no line after the log moved: {}",
            String::from_utf8_lossy(&text[filled.min(text.len())..])
        );
        let mut buf = [0u8; 65536];
        match fifo.read(&mut buf) {
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        text[..filled].iter().all(|&b| b == b'.'),
        "the lines came after what was there"
    );
    // Full again, and the call stopped: SIGHUP still ends it.
    fill(&mut fifo);
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();
}

/// Writes dots into a non-blocking FIFO until it is full; how many.
fn fill(fifo: &mut std::fs::File) -> usize {
    use std::io::Write;
    let mut filled = 0;
    loop {
        match fifo.write(&[b'.'; 4096]) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return filled,
            Err(e) => panic!("{e}"),
        }
    }
}
