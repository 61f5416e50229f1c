//! Hub-mode audio (issue 21, docs/hub-audio.md): a real `hub --audio`
//! (with a scripted AMI server) and real `run --hub` processes whose pipe
//! the test reads as Asterisk does. The pipe crosses to the hub and the
//! hub streams the playlist (measured in the PCM); a SIGHUP to the `run`
//! ends the call at once (the reader sees EOF, the checkpoint is on
//! disk); a hub killed under a call hands it back to the `run`, which goes
//! on streaming; refusals (audio off, a wrong token) stream standalone.

use crate::common::*;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const RATE: u32 = 8000;
const UID: &str = "1795452414.7";

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bytes of `span` of the stream (8 kHz s16le: 16 a millisecond).
fn bytes(span: Duration) -> usize {
    span.as_millis() as usize * 16
}

/// Waits until the call's reader has taken `want` bytes: the stream's own
/// time, which a loaded machine stretches on the wall clock (a late start,
/// a slow hand-over). Fails, with the logs, if the stream stalls or the
/// call ends first.
fn stream_until(dir: &Path, call: &mut Child, count: &AtomicUsize, want: usize) {
    stream_reaches(call, count, want, || logs(dir));
}

/// [`stream_until`] `span` past what the reader has taken now.
fn stream_for(dir: &Path, call: &mut Child, count: &AtomicUsize, span: Duration) {
    let want = count.load(Ordering::SeqCst) + bytes(span);
    stream_until(dir, call, count, want);
}

/// Waits (20 s at most) until the log `name` says the stream started
/// (`streaming format=`, after any silence of a late start); else fails
/// with the logs.
fn wait_streaming(dir: &Path, name: &str) {
    assert!(
        wait_for_text(&dir.join(name), "streaming format=", Duration::from_secs(20)),
        "no stream in {name} within 20 s\n{}",
        logs(dir)
    );
}

/// Every log of `dir`, each under its name (for a failure's message).
fn logs(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| format!("--- {n}:\n{}", read(dir, n)))
        .collect()
}

fn to_f32(pcm: &[u8]) -> Vec<f32> {
    pcm.chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// A playlist of one long 300 Hz track, its cache warm.
fn fixtures(dir: &Path) -> PathBuf {
    write_wav(&dir.join("m.wav"), 16_000, 1, &sine(300.0, 0.25, 60.0, 16_000));
    let pl = playlist(dir, "p.toml", "[music]\ntracks = [\"m.wav\"]\n");
    warm_cache(dir, &pl);
    pl
}

/// A hub on `dir/hub.sock` (with `--audio` when `audio`), its log in
/// `dir/hub.log`, and the token of [`UID`].
fn start_hub(
    dir: &Path,
    audio: bool,
) -> (
    Reaped,
    String,
    std::thread::JoinHandle<Vec<holdmix::ami::codec::Message>>,
) {
    start_hub_in(dir, audio, &dir.join("runtime"))
}

/// [`start_hub`] with the hub's own `XDG_RUNTIME_DIR`.
fn start_hub_in(
    dir: &Path,
    audio: bool,
    runtime: &Path,
) -> (
    Reaped,
    String,
    std::thread::JoinHandle<Vec<holdmix::ami::codec::Message>>,
) {
    start_named_hub(dir, audio, runtime, "hub")
}

/// [`start_hub_in`] on `dir/NAME.sock`, its log in `dir/NAME.log` (the
/// key file, and so the tokens, shared by every hub of `dir`).
fn start_named_hub(
    dir: &Path,
    audio: bool,
    runtime: &Path,
    name: &str,
) -> (
    Reaped,
    String,
    std::thread::JoinHandle<Vec<holdmix::ami::codec::Message>>,
) {
    let (ami, server) = crate::ami::server::serve_script("pw", vec![vec![]]);
    let sock = dir.join(format!("{name}.sock"));
    let token = holdmix::hub::token::Key::load_or_create(&dir.join("hub.key"))
        .unwrap()
        .token(UID);
    let mut cmd = holdmix(dir);
    cmd.env("HOLDMIX_AMI_SECRET", "pw")
        .env("XDG_RUNTIME_DIR", runtime)
        .arg("--log")
        .arg(dir.join(format!("{name}.log")))
        .args(["hub", "--ami", &format!("127.0.0.1:{ami}"), "--socket"])
        .arg(&sock)
        .arg("--key-file")
        .arg(dir.join("hub.key"))
        .args(["--state-dir", "none"]);
    if audio {
        cmd.arg("--audio");
    }
    // A process group of its own, as a hub started from a shell has: a
    // test stops it with its group as Ctrl-Z would.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let hub = Reaped(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the hub's socket", Duration::from_secs(20), || {
        UnixStream::connect(&sock).is_ok()
    });
    (hub, token, server)
}

/// `run --hub` for [`UID`] with `token`, checkpoints in `dir/calls`.
fn spawn_call(dir: &Path, pl: &Path, token: &str) -> Child {
    let mut cmd = holdmix(dir);
    cmd.arg("--log").arg(dir.join("run.log")).arg("run");
    call_args(cmd, dir, pl, token)
}

/// The same call's process as `holdmix-shim` (docs/shim.md): `run`'s
/// arguments, global options among them.
fn spawn_shim(dir: &Path, pl: &Path, token: &str) -> Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_holdmix-shim"));
    cmd.arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--log")
        .arg(dir.join("run.log"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"));
    call_args(cmd, dir, pl, token)
}

fn call_args(cmd: std::process::Command, dir: &Path, pl: &Path, token: &str) -> Child {
    call_args_of(cmd, dir, pl, UID, token)
}

fn call_args_of(mut cmd: std::process::Command, dir: &Path, pl: &Path, uid: &str, token: &str) -> Child {
    cmd.arg("--playlist")
        .arg(pl)
        .arg("--hub")
        .arg(dir.join("hub.sock"))
        .args(["--uniqueid", uid, "--hub-token", token, "--state-dir"])
        .arg(dir.join("calls"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The count of bytes a call's reader has taken so far (see
/// [`counted_drain`]), and the reader.
type Audio = (Arc<AtomicUsize>, std::thread::JoinHandle<Vec<u8>>);

/// A hub with audio and the call handed over to it (by `run --hub`, or by
/// the shim): the hub, the call's process and its reader (with its count).
fn hosted_call(dir: &Path, pl: &Path, shim: bool) -> (Reaped, Child, Audio) {
    let (hub, token, _ami) = start_hub(dir, true);
    let (call, audio) = hand_call(dir, pl, &token, shim);
    (hub, call, audio)
}

/// A call handed over to the hub already running: its process and reader
/// (with its count).
fn hand_call(dir: &Path, pl: &Path, token: &str, shim: bool) -> (Child, Audio) {
    let mut call = if shim {
        spawn_shim(dir, pl, token)
    } else {
        spawn_call(dir, pl, token)
    };
    let audio = counted_drain(&mut call);
    wait_for("the hub's word", Duration::from_secs(20), || {
        read(dir, "hub.log").contains("hand-over taken")
    });
    (call, audio)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn short_dir() -> tempfile::TempDir {
    // Socket paths have a length limit.
    tempfile::Builder::new()
        .prefix("ha")
        .rand_bytes(4)
        .tempdir_in("/tmp")
        .unwrap()
}

/// The track's tone over the last second read: the playlist, not silence.
fn assert_music(pcm: &[u8], what: &str) {
    let s = to_f32(pcm);
    assert!(s.len() > RATE as usize * 2, "{what}: {} samples only", s.len());
    let last = &s[s.len() - RATE as usize..];
    let tone = tone_amplitude(last, 300.0, RATE);
    assert!(tone > 0.05, "{what}: 300 Hz at {tone}");
}

#[test]
fn the_pipe_crosses_to_the_hub_which_streams_the_call_until_sighup() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, mut call, (count, audio)) = hosted_call(dir, &pl, false);
    // The run logs the hub's `OK` after the hub logged taking the call.
    wait_for("the run's word", Duration::from_secs(20), || {
        read(dir, "run.log").contains("the hub streams the call")
    });
    // The run process waits: the hub writes (three seconds of the stream
    // from its start, whatever the wall clock says).
    wait_streaming(dir, "hub.log");
    stream_for(dir, &mut call, &count, Duration::from_secs(3));
    signal(&call, libc::SIGHUP);
    let (status, _) = wait_exit(&mut call, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    // Both writers gone (the run's stdout and the hub's copy): EOF.
    let t = Instant::now();
    let pcm = audio.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "the hub kept the pipe open");
    assert_music(&pcm, "through the hub");
    let log = read(dir, "hub.log");
    assert!(log.contains("hosted call ended by its client"), "{log}");
    // The checkpoint at exit, where a standalone run would keep it.
    let kept = checkpoint_files(&dir.join("calls"), None);
    assert!(
        !kept.is_empty(),
        "no checkpoint in {}",
        dir.join("calls").display()
    );
    hub.kill().ok();
    hub.wait().ok();
}

#[test]
fn a_hub_killed_under_a_call_hands_it_back() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, mut call, (count, audio)) = hosted_call(dir, &pl, false);
    kill_two_seconds_in(dir, &mut hub, &mut call, &count);
    wait_for("the take-over", Duration::from_secs(20), || {
        read(dir, "run.log").contains("taking the call over")
    });
    wait_for_take_over(dir);
    // Two seconds of the run's own stream, whatever the wall clock says.
    stream_for(dir, &mut call, &count, Duration::from_secs(2));
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    let pcm = audio.join().unwrap();
    assert_music(&pcm, "after the take-over");
    // A restarted hub takes new calls.
    let (mut hub, token, _ami) = start_hub(dir, true);
    std::fs::remove_file(dir.join("run.log")).ok();
    let mut call = spawn_call(dir, &pl, &token);
    let audio = drain(&mut call);
    wait_for("the new hub's word", Duration::from_secs(20), || {
        read(dir, "run.log").contains("the hub streams the call")
    });
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    audio.join().unwrap();
    hub.kill().ok();
    hub.wait().ok();
}

#[test]
fn refused_hand_overs_stream_standalone() {
    for (audio, token_ok, why) in [(false, true, "audio off"), (true, false, "unauthorised")] {
        let tmp = short_dir();
        let dir = tmp.path();
        let pl = fixtures(dir);
        let (mut hub, token, _ami) = start_hub(dir, audio);
        let token = if token_ok { token } else { "00".repeat(16) };
        let mut call = spawn_call(dir, &pl, &token);
        let (count, pcm) = counted_drain(&mut call);
        wait_for("the refusal", Duration::from_secs(20), || {
            read(dir, "run.log").contains(why)
        });
        // Three seconds of the run's own stream from its start (logged
        // after the refusal's word).
        wait_streaming(dir, "run.log");
        let log = read(dir, "run.log");
        assert!(log.contains("streaming here"), "{why}: {log}");
        stream_for(dir, &mut call, &count, Duration::from_secs(3));
        signal(&call, libc::SIGHUP);
        wait_exit(&mut call, Duration::from_secs(20));
        assert_music(&pcm.join().unwrap(), why);
        assert!(!read(dir, "hub.log").contains("hand-over taken"), "{why}");
        hub.kill().ok();
        hub.wait().ok();
    }
}

#[test]
fn the_engine_ending_a_hosted_call_ends_the_run_with_end() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, token, _ami) = start_hub(dir, true);
    // The call's events from a FIFO the test writes once the hub hosts it.
    let fifo = dir.join("events");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut call = holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--playlist"])
        .arg(&pl)
        .arg("--events")
        .arg(&fifo)
        .arg("--hub")
        .arg(dir.join("hub.sock"))
        .args(["--uniqueid", UID, "--hub-token", &token, "--state-dir"])
        .arg(dir.join("calls"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (count, audio) = counted_drain(&mut call);
    wait_for("the hub's word", Duration::from_secs(20), || {
        read(dir, "hub.log").contains("hand-over taken")
    });
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    // Over two seconds of the hosted stream (the music heard), whatever
    // the wall clock says.
    wait_streaming(dir, "hub.log");
    stream_for(dir, &mut call, &count, Duration::from_millis(2500));
    std::io::Write::write_all(&mut w, b"hangup\n").unwrap();
    drop(w);
    // No signal: the hub ends the call, says END, and the run exits with it.
    if exit_within(&mut call, Duration::from_secs(20)).is_none() {
        call.kill().ok();
        panic!("run: {}\nhub: {}", read(dir, "run.log"), read(dir, "hub.log"));
    }
    let status = call.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let pcm = audio.join().unwrap();
    assert_music(&pcm, "before the hangup");
    assert!(
        read(dir, "run.log").contains("the hub ended the call"),
        "{}",
        read(dir, "run.log")
    );
    let log = read(dir, "hub.log");
    assert!(
        log.contains("hosted call ended") && log.contains("hangup"),
        "{log}"
    );
    hub.kill().ok();
    hub.wait().ok();
}

/// The hub's CPU for N hosted calls (not a check: figures for
/// docs/hub-audio.md; `cargo test --test integration hubaudio::measure --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn measure_hub_cpu_per_hosted_call() {
    let ticks = |pid: u32| -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    for n in [1usize, 10, 40] {
        let tmp = short_dir();
        let dir = tmp.path();
        let pl = fixtures(dir);
        let (mut hub, _, _ami) = start_hub(dir, true);
        let key = holdmix::hub::token::Key::load_or_create(&dir.join("hub.key")).unwrap();
        let mut calls = Vec::new();
        for i in 0..n {
            let uid = format!("1795452414.{}", 100 + i);
            let mut c = holdmix(dir)
                .arg("--log")
                .arg(dir.join(format!("run{i}.log")))
                .args(["run", "--playlist"])
                .arg(&pl)
                .arg("--hub")
                .arg(dir.join("hub.sock"))
                .args(["--uniqueid", &uid, "--hub-token", &key.token(&uid), "--state-dir"])
                .arg(dir.join("calls"))
                .env_remove("CHANNEL")
                .env_remove("UNIQUEID")
                .env_remove("PHONE")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let a = drain(&mut c);
            calls.push((c, a));
        }
        std::thread::sleep(Duration::from_secs(3));
        let hosted = std::fs::read_to_string(dir.join("hub.log"))
            .unwrap()
            .matches("hand-over taken")
            .count();
        let run_cpu0: f64 = calls.iter().map(|(c, _)| ticks(c.id())).sum();
        let (c0, t0) = (ticks(hub.id()), Instant::now());
        std::thread::sleep(Duration::from_secs(10));
        let (c1, t1) = (ticks(hub.id()), t0.elapsed().as_secs_f64());
        let run_cpu1: f64 = calls.iter().map(|(c, _)| ticks(c.id())).sum();
        println!(
            "N={n} hosted={hosted}: hub {:.3} % of a core ({:.4} % per call); the waiting runs {:.4} % per call",
            100.0 * (c1 - c0) / t1,
            100.0 * (c1 - c0) / t1 / n as f64,
            100.0 * (run_cpu1 - run_cpu0) / t1 / n as f64
        );
        for (c, a) in calls {
            signal(&c, libc::SIGHUP);
            let mut c = c;
            wait_exit(&mut c, Duration::from_secs(20));
            a.join().unwrap();
        }
        hub.kill().ok();
        hub.wait().ok();
    }
}

/// `holdmix-shim` (docs/shim.md) against a real `hub --audio`: the tiny
/// per-call process hands its pipe over like `run --hub` does, the hub
/// streams the playlist, and a SIGHUP to the shim ends the call at once
/// (the reader sees EOF: the hub closed its copy too).
#[test]
fn the_shim_hands_its_pipe_to_a_real_hub() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, mut call, (count, audio)) = hosted_call(dir, &pl, true);
    // Three seconds of the stream from its start, the hub's or (taken
    // over, below) the client's own.
    wait_for("the stream", Duration::from_secs(20), || {
        read(dir, "hub.log").contains("streaming format=")
            || read(dir, "run.log").contains("streaming format=")
    });
    stream_for(dir, &mut call, &count, Duration::from_secs(3));
    // Still the shim, as a rule. Under a heavy load it has been seen to
    // take a live call over (seamlessly, from the checkpoint: the stream
    // goes on) when a just-started hub was slow to start the call: then
    // the full binary streams it, which is what a caller hears either way.
    let exe = std::fs::read_link(format!("/proc/{}/exe", call.id())).unwrap();
    let still_shim = exe.to_string_lossy().contains("holdmix-shim");
    if !still_shim {
        let log = read(dir, "run.log");
        eprintln!("the shim took the call over: {log}");
        assert!(log.contains("resuming the call"), "{log}");
    }
    signal(&call, libc::SIGHUP);
    let (status, _) = wait_exit(&mut call, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let t = Instant::now();
    let pcm = audio.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "the hub kept the pipe open");
    assert_music(&pcm, "through the hub, from the shim");
    let log = read(dir, "hub.log");
    assert!(
        log.contains(if still_shim {
            "hosted call ended by its client"
        } else {
            "the client took the call over"
        }),
        "{log}"
    );
    hub.kill().ok();
    hub.wait().ok();
}

/// A track of deterministic noise at 8 kHz: every 100 ms of it is unlike
/// any other, so where a block of the stream comes from in the track can
/// be found (see [`track_positions`]).
fn noise_fixtures(dir: &Path) -> (PathBuf, Vec<f32>) {
    let mut x: u32 = 0x1234_5678;
    let track: Vec<f32> = (0..RATE as usize * 60)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.5
        })
        .collect();
    write_wav(&dir.join("n.wav"), RATE, 1, &track);
    let pl = playlist(dir, "n.toml", "[music]\ntracks = [\"n.wav\"]\n");
    warm_cache(dir, &pl);
    (pl, track)
}

/// Normalised correlation of `a` with `b` (same length).
fn ncc(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// For each 100 ms block of `pcm`: where in `track` it was taken from (in
/// samples), or `None` for a block that matches nowhere (silence, a
/// fade). Searched near where the previous block says it should be, so
/// the stream's own timeline says what was skipped or repeated.
fn track_positions(pcm: &[f32], track: &[f32]) -> Vec<Option<usize>> {
    let block = RATE as usize / 10;
    let mut out = Vec::new();
    let mut expect: Option<usize> = None;
    for b in pcm.chunks_exact(block) {
        let (lo, hi) = match expect {
            Some(e) => (e.saturating_sub(RATE as usize), e + RATE as usize),
            None => (0, track.len() - block),
        };
        let best = (lo..hi.min(track.len() - block))
            .map(|p| (ncc(b, &track[p..p + block]), p))
            .fold((0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
        let found = (best.0 > 0.95).then_some(best.1);
        if let Some(p) = found {
            expect = Some(p + block);
        } else if let Some(e) = expect.as_mut() {
            *e += block;
        }
        out.push(found);
    }
    out
}

/// The same call through the hub and standalone: the same engine writes
/// the same samples (past the first second, whose fade-in starts wherever
/// a late start put it), at the same place in the track.
#[test]
fn hub_mode_and_standalone_write_the_same_samples() {
    let tmp = short_dir();
    let dir = tmp.path();
    let (pl, track) = noise_fixtures(dir);
    let mut solo = holdmix(dir)
        .arg("--log")
        .arg(dir.join("solo.log"))
        .args(["run", "--playlist"])
        .arg(&pl)
        .env_remove("UNIQUEID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (count, solo_audio) = counted_drain(&mut solo);
    // Three seconds of each stream from its start (past a late start's
    // silence), whatever the wall clock says.
    wait_streaming(dir, "solo.log");
    stream_for(dir, &mut solo, &count, Duration::from_secs(3));
    signal(&solo, libc::SIGHUP);
    wait_exit(&mut solo, Duration::from_secs(20));
    let (mut hub, mut call, (count, hub_audio)) = hosted_call(dir, &pl, false);
    wait_streaming(dir, "hub.log");
    stream_for(dir, &mut call, &count, Duration::from_secs(3));
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    hub.kill().ok();
    hub.wait().ok();
    let (a, b) = (
        to_f32(&solo_audio.join().unwrap()),
        to_f32(&hub_audio.join().unwrap()),
    );
    // Each stream's second second, found in the track.
    let second = |s: &[f32]| {
        let start = s.iter().position(|x| *x != 0.0).unwrap_or(0) + RATE as usize;
        assert!(s.len() > start + RATE as usize, "{} samples only", s.len());
        let p = track_positions(&s[start..start + RATE as usize / 10], &track)[0]
            .expect("the second second is the track's");
        (start, p)
    };
    let ((sa, pa), (sb, pb)) = (second(&a), second(&b));
    // The hub's sample of the track's place `pa + k` is at `sb + pa - pb + k`:
    // a second of them, bit for bit (the same gains, fades and limiter).
    let n = RATE as usize;
    let at = (sb + pa)
        .checked_sub(pb)
        .expect("aligned inside the hub's stream");
    assert!(b.len() >= at + n, "the hub's stream is too short");
    let same = a[sa..sa + n]
        .iter()
        .zip(&b[at..at + n])
        .filter(|(x, y)| x == y)
        .count();
    assert_eq!(
        same, n,
        "standalone at track {pa}, hub at {pb}: {same} of {n} samples the same"
    );
}

/// A hub killed under a call: the `run` takes it over from the checkpoint,
/// and the stream's own content says how well (see [`assert_seamless`]).
#[test]
fn a_hub_killed_under_a_call_leaves_no_gap_in_the_track() {
    let tmp = short_dir();
    let dir = tmp.path();
    let (pl, track) = noise_fixtures(dir);
    let (mut hub, mut call, (count, audio)) = hosted_call(dir, &pl, false);
    kill_two_seconds_in(dir, &mut hub, &mut call, &count);
    wait_for("the take-over", Duration::from_secs(20), || {
        read(dir, "run.log").contains("taking the call over")
    });
    // Resumed (else this fails), then two seconds of the run's own stream.
    wait_for_take_over(dir);
    stream_for(dir, &mut call, &count, Duration::from_secs(2));
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    let pcm = to_f32(&audio.join().unwrap());
    assert_seamless(&pcm, &track, "killed");
}

/// SIGKILLs the hub two seconds into the hosted stream (the stream's own
/// time: `count` is what `call`'s reader took). A hub just started holds
/// a hosted call's start (silence) until it has its lists: the 2 s count
/// from the stream's start.
fn kill_two_seconds_in(dir: &Path, hub: &mut Reaped, call: &mut Child, count: &AtomicUsize) {
    wait_streaming(dir, "hub.log");
    stream_for(dir, call, count, Duration::from_secs(2));
    hub.kill().unwrap();
    hub.wait().unwrap();
}

/// A hub killed under a call whose client names a standby hub (`-S`): the
/// standby resumes the call from the hub's checkpoint, the client never
/// streams it itself, and the track goes on (see [`assert_seamless`]).
fn a_killed_hubs_call_goes_to_the_standby(shim: bool) {
    let tmp = short_dir();
    let dir = tmp.path();
    let (pl, track) = noise_fixtures(dir);
    let (mut hub, token, _ami) = start_hub(dir, true);
    let (_standby, _, _ami2) = start_named_hub(dir, true, &dir.join("runtime"), "standby");
    let standby = dir.join("standby.sock");
    let standby = standby.to_str().unwrap();
    let mut call = if shim {
        spawn_shim_with(dir, &pl, &token, &["-S", standby])
    } else {
        let mut cmd = holdmix(dir);
        cmd.arg("--log")
            .arg(dir.join("run.log"))
            .args(["run", "-S", standby]);
        call_args(cmd, dir, &pl, &token)
    };
    let (count, audio) = counted_drain(&mut call);
    kill_two_seconds_in(dir, &mut hub, &mut call, &count);
    // Two seconds of the standby's stream, whatever the wall clock says.
    wait_streaming(dir, "standby.log");
    stream_for(dir, &mut call, &count, Duration::from_secs(2));
    if shim {
        still_the_shim(&call, dir);
    }
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    let pcm = to_f32(&audio.join().unwrap());
    assert_seamless(&pcm, &track, if shim { "standby, shim" } else { "standby, run" });
    let log = read(dir, "standby.log");
    assert!(log.contains("resuming the call"), "{log}");
    assert!(log.contains("hosted call ended by its client"), "{log}");
    // The client never streamed the call itself.
    let run = read(dir, "run.log");
    assert!(!run.contains("streaming format="), "{run}");
}

#[test]
fn a_killed_hubs_call_goes_to_the_standby_hub_from_the_shim() {
    a_killed_hubs_call_goes_to_the_standby(true);
}

#[test]
fn a_killed_hubs_call_goes_to_the_standby_hub_from_run() {
    a_killed_hubs_call_goes_to_the_standby(false);
}

/// A stream taken over from the hub: every 100 ms block after the take-over
/// comes from the track where the one before it ended, give or take 150 ms
/// (the checkpoint's resolution and the silence of the take-over), and no
/// more than 100 ms of silence comes between.
fn assert_seamless(pcm: &[f32], track: &[f32], what: &str) {
    assert_resumed(pcm, track, what, Duration::from_millis(100), false);
}

/// [`assert_seamless`] with at most `silence` heard between the two, and
/// with `paused`, the track may also have paused across it (a resume
/// that waited, in silence, where it was heard).
fn assert_resumed(pcm: &[f32], track: &[f32], what: &str, silence: Duration, paused: bool) {
    let limit = (silence.as_millis() as usize) * RATE as usize / 1000;
    let start = pcm.iter().position(|x| *x != 0.0).unwrap_or(0) + RATE as usize;
    let blocks = track_positions(&pcm[start..], track);
    let block = RATE as usize / 10;
    let mut last: Option<usize> = None;
    let mut silent = 0;
    let mut worst = 0i64;
    for (i, p) in blocks.iter().enumerate() {
        match (p, last) {
            (Some(p), Some(l)) => {
                // Where this block is against where the last found one
                // ended, less the blocks between (silence is not music);
                // or, `paused`, not less them if that is nearer.
                let raw = *p as i64 - (l + block) as i64;
                let through = raw - (silent * block) as i64;
                let moved = if paused && raw.abs() < through.abs() {
                    raw
                } else {
                    through
                };
                worst = worst.max(moved.abs());
                assert!(
                    moved.abs() <= RATE as i64 * 15 / 100,
                    "{what}: block {i}: {moved} samples off the track's timeline ({silent} silent before)"
                );
                // A gap touches at most one block more than it fills.
                assert!(
                    silent <= limit.div_ceil(block) + 1,
                    "{what}: block {i}: {silent} blocks without the track before it"
                );
                silent = 0;
            }
            (None, Some(_)) => silent += 1,
            _ => {}
        }
        last = p.or(last);
    }
    // The track heard on both sides of the take-over (about 2 s each).
    assert!(blocks.iter().flatten().count() > 20, "{what}: {blocks:?}");
    // Silence at the reader: the longest run of zero samples (the noise
    // track has none), on the stream's own timeline.
    let gap = pcm[start..]
        .split(|x| *x != 0.0)
        .map(<[f32]>::len)
        .max()
        .unwrap_or(0);
    eprintln!(
        "{what}: take-over: worst jump {:.1} ms, longest silence {:.1} ms",
        worst as f64 / 8.0,
        gap as f64 / 8.0
    );
    assert!(gap <= limit, "{what}: {gap} samples of silence");
}

/// The hub's audio watchdog (`holdmix hub-watchdog`, a child of the hub)
/// other than `not`, once it runs.
fn watchdog_of(hub: &Child, not: Option<u32>) -> u32 {
    let mut found = None;
    wait_for("the hub's watchdog", Duration::from_secs(20), || {
        found = children(hub.id())
            .into_iter()
            .find(|pid| Some(*pid) != not && cmdline(*pid).contains("hub-watchdog"));
        found.is_some()
    });
    found.unwrap()
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn still_the_shim(call: &Child, dir: &Path) {
    let exe = std::fs::read_link(format!("/proc/{}/exe", call.id())).unwrap();
    assert!(
        exe.to_string_lossy().contains("holdmix-shim"),
        "the shim took the call over: {}",
        read(dir, "run.log")
    );
}

/// A hosted call with no `--state-dir` keeps its checkpoints in its
/// client's default directory (from the `XDG_RUNTIME_DIR` handed over),
/// not the hub's: the shim's take-over after the hub's death finds them
/// and resumes the call.
#[test]
fn a_hosted_calls_checkpoints_are_where_its_client_looks() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, token, _ami) = start_hub_in(dir, true, &dir.join("hub-runtime"));
    let sock = dir.join("hub.sock");
    let mut call = std::process::Command::new(env!("CARGO_BIN_EXE_holdmix-shim"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--log")
        .arg(dir.join("run.log"))
        .env("XDG_RUNTIME_DIR", dir.join("client-runtime"))
        .arg("--playlist")
        .arg(&pl)
        .arg("--hub")
        .arg(&sock)
        .args(["--uniqueid", UID, "--hub-token", &token])
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (streamed, audio) = counted_drain(&mut call);
    wait_for("the hub's word", Duration::from_secs(20), || {
        read(dir, "hub.log").contains("hand-over taken")
    });
    let count = |d: &Path| checkpoint_files(d, None).len();
    let client = dir.join("client-runtime/holdmix/calls");
    wait_for(
        "a checkpoint in the client's directory",
        Duration::from_secs(20),
        || count(&client) > 0,
    );
    assert_eq!(
        count(&dir.join("hub-runtime/holdmix/calls")),
        0,
        "a checkpoint in the hub's own directory"
    );
    // Two seconds hosted, then the hub's death: the take-over resumes
    // from there, not from the start.
    kill_two_seconds_in(dir, &mut hub, &mut call, &streamed);
    wait_for("the resumed call", Duration::from_secs(20), || {
        read(dir, "run.log").contains("resuming the call")
    });
    let log = read(dir, "run.log");
    let from_ms: u64 = log
        .split("resuming the call from_ms=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no resume point in {log}"));
    assert!(from_ms >= 1500, "resumed from {from_ms} ms: {log}");
    // Three seconds of the resumed stream, whatever the wall clock says.
    stream_for(dir, &mut call, &streamed, Duration::from_secs(3));
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    assert_music(&audio.join().unwrap(), "after the take-over");
}

/// The call's process as `holdmix-shim` with `extra` arguments after the
/// usual ones (hub, Uniqueid, token, `--state-dir`).
fn spawn_shim_with(dir: &Path, pl: &Path, token: &str, extra: &[&str]) -> Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_holdmix-shim"));
    cmd.arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--log")
        .arg(dir.join("run.log"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .args(extra);
    call_args(cmd, dir, pl, token)
}

/// Reads `out` until `found` holds for the last 0.25 s read, at most
/// `limit` of audio (the stream's own time, not the wall clock's); the
/// audio read so far, and whether it was found.
fn read_until(
    out: &mut std::process::ChildStdout,
    limit: Duration,
    found: impl Fn(&[f32]) -> bool,
) -> (Vec<u8>, bool) {
    use std::io::Read;
    let window = RATE as usize / 4 * 2;
    let mut pcm = Vec::new();
    let mut buf = [0u8; 3200];
    while pcm.len() < limit.as_millis() as usize * 16 {
        let n = out.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        pcm.extend_from_slice(&buf[..n]);
        if pcm.len() >= window && pcm.len() % window < n && found(&to_f32(&pcm[pcm.len() - window..])) {
            return (pcm, true);
        }
    }
    (pcm, false)
}

/// Hot reload reaches a hosted call: its playlist's file changes, and the
/// hub plays the new version of it (measured in the PCM, within the
/// stream's first 20 s), still hosting it. A reload keeps the track that
/// plays (tests/scenario/reload.rs), so the first version's track is 3 s
/// long and the next one comes from the new version. (This test passed
/// before for another reason: its shim, looking at a pipe that its greedy
/// reader kept empty, took the call over and resumed it with the new
/// version; a watched shim no longer looks.)
#[test]
fn a_hosted_call_plays_its_playlist_as_changed() {
    let tmp = short_dir();
    let dir = tmp.path();
    write_wav(&dir.join("m.wav"), 16_000, 1, &sine(300.0, 0.25, 3.0, 16_000));
    let pl = playlist(dir, "p.toml", "[music]\ntracks = [\"m.wav\"]\n");
    warm_cache(dir, &pl);
    write_wav(&dir.join("n.wav"), 16_000, 1, &sine(700.0, 0.25, 60.0, 16_000));
    let next = playlist(dir, "next.toml", "[music]\ntracks = [\"n.wav\"]\n");
    warm_cache(dir, &next);
    let (mut hub, token, _ami) = start_hub(dir, true);
    let mut call = spawn_shim(dir, &pl, &token);
    let mut out = call.stdout.take().unwrap();
    let tone = |f: f32| move |s: &[f32]| tone_amplitude(s, f, RATE) > 0.05;
    let (before, playing) = read_until(&mut out, Duration::from_secs(10), tone(300.0));
    assert!(playing, "no 300 Hz in {} bytes", before.len());
    assert!(read(dir, "hub.log").contains("hand-over taken"), "not hosted");
    // A save replacing the file, as an editor does.
    std::fs::copy(&next, dir.join("p.toml.new")).unwrap();
    std::fs::rename(dir.join("p.toml.new"), &pl).unwrap();
    let (after, changed) = read_until(&mut out, Duration::from_secs(20), tone(700.0));
    assert!(
        changed,
        "the new playlist not heard in {:.1} s of stream: {}",
        after.len() as f32 / 16_000.0,
        read(dir, "hub.log")
    );
    let log = read(dir, "hub.log");
    assert!(log.contains("playlist reloaded"), "{log}");
    assert!(!log.contains("the client took the call over"), "{log}");
    still_the_shim(&call, dir);
    signal(&call, libc::SIGHUP);
    drop(out);
    wait_exit(&mut call, Duration::from_secs(20));
    hub.kill().ok();
    hub.wait().ok();
}

/// A hosted call remembers its caller as a standalone one does: at its
/// end the hub writes where the caller was in the music to the store.
#[test]
fn a_hosted_call_remembers_its_caller() {
    let tmp = short_dir();
    let dir = tmp.path();
    fixtures(dir);
    let pl = playlist(
        dir,
        "r.toml",
        "[music]\ntracks = [\"m.wav\"]\nstart = \"remembered\"\n",
    );
    warm_cache(dir, &pl);
    let spec = format!("sqlite:{}", dir.join("store.sqlite3").display());
    let (mut hub, token, _ami) = start_hub(dir, true);
    let mut call = spawn_shim_with(
        dir,
        &pl,
        &token,
        &[
            "--caller",
            "79001112233",
            "--store",
            &spec,
            "--store-timeout",
            "5s",
        ],
    );
    let mut out = call.stdout.take().unwrap();
    // The music, three seconds of it, then Asterisk's SIGHUP.
    let (pcm, playing) = read_until(&mut out, Duration::from_secs(10), |s| {
        tone_amplitude(s, 300.0, RATE) > 0.05
    });
    assert!(
        playing,
        "no music in {} bytes: {}",
        pcm.len(),
        read(dir, "hub.log")
    );
    eprintln!("music after {} ms of stream", pcm.len() / 16);
    let (pcm, _) = read_until(&mut out, Duration::from_secs(3), |_| false);
    assert!(pcm.len() >= 3 * 16_000 - 3200, "{} bytes", pcm.len());
    assert!(read(dir, "hub.log").contains("hand-over taken"), "not hosted");
    signal(&call, libc::SIGHUP);
    drop(out);
    wait_exit(&mut call, Duration::from_secs(20));
    let opts = holdmix::store::StoreOptions {
        spec: Some(spec.clone()),
        start_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    // The record the call's start wrote (its track, at 0 s) is there at
    // once; the hub writes the exit's when it handles the shim's `STOP`,
    // which the shim sends as it exits: waited for, bounded.
    let mut remembered = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        remembered = holdmix::store::Store::start(&opts, Some("79001112233")).1;
        if remembered.as_ref().is_some_and(|r| r.offset_ms >= 2000) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let rec = remembered.expect("the caller's record");
    assert!(
        rec.music.as_deref().is_some_and(|m| m.ends_with("m.wav")),
        "{rec:?}"
    );
    assert!(rec.offset_ms >= 2000, "remembered at {} ms", rec.offset_ms);
    hub.kill().ok();
    hub.wait().ok();
}

/// A hub stopped (SIGSTOP: hung, not dead) under a call held by the shim,
/// with its whole process group (as Ctrl-Z stops a hub run from a
/// terminal): its watchdog, in a group of its own, is not stopped with it
/// and kills it, the kernel closes the call's connection, and the shim
/// takes the call over at once (it does not look at its pipe), from the
/// checkpoint: the stream goes on as after a crash of the hub.
#[test]
fn a_hung_hub_is_killed_by_its_watchdog_and_the_shim_takes_over() {
    let tmp = short_dir();
    let dir = tmp.path();
    let (track, mut hub, mut call, audio) = streaming_noise_call(dir);
    // Two seconds of the track from the hub (the stream's own time).
    stream_for(dir, &mut call, &audio.0, Duration::from_secs(2));
    still_the_shim(&call, dir);
    // SAFETY: kill(2) on the hub's own process group (see `start_named_hub`).
    unsafe { libc::kill(-(hub.id() as i32), libc::SIGSTOP) };
    let (status, _) = wait_exit(&mut hub, Duration::from_secs(20));
    // Killed: by its watchdog (the test only stopped it).
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let log = read(dir, "hub.log");
    let said = log
        .lines()
        .find(|l| l.contains("audio pacing stalled for"))
        .unwrap_or_else(|| panic!("no word of the stall: {log}"));
    assert!(
        said.contains("killing the hub so its calls continue standalone"),
        "{said}"
    );
    eprintln!("{said}");
    let pcm = resumed_then_hung_up(dir, &mut hub, &mut call, audio);
    assert_seamless(&pcm, &track, "hung");
}

/// A hub whose watchdog is gone and cannot be started again (no file
/// descriptor left for it: the hub's limit lowered to its lowest free
/// one) tells its calls `UNWATCHED`: the shim looks at its pipe again (it
/// wakes, where a watched shim never does), so when that hub then hangs,
/// with nothing left to kill it, the shim finds the pipe dry and takes
/// the call over from its checkpoint. Told nothing, it would have slept
/// on in silence.
#[test]
fn a_hub_left_without_a_watchdog_has_its_calls_look_at_their_pipes() {
    let tmp = short_dir();
    let dir = tmp.path();
    let (track, mut hub, mut call, audio) = streaming_noise_call(dir);
    let started = audio.0.load(Ordering::SeqCst);
    let dog = watchdog_of(&hub, None);
    // The call's checkpoint file first (its preparation makes it, before
    // the stream starts): a hub out of descriptors could not, and its
    // take-over would start the call over.
    wait_for("the hub's checkpoint", Duration::from_secs(20), || {
        checkpointed(&dir.join("calls"), hub.id())
    });
    no_more_fds(hub.id());
    // SAFETY: kill(2) of the watchdog's pid, a child of our child (the
    // hub kills and reaps it when it finds it stale).
    unsafe { libc::kill(dog as i32, libc::SIGSTOP) };
    wait_for("the calls told", Duration::from_secs(20), || {
        read(dir, "hub.log").contains("the hosted calls are unwatched")
    });
    let log = read(dir, "hub.log");
    assert!(log.contains("cannot start the audio watchdog"), "{log}");
    // 25 looks a second (a watched shim makes none); fewer on a loaded
    // machine: waited for, bounded.
    let (before, t) = (voluntary_sleeps(call.id()), Instant::now());
    let mut woke = 0;
    while woke < 5 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        woke = voluntary_sleeps(call.id()) - before;
    }
    assert!(
        woke >= 5,
        "an unwatched shim woke {woke} times in {:?}",
        t.elapsed()
    );
    still_the_shim(&call, dir);
    // Two seconds of the track from the hub before it hangs (the stream's
    // own time; assert_resumed wants it on both sides).
    stream_until(dir, &mut call, &audio.0, started + bytes(Duration::from_secs(2)));
    // SAFETY: kill(2) on the hub's own process group (see `start_named_hub`).
    unsafe { libc::kill(-(hub.id() as i32), libc::SIGSTOP) };
    let pcm = resumed_then_hung_up(dir, &mut hub, &mut call, audio);
    // Found by the looks (100-140 ms once the lead is gone); the resumed
    // call does not wait for the hung hub's greeting (`--hub-hung`), so it
    // writes at most a frame of silence before the track: 20 ms on the
    // idle machine (360 ms when it waited); a second allows for a loaded
    // one (tests/shim.rs checks that no greeting is waited for).
    assert_resumed(&pcm, &track, "unwatched", Duration::from_secs(1), true);
}

/// Whether the process `pid` has a checkpoint file under `dir` (one
/// directory a call, a file named by the writer's pid).
fn checkpointed(dir: &Path, pid: u32) -> bool {
    let name = pid.to_string();
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|call| {
            std::fs::read_dir(call.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| f.file_name().to_str() == Some(name.as_str()))
        })
}

/// A shim's call of the noise track hosted by a hub, streaming (a hub
/// just started holds a call, in silence, until it has its lists): the
/// track, the hub, the call's process and its reader (with its count).
fn streaming_noise_call(dir: &Path) -> (Vec<f32>, Reaped, Child, Audio) {
    let (pl, track) = noise_fixtures(dir);
    let (hub, call, audio) = hosted_call(dir, &pl, true);
    wait_streaming(dir, "hub.log");
    (track, hub, call, audio)
}

/// Once the call's client resumed it from its checkpoint: two seconds
/// more of its stream, its SIGHUP (a clean exit), the hub gone (it holds
/// the pipe too, so the reader's EOF waits for it), and what the reader
/// heard.
fn resumed_then_hung_up(dir: &Path, hub: &mut Reaped, call: &mut Child, (count, audio): Audio) -> Vec<f32> {
    wait_for_take_over(dir);
    stream_for(dir, call, &count, Duration::from_secs(2));
    signal(call, libc::SIGHUP);
    let (status, _) = wait_exit(call, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    hub.kill().ok();
    hub.wait().ok();
    to_f32(&audio.join().unwrap())
}

/// Waits (20 s at most) for the call's client to resume it from its
/// checkpoint; else fails with the client's and the hub's logs.
fn wait_for_take_over(dir: &Path) {
    let t = Instant::now();
    while !read(dir, "run.log").contains("resuming the call") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the take-over: not within 20 s\n--- run.log:\n{}\n--- hub.log:\n{}",
            read(dir, "run.log"),
            read(dir, "hub.log")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lowers `pid`'s open-file limit to its lowest free descriptor: it can
/// open nothing more (what it has open stays usable).
fn no_more_fds(pid: u32) {
    let open_fds = || -> std::collections::BTreeSet<u64> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    };
    let open = open_fds();
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
    let limit = libc::rlimit {
        rlim_cur: lowest_free,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = limit;
    // SAFETY: prlimit(2) on our child's pid with rlimit structs we own.
    let rc = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let limit = libc::rlimit {
        rlim_max: old.rlim_max,
        ..limit
    };
    // SAFETY: as above.
    let rc = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    // Nothing closed meanwhile left a number free under the limit.
    let now = open_fds();
    assert!(
        (0..lowest_free).all(|n| now.contains(&n)),
        "a descriptor under the limit was closed"
    );
}

/// A shim whose hub is watched sleeps with no timeout: not one wake, where
/// the dry check wakes 25 times a second, and it is still the shim (its
/// greedy reader, which keeps the pipe empty, made the old looks take the
/// call over now and then). Counted by the kernel
/// (`voluntary_ctxt_switches`), not timed. `run --hub` waits the same way.
#[test]
fn a_watched_shim_never_wakes() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, mut call, (count, audio)) = hosted_call(dir, &pl, true);
    wait_streaming(dir, "hub.log");
    let started = count.load(Ordering::SeqCst);
    // Settled (told `WATCHED`), then counted over 2 s of the wall clock:
    // a wake that does not happen is not waited for.
    std::thread::sleep(Duration::from_millis(1500));
    let before = voluntary_sleeps(call.id());
    std::thread::sleep(Duration::from_secs(2));
    let woke = voluntary_sleeps(call.id()) - before;
    still_the_shim(&call, dir);
    // Enough of the hosted stream for its music (the stream's own time).
    stream_until(dir, &mut call, &count, started + bytes(Duration::from_secs(3)));
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    assert_music(&audio.join().unwrap(), "a watched call");
    hub.kill().ok();
    hub.wait().ok();
    assert_eq!(woke, 0, "a watched shim woke {woke} times in 2 s");
}

/// The watchdog holds none of the hub's sockets or pipes (a hosted call's
/// connection held there would hide the hub's death from its client); an
/// idle hub stopped for a while is left alone (it has nothing to pace); a
/// watchdog killed is replaced, and the new one does its job.
#[test]
fn the_watchdog_spares_an_idle_hub_and_is_replaced_when_killed() {
    let tmp = short_dir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let (mut hub, token, _ami) = start_hub(dir, true);
    let first = watchdog_of(&hub, None);
    for fd in std::fs::read_dir(format!("/proc/{first}/fd")).unwrap().flatten() {
        let n: i32 = fd.file_name().to_string_lossy().parse().unwrap();
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        let target = target.to_string_lossy();
        assert!(
            n <= 2 || !(target.starts_with("socket:") || target.starts_with("pipe:")),
            "the watchdog holds fd {n}: {target}"
        );
    }
    // Idle: stopped for ten times the bound, resumed, alive.
    signal(&hub, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    signal(&hub, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(hub.try_wait().unwrap().is_none(), "an idle hub was killed");
    assert_eq!(watchdog_of(&hub, None), first);
    // With a call: the watchdog killed is replaced (within its 2 s).
    let (mut call, (count, audio)) = hand_call(dir, &pl, &token, true);
    // SAFETY: kill(2) of the watchdog's pid, a child of our child.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    watchdog_of(&hub, Some(first));
    let log = read(dir, "hub.log");
    assert!(log.contains("audio watchdog ended"), "{log}");
    // The new one watches: a hung hub is killed. Hung while it paces the
    // call (its stream going), not while it is idle.
    wait_streaming(dir, "hub.log");
    stream_for(dir, &mut call, &count, Duration::from_millis(500));
    signal(&hub, libc::SIGSTOP);
    let (status, _) = wait_exit(&mut hub, Duration::from_secs(20));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    wait_for_take_over(dir);
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    audio.join().unwrap();
}

/// What a paced reader saw of one call's pipe.
struct Reads {
    pcm: Vec<u8>,
    /// Bytes queued just before each read, from its first second on.
    leads: Vec<usize>,
    /// When the first bytes came.
    first: Option<Instant>,
}

/// Reads a call's pipe as Asterisk does (640 bytes every 40 ms on
/// absolute deadlines), `phase` after its first byte, and notes what the
/// pipe held before each read (FIONREAD); with the count of bytes read so
/// far (as [`counted_drain`]'s).
fn paced_reader(child: &mut Child, phase: Duration) -> (Arc<AtomicUsize>, std::thread::JoinHandle<Reads>) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut out = child.stdout.take().expect("stdout");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let reads = std::thread::spawn(move || {
        let mut r = Reads {
            pcm: Vec::new(),
            leads: Vec::new(),
            first: None,
        };
        let mut buf = [0u8; 640];
        let mut next = Instant::now();
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int, the pipe's queued bytes.
            unsafe { libc::ioctl(out.as_raw_fd(), libc::FIONREAD, &mut queued) };
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    r.pcm.extend_from_slice(&buf[..n]);
                    seen.fetch_add(n, Ordering::SeqCst);
                }
            }
            match r.first {
                None => {
                    r.first = Some(Instant::now());
                    next = Instant::now() + phase;
                }
                Some(t) if t.elapsed() > Duration::from_secs(1) => r.leads.push(queued as usize),
                Some(_) => {}
            }
            next += Duration::from_millis(40);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        r
    });
    (count, reads)
}

/// A shim handing call `uid` over to the hub, its log in `dir/shim-<uid>.log`.
fn spawn_hosted(dir: &Path, pl: &Path, key: &holdmix::hub::token::Key, uid: &str) -> Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_holdmix-shim"));
    cmd.arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--log")
        .arg(dir.join(format!("shim-{uid}.log")))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"));
    call_args_of(cmd, dir, pl, uid, &key.token(uid))
}

/// The 100 ms blocks of `pcm` from `start` on that do not continue the
/// track where the block before ended (the first is found in the track's
/// first `search` samples): a skip, a repeat or silence.
fn breaks_in_track(pcm: &[f32], start: usize, track: &[f32], search: usize) -> Vec<usize> {
    let block = RATE as usize / 10;
    let Some(first) = pcm.get(start..start + block) else {
        return vec![0];
    };
    let (score, mut at) = (0..search.min(track.len() - block))
        .map(|p| (ncc(first, &track[p..p + block]), p))
        .fold((0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
    if score < 0.95 {
        return vec![0];
    }
    let mut breaks = Vec::new();
    for (i, b) in pcm[start..].chunks_exact(block).enumerate().skip(1) {
        at += block;
        if at + block > track.len() || ncc(b, &track[at..at + block]) < 0.95 {
            breaks.push(i);
            break;
        }
    }
    breaks
}

/// Many hosted calls, read at different phases (so their ticks fall at
/// different wakes of the pacing thread), some ending while the others
/// are due and new ones taking their places: every call's pipe holds
/// whole frames before each read with the lead kept (60-100 ms at the
/// median), and every call streamed its track without a break until its
/// own end, before, across and after the others' ends. (The readers
/// catch up on their deadlines, so a reader held up by the load reads
/// what it missed; a call the hub stopped ticking reads nothing more.)
#[test]
fn many_hosted_calls_keep_whole_frames_and_their_lead_while_others_end() {
    const FIRST: usize = 16;
    const ENDING: [usize; 4] = [1, 6, 9, 14];
    const LATER: usize = 4;
    let tmp = short_dir();
    let dir = tmp.path();
    let (pl, track) = noise_fixtures(dir);
    let (mut hub, _, _ami) = start_hub(dir, true);
    let key = holdmix::hub::token::Key::load_or_create(&dir.join("hub.key")).unwrap();
    let uid = |i: usize| format!("1795452414.{}", 200 + i);
    let mut calls = Vec::new();
    type Call = (Child, Arc<AtomicUsize>, std::thread::JoinHandle<Reads>);
    let start = |i: usize, calls: &mut Vec<Call>| {
        let mut c = spawn_hosted(dir, &pl, &key, &uid(i));
        // Phases 2.5 ms apart across the 40 ms of a read.
        let (count, reads) = paced_reader(&mut c, Duration::from_micros(2500 * (i as u64 % 16)));
        calls.push((c, count, reads));
    };
    // Three seconds of each of `calls[range]`'s own streams from their
    // starts (the hub's `streaming` line of each, or its client's if it
    // took the call over): a loaded machine stretches the wall clock's.
    let play_three_seconds = |calls: &mut [Call], range: std::ops::Range<usize>| {
        let streaming = |i: usize| {
            read(dir, "hub.log")
                .lines()
                .any(|l| l.contains(&uid(i)) && l.contains("streaming format="))
                || read(dir, &format!("shim-{}.log", uid(i))).contains("streaming format=")
        };
        wait_for("every call streaming", Duration::from_secs(30), || {
            range.clone().all(streaming)
        });
        let from: Vec<usize> = range.clone().map(|i| calls[i].1.load(Ordering::SeqCst)).collect();
        for (i, from) in range.zip(from) {
            let (c, count, _) = &mut calls[i];
            stream_until(dir, c, count, from + bytes(Duration::from_secs(3)));
        }
    };
    for i in 0..FIRST {
        start(i, &mut calls);
    }
    wait_for("every call hosted", Duration::from_secs(30), || {
        read(dir, "hub.log").matches("hand-over taken").count() == FIRST
    });
    play_three_seconds(&mut calls, 0..FIRST);
    let mut ended = vec![None; FIRST + LATER];
    // Some end while the others play on; new calls take their places.
    for &i in &ENDING {
        signal(&calls[i].0, libc::SIGHUP);
        ended[i] = Some(Instant::now());
    }
    for i in FIRST..FIRST + LATER {
        start(i, &mut calls);
    }
    play_three_seconds(&mut calls, FIRST..FIRST + LATER);
    for (i, (c, _, _)) in calls.iter().enumerate() {
        signal(c, libc::SIGHUP);
        ended[i].get_or_insert_with(Instant::now);
    }
    let log = |i: usize| read(dir, &format!("shim-{}.log", uid(i)));
    let mut results = Vec::new();
    for (i, (mut c, _, reads)) in calls.into_iter().enumerate() {
        let (status, _) = wait_exit(&mut c, Duration::from_secs(20));
        assert!(status.success(), "call {i}: {status:?}\n{}", log(i));
        // The hub closes the pipe as it ends the call (a call it stopped
        // ticking would never end: a failure here, not a hang).
        wait_for(
            &format!("call {i}'s pipe closed"),
            Duration::from_secs(20),
            || reads.is_finished(),
        );
        results.push(reads.join().unwrap());
    }
    hub.kill().ok();
    hub.wait().ok();
    let hub_log = read(dir, "hub.log");
    for (i, r) in results.iter().enumerate() {
        let taken = hub_log
            .lines()
            .any(|l| l.contains(&uid(i)) && l.contains("the client took the call over"));
        // Whole frames in the pipe before every read (the hub writes
        // whole frames, at most a pipe's atomic write at a time).
        assert!(r.leads.iter().all(|q| q % 320 == 0), "call {i}: {:?}", r.leads);
        if taken {
            // Seamless, but not the hub's timeline any more (seen only
            // under a heavy load: the shim's dry check).
            eprintln!("call {i} was taken over by its client:\n{}", log(i));
            continue;
        }
        let mut leads = r.leads.clone();
        leads.sort_unstable();
        let median = leads.get(leads.len() / 2).copied().unwrap_or(0);
        assert!(
            (960..=1600).contains(&median),
            "call {i}: a median lead of {median} bytes ({:?})",
            r.leads
        );
        let pcm = to_f32(&r.pcm);
        let begin = pcm.iter().position(|x| *x != 0.0).unwrap_or(0) + RATE as usize;
        let breaks = breaks_in_track(&pcm, begin, &track, 10 * RATE as usize);
        assert!(
            breaks.is_empty() && pcm.len() > begin + RATE as usize,
            "call {i}: the track breaks at block {breaks:?} of {} samples",
            pcm.len() - begin.min(pcm.len())
        );
        // Streamed until its own end: as long as it was held, give or take
        // the lead and a load's hiccup.
        let held = ended[i].unwrap() - r.first.expect("bytes read");
        let heard = Duration::from_secs_f64(pcm.len() as f64 / f64::from(RATE));
        assert!(
            heard + Duration::from_millis(500) >= held,
            "call {i}: {heard:?} of audio in {held:?} held"
        );
    }
}
