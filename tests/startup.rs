//! Start-up never costs the caller the first frames or the stop signals:
//! whatever preparing the call waits for (a playlist on a FIFO nobody
//! writes, a hub that never answers), silence is written on time and
//! SIGTERM ends the process; a call ready late starts its music after that
//! silence, on a timeline that says how long it was.

use crate::common::*;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One frame of 8 kHz s16le.
const FRAME: usize = 320;

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().expect("path")).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Reads the child's stdout in a thread, counting bytes as they come.
fn count_reader(child: &mut std::process::Child) -> (Arc<AtomicUsize>, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let mut out = child.stdout.take().expect("stdout");
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let h = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; FRAME * 2];
        while let Ok(k) = out.read(&mut buf) {
            if k == 0 {
                break;
            }
            all.extend_from_slice(&buf[..k]);
            seen.store(all.len(), Ordering::SeqCst);
        }
        all
    });
    (n, h)
}

/// Waits (bounded) until the reader has seen `bytes`.
fn wait_for_bytes(seen: &AtomicUsize, bytes: usize, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if seen.load(Ordering::SeqCst) >= bytes {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_playlist_nobody_writes_still_gives_frames_and_sigterm_ends_the_run() {
    let dir = tempdir();
    let fifo = dir.path().join("playlist.toml");
    mkfifo(&fifo);
    let mut child = spawn_run(dir.path(), &["--playlist", fifo.to_str().expect("path")]);
    let (seen, reader) = count_reader(&mut child);
    let flowing = wait_for_bytes(&seen, 5 * FRAME, Duration::from_secs(10));
    let sent = Instant::now();
    signal(&child, libc::SIGTERM);
    let (status, took) = wait_exit(&mut child, Duration::from_secs(10));
    let since_signal = sent.elapsed();
    let bytes = reader.join().expect("reader");
    assert!(
        flowing,
        "frames must flow while the playlist's open waits: {} bytes",
        bytes.len()
    );
    assert!(status.success(), "a signal is an ordinary end: {status:?}");
    assert!(bytes.iter().all(|&b| b == 0), "what was written is silence");
    eprintln!("SIGTERM to exit: {since_signal:?} (wait_exit saw {took:?})");
}

/// A hub that takes connections and never says a word: the generator waits
/// for its greeting a while, then goes on without it.
fn mute_hub(path: &Path, for_: Duration) -> std::thread::JoinHandle<()> {
    let l = UnixListener::bind(path).expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut held = Vec::new();
        while start.elapsed() < for_ {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

#[test]
fn a_call_ready_late_starts_in_silence_on_time_then_plays_from_the_start() {
    let dir = tempdir();
    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 8000, 1, &sine(440.0, 0.5, 5.0, 8000));
    let pl = playlist(
        dir.path(),
        "tone.toml",
        &format!("[music]\ntracks = [{:?}]\n", tone.to_str().expect("path")),
    );
    warm_cache(dir.path(), &pl);
    let sock = dir.path().join("hub.sock");
    let hub = mute_hub(&sock, Duration::from_secs(5));
    let tl = dir.path().join("late.jsonl");
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["run", "--playlist", pl.to_str().expect("path"), "--hub"])
        .arg(&sock)
        // A generator the hub would serve: it knows its call.
        .args([
            "--uniqueid",
            "1795734400.7",
            "--hub-token",
            "00112233445566778899aabbccddeeff",
        ])
        .arg("--timeline")
        .arg(&tl)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let reader = drain(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let pcm: Vec<i16> = reader
        .join()
        .expect("reader")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    hub.join().expect("hub");
    let frames: Vec<&[i16]> = pcm.chunks_exact(FRAME / 2).collect();
    let silent = frames.iter().take_while(|f| f.iter().all(|&s| s == 0)).count();
    let tl = timeline(&tl);
    let late = late_bytes(&tl) / FRAME;
    // The hub's greeting is waited for 200 ms: ten frames or so went by in
    // silence; the music then starts from its beginning, on the timeline's
    // time 0 (its first frame may be silent: the track starts at 20 ms).
    assert!(silent >= 5, "silence first, on time: {silent} silent frames");
    assert!(
        (late..=late + 2).contains(&silent),
        "{silent} silent frames, the timeline says {late}: {tl:?}"
    );
    let start = events(&tl, "music_start");
    assert_eq!(
        start.first().map(|e| e["offset"].as_f64()),
        Some(Some(0.0)),
        "{tl:?}"
    );
    let after: Vec<f32> = frames[silent..(silent + 25).min(frames.len())]
        .concat()
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    assert!(after.len() >= 10 * 160, "the music played after the late start");
    let level = tone_amplitude(&after, 440.0, 8000);
    assert!(level > 0.05, "the tone plays right after the silence: {level}");
    assert!(
        log_text(dir.path()).contains("not ready after a frame"),
        "the late start is logged"
    );
}

#[test]
fn a_log_on_a_fifo_nobody_reads_does_not_stop_the_start() {
    let dir = tempdir();
    let log = dir.path().join("log.fifo");
    mkfifo(&log);
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(&log)
        .args(["run", "--playlist"])
        .arg(root().join("playlists/demo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (seen, reader) = count_reader(&mut child);
    let flowing = wait_for_bytes(&seen, 5 * FRAME, Duration::from_secs(10));
    signal(&child, libc::SIGTERM);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    reader.join().expect("reader");
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(flowing, "frames flow with the log's open refused");
    assert!(status.success(), "{status:?}");
    assert!(
        err.contains("log.fifo: cannot open log") && err.contains("reason=sigterm"),
        "the log lines go to stderr instead, with why:\n{err}"
    );
}
