//! Real-time pacing on a real pipe, read the way Asterisk reads it: a fixed
//! read on a timer (40 ms with a timing module, 100 ms without), a short read
//! being a lost read. Also: a key press reaches such a reader quickly.

use crate::common::*;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the reader saw.
struct Reads {
    short: usize,
    /// Bytes waiting in the pipe just before each read, less what the
    /// reader's own lateness explains: a test thread that wakes late on a
    /// loaded machine finds a read's worth more in the pipe for each of the
    /// generator's top-ups it slept past (one a read period, half a frame
    /// from the reads; a blind tick may count the late read as done, as
    /// src/audio/pacer.rs says), the reader's delay and not a burst from
    /// the generator.
    queued: Vec<usize>,
    /// (time after the read, bytes) of each read that got anything.
    chunks: Vec<(Instant, Vec<u8>)>,
    elapsed: Duration,
}

fn queued(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n as usize
}

/// Reads `size` bytes every `every`, non-blocking, for `duration`.
fn read_like_asterisk(
    child: &mut std::process::Child,
    size: usize,
    every: Duration,
    duration: Duration,
) -> Reads {
    let stdout = child.stdout.as_mut().expect("stdout");
    let fd = stdout.as_raw_fd();
    // SAFETY: plain fcntl on our own pipe end.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    // Asterisk's first read comes one timer period after the spawn.
    let start = Instant::now();
    let mut reads = Reads {
        short: 0,
        queued: Vec::new(),
        chunks: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut buf = vec![0u8; size];
    let mut n = 1u32;
    while start.elapsed() < duration {
        let deadline = start + every * n;
        n += 1;
        if let Some(d) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let q = queued(fd);
        // Measured after the look, so a preemption before it counts too.
        let late = Instant::now().saturating_duration_since(deadline).as_secs_f64();
        let passed = ((late - 0.010) / every.as_secs_f64()).ceil().max(0.0) as usize;
        reads.queued.push(q.saturating_sub(passed * size));
        // SAFETY: reading into our own buffer.
        let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), size) };
        if got > 0 {
            reads.chunks.push((Instant::now(), buf[..got as usize].to_vec()));
        }
        if got != size as isize {
            reads.short += 1;
        }
    }
    reads.elapsed = start.elapsed();
    reads
}

fn warm_demo(dir: &Path) {
    ok(holdmix(dir)
        .args(["cache", "warm"])
        .arg(root().join("playlists/demo.toml")));
}

fn pacing(read: usize, every_ms: u64) {
    let dir = tempdir();
    warm_demo(dir.path());
    let demo = root().join("playlists/demo.toml");
    let mut child = spawn_run(dir.path(), &["--playlist", demo.to_str().expect("path")]);
    let r = read_like_asterisk(
        &mut child,
        read,
        Duration::from_millis(every_ms),
        Duration::from_secs(10),
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    eprintln!(
        "max queued {:?} of limit {}",
        r.queued.iter().skip(1).max(),
        read + 640
    );
    assert_eq!(
        r.short, 0,
        "short reads (lost audio); queued before reads: {:?}",
        r.queued
    );
    // Never more than one read plus two frames waiting (the first read may
    // see the start-up lead of 100 ms + one frame, before the read size is known).
    let limit = read + 2 * 320;
    let over: Vec<_> = r.queued.iter().skip(1).filter(|&&q| q > limit).collect();
    assert!(over.is_empty(), "queued over {limit}: {over:?}");
    assert!(r.queued[0] <= 6 * 320, "start-up lead {}", r.queued[0]);
    // Audio, not silence, and frames in step with the clock.
    let audio: Vec<u8> = r.chunks.iter().flat_map(|(_, b)| b.clone()).collect();
    let samples: Vec<f32> = audio
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect();
    assert!(rms(&samples) > 0.01, "the stream carries music");
    let frames = audio.len() / 320;
    let expected = r.elapsed.as_millis() as usize / 20;
    assert!(
        frames.abs_diff(expected) <= (read / 320) + 2,
        "{frames} frames read in {:?}",
        r.elapsed
    );
    let log = log_text(dir.path());
    assert!(
        log.split_whitespace()
            .any(|w| w == format!("read_frames={}", read / 320)),
        "learned the read size:\n{log}"
    );
}

#[test]
fn reader_with_timing_module_40ms() {
    pacing(640, 40);
}

#[test]
fn reader_without_timing_module_100ms() {
    pacing(1600, 100);
}

#[test]
fn a_key_press_acts_at_its_frame_and_is_heard_there() {
    let dir = tempdir();
    write_wav(&dir.path().join("silence.wav"), 8000, 1, &vec![0.0; 8000 * 20]);
    write_wav(
        &dir.path().join("tone.wav"),
        8000,
        1,
        &sine(1000.0, 0.5, 20.0, 8000),
    );
    let pl = playlist(
        dir.path(),
        "p.toml",
        "[music]\ntracks = [\"silence.wav\", \"tone.wav\"]\ncrossfade = 0\n[keys]\n3 = { action = \"next-music\" }\n",
    );
    ok(holdmix(dir.path()).args(["cache", "warm"]).arg(&pl));
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_keyed(dir.path(), &pl, &tl);
    let mut stdin = child.stdin.take().expect("stdin");
    let key = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2000));
        let at = Instant::now();
        stdin.write_all(b"dtmf 3\n").expect("write key");
        stdin.flush().expect("flush");
        (at, stdin)
    });
    let r = read_like_asterisk(&mut child, 640, Duration::from_millis(40), Duration::from_secs(3));
    let (pressed, stdin) = key.join().expect("key thread");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    // Short reads are `pacing`'s business; a loaded machine can starve
    // the generator for a read or two, which does not move the stream
    // (every byte read is kept below).
    eprintln!("short reads: {}", r.short);
    let loud = r
        .chunks
        .iter()
        .find(|(_, b)| {
            let s: Vec<f32> = b
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                .collect();
            rms(&s) > 0.01
        })
        .expect("the tone was heard");
    // How fast a key is heard is the benchmark's (benches/keys.rs, p99 in
    // docs/benchmarks.md); here only a bound no loaded machine reaches
    // unless the key waited for something (a track's end, a prompt).
    let latency = loud.0.duration_since(pressed);
    eprintln!("key heard after {latency:?}");
    assert!(
        latency <= Duration::from_secs(1),
        "heard {latency:?} after the key"
    );
    let tl = timeline(&tl);
    let keys = events(&tl, "dtmf");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["action"], "next-music");
    let switch = events(&tl, "music_switch")[0];
    assert_eq!(switch["to"], "tone.wav");
    // On the stream's own timeline: the key acted at the frame it came
    // in, and the tone starts where the timeline says (the stream read,
    // less a late start's silence), within a frame.
    let at = |e: &serde_json::Value| e["t"].as_f64().expect("t");
    assert!((at(switch) - at(keys[0])).abs() <= 0.021, "{tl:?}");
    let read: Vec<u8> = r.chunks.iter().flat_map(|(_, b)| b.clone()).collect();
    let stream = &read[late_bytes(&tl).min(read.len())..];
    let first_loud = stream
        .chunks_exact(320)
        .position(|f| {
            let s: Vec<f32> = f
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
            rms(&s) > 0.01
        })
        .expect("the tone in the stream");
    // Stream time a stalled reader skipped is not in what was read.
    let skipped: f64 = events(&tl, "stall")
        .iter()
        .filter(|e| at(e) < at(switch))
        .map(|e| e["skipped"].as_f64().unwrap_or(0.0))
        .sum();
    let heard_at = first_loud as f64 * 0.02 + skipped;
    assert!(
        (heard_at - at(switch)).abs() <= 0.041,
        "tone at {heard_at:.3} s of the stream, timeline says {:.3}",
        at(switch)
    );
}

#[test]
fn a_stalled_reader_resumes_in_the_present_without_a_burst() {
    let dir = tempdir();
    warm_demo(dir.path());
    let demo = root().join("playlists/demo.toml");
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            demo.to_str().expect("path"),
            "--timeline",
            tl.to_str().expect("path"),
        ],
    );
    let first = read_like_asterisk(&mut child, 640, Duration::from_millis(40), Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(1500));
    let second = read_like_asterisk(&mut child, 640, Duration::from_millis(40), Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(child.wait().expect("wait").success());
    assert_eq!(first.short + second.short, 0);
    // No burst of stale audio: the pipe held at most one read plus two frames.
    assert!(second.queued.iter().all(|&q| q <= 1280), "{:?}", second.queued);
    // The stream time moved on with the wall clock: the exit is stamped at
    // about 5.5 s, not at the 4 s of audio that were read.
    let exit = events(&timeline(&tl), "exit")[0]["t"].as_f64().expect("t");
    assert!(exit > 5.2, "stream time at exit {exit}");
    assert!(log_text(dir.path()).contains("skipping to the present"));
}
