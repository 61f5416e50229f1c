//! The reader (Asterisk) misbehaving: it stalls 5 s and resumes, or it
//! closes the pipe. A stall must not be paid back with a burst of stale
//! audio: what comes after is the present, at most the usual lead ahead.
//! A closed pipe ends the process cleanly with its reason, and the call's
//! checkpoint says how much was heard, for the next generator to resume.

use crate::common::*;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

const FRAME: usize = 320;

/// Bytes waiting in the pipe.
fn queued(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n as usize
}

/// Reads 640 bytes every 40 ms on the reader's own clock for `secs`,
/// non-blocking; returns what was read and, before each read, the bytes
/// found waiting less what the reader's own lateness explains: a test
/// thread that wakes late on a loaded machine finds the top-up of every
/// generator tick it slept past in the pipe, a whole read each (640 bytes:
/// the tick may have counted the read as done, as src/audio/pacer.rs says).
/// The ticks sit half a frame (10 ms) from the reads, so a read later than
/// that passes one tick, and one more every 40 ms. That is the reader's
/// delay, not a burst from the generator.
fn read_for(fd: i32, secs: f64) -> (Vec<u8>, Vec<usize>) {
    let (mut audio, mut waiting) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut buf = [0u8; 640];
    let mut n = 1u32;
    while start.elapsed().as_secs_f64() < secs {
        let at = start + Duration::from_millis(40) * n;
        n += 1;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let q = queued(fd);
        // Measured after the look, so a preemption before it counts too.
        let late = Instant::now().saturating_duration_since(at).as_secs_f64();
        let ticks_passed = ((late - 0.010) / 0.040).ceil().max(0.0) as usize;
        waiting.push(q.saturating_sub(ticks_passed * 2 * FRAME));
        // SAFETY: reading into our own buffer.
        let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if got > 0 {
            audio.extend_from_slice(&buf[..got as usize]);
        }
    }
    (audio, waiting)
}

fn nonblocking(fd: i32) {
    // SAFETY: plain fcntl on our own pipe end.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// The child's stdout, kept (dropping it closes the pipe), and its fd set
/// non-blocking for `read_for`.
fn nonblocking_stdout(child: &mut std::process::Child) -> (std::process::ChildStdout, i32) {
    let stdout = child.stdout.take().expect("stdout");
    let fd = stdout.as_raw_fd();
    nonblocking(fd);
    (stdout, fd)
}

/// A 60 s 400 Hz tone, cached.
fn tone_playlist(dir: &Path) -> std::path::PathBuf {
    write_wav(&dir.join("tone.wav"), 8000, 1, &sine(400.0, 0.5, 60.0, 8000));
    let pl = playlist(dir, "p.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    warm_cache(dir, &pl);
    pl
}

#[test]
fn a_reader_stalled_5_s_resumes_in_the_present_without_a_burst() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
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
    let (stdout, fd) = nonblocking_stdout(&mut child);
    let (before, _) = read_for(fd, 1.5);
    let stalled = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let stall = stalled.elapsed().as_secs_f64();
    let (after, waiting) = read_for(fd, 2.0);
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    drop(stdout);
    assert!(status.success(), "{status:?}");
    let log = log_text(dir.path());

    // No burst: before every read after the stall the pipe held at most
    // one read plus the lead (60-100 ms) and the frame a tick may write as
    // the reader stops (what was waiting when the stall began), never the
    // 5 s missed; and it is back to one read plus two frames within a few
    // reads, as in steady state (see `pacing`).
    let limit = 640 + 6 * FRAME;
    assert!(
        waiting.iter().all(|&q| q <= limit),
        "a burst after the stall: {waiting:?}"
    );
    assert!(
        waiting[5..].iter().all(|&q| q <= 640 + 2 * FRAME),
        "not back to the steady lead: {waiting:?}"
    );

    // The present: the stream's own clock moved on through the stall. At
    // exit (SIGHUP right after the last read) its time is the wall time
    // read before, during and after the stall, not the audio read.
    let exit_t = events(&timeline(&tl), "exit")[0]["t"].as_f64().expect("t");
    let read_s = (before.len() + after.len()) as f64 / 16_000.0;
    assert!(read_s < 3.8, "only what was read: {read_s:.2} s");
    assert!(
        exit_t >= 1.5 + stall + 2.0 - 0.5,
        "stream time {exit_t:.2} s after a {stall:.2} s stall: the stall was not skipped"
    );
    // And it is music, not a gap.
    let pcm: Vec<f32> = after[after.len() / 2..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!(tone_amplitude(&pcm, 400.0, 8000) > 0.05, "the tone plays on");

    // One line for the stall, however many ticks skipped.
    assert_eq!(log.matches("reader stalled").count(), 1, "{log}");
}

#[test]
fn a_reader_that_closes_ends_the_process_cleanly_with_a_checkpoint() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let tl = dir.path().join("tl.jsonl");
    let state = dir.path().join("calls");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            pl.to_str().expect("path"),
            "--timeline",
            tl.to_str().expect("path"),
            "--uniqueid",
            "1795452415.3",
            "--state-dir",
            state.to_str().expect("path"),
        ],
    );
    let (stdout, fd) = nonblocking_stdout(&mut child);
    let (audio, _) = read_for(fd, 2.0);
    drop(stdout);
    let (status, took) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    let tl = timeline(&tl);
    assert_eq!(events(&tl, "exit")[0]["reason"], "reader-gone", "{tl:?}");
    let log = log_text(dir.path());
    assert_eq!(log.matches("reason=reader-gone").count(), 1, "{log}");

    // The checkpoint is of what was heard: the audio read, not what was
    // still in the pipe when it closed.
    let snap = holdmix::state::StateDir::open(Some(&state))
        .expect("state dir")
        .load("1795452415.3")
        .expect("a checkpoint for the next generator");
    let heard_ms = (audio.len() / FRAME * 20) as u64;
    assert!(
        snap.at_ms.abs_diff(heard_ms) <= 200,
        "checkpoint at {} ms, {heard_ms} ms read",
        snap.at_ms
    );
    let music = snap.music.expect("the music's place");
    assert!(music.track.ends_with("tone.wav"), "{:?}", music.track);
}
