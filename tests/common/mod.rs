//! Shared test helpers: temp dirs, generated sound files, running the binary,
//! reading rendered audio and timelines, and measuring levels.

#![allow(dead_code)]

pub mod mariadb;
mod playlists;
pub use playlists::*;

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_holdmix");

/// Repository root (for sample-audio/ and playlists/).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo metadata --format-version 1 --offline <extra>` of this package,
/// as JSON (the cargo that runs the tests).
pub fn cargo_metadata(extra: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata JSON")
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A `holdmix` command with its cache in `dir/cache`, and its call
/// checkpoints and caller store under `dir` too: no test sees another's.
pub fn holdmix(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--cache-dir").arg(dir.join("cache"));
    c.env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"));
    c
}

/// Renders `playlist` for `secs` s (8 kHz slin) with scripted `events` and
/// `extra` arguments; the samples and the timeline.
pub fn render_call(
    dir: &Path,
    playlist: &Path,
    secs: u32,
    events: &[&str],
    extra: &[&str],
) -> (Vec<f32>, Vec<serde_json::Value>) {
    let (out, tl) = (dir.join("out.wav"), dir.join("tl.jsonl"));
    let mut cmd = holdmix(dir);
    cmd.arg("render")
        .arg(playlist)
        .arg("--duration")
        .arg(format!("{secs}s"))
        .arg("-o")
        .arg(&out)
        .arg("--timeline")
        .arg(&tl)
        .args(extra);
    for e in events {
        cmd.arg("--event").arg(e);
    }
    ok(&mut cmd);
    let (rate, s) = read_wav(&out);
    assert_eq!(rate, 8000);
    (s, timeline(&tl))
}

/// Runs and asserts success; returns the output.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn holdmix");
    assert!(
        out.status.success(),
        "holdmix failed: {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes a mono or stereo 16-bit WAV.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// A sine of `freq` Hz at peak `amp`, `secs` long, mono at `rate`.
pub fn sine(freq: f32, amp: f32, secs: f32, rate: u32) -> Vec<f32> {
    let n = (secs * rate as f32) as usize;
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// Interleaves a mono signal into stereo (same on both channels).
pub fn stereo(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|&s| [s, s]).collect()
}

/// Reads a rendered 16-bit mono WAV as floats, with its rate.
pub fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let rate = r.spec().sample_rate;
    let s = r
        .samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect();
    (rate, s)
}

/// Reads raw s16le.
pub fn read_slin(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).expect("read raw");
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

pub fn rms(s: &[f32]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
}

pub fn db(x: f32) -> f32 {
    20.0 * x.max(1e-9).log10()
}

/// Samples from `a` to `b` seconds.
pub fn window(s: &[f32], rate: u32, a: f64, b: f64) -> &[f32] {
    let i = ((a * rate as f64) as usize).min(s.len());
    let j = ((b * rate as f64) as usize).min(s.len());
    &s[i..j]
}

/// Largest sample-to-sample step.
pub fn max_step(s: &[f32]) -> f32 {
    s.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

/// Timeline lines as JSON values.
pub fn timeline(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read timeline")
        .lines()
        .map(|l| serde_json::from_str(l).expect("timeline line is JSON"))
        .collect()
}

/// Entries of one event kind.
pub fn events<'a>(tl: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    tl.iter().filter(|e| e["event"] == kind).collect()
}

/// Waits (bounded by `limit`) until the timeline at `path` has an entry of
/// `kind`: a test waits for what the call did, not for a guess at how long
/// a loaded machine takes to do it. Whether it came is the caller's to
/// assert.
pub fn wait_for_event(path: &Path, kind: &str, limit: std::time::Duration) -> bool {
    wait_for_text(path, &format!("\"event\":\"{kind}\""), limit)
}

/// Waits (bounded by `limit`) until the file at `path` holds `text`.
pub fn wait_for_text(path: &Path, text: &str, limit: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(text)) {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `wait_for_stream` for `bytes` of the call itself: past the silence a
/// late start put first (the timeline's `late`, at the stream's start),
/// which a loaded machine lengthens. Returns the bytes read past it.
pub fn wait_for_heard(
    child: &mut std::process::Child,
    count: &std::sync::atomic::AtomicUsize,
    timeline_path: &Path,
    bytes: usize,
    limit: std::time::Duration,
) -> usize {
    let started = std::time::Instant::now();
    loop {
        // Whole lines only: the file may be mid-write.
        let late = std::fs::read_to_string(timeline_path)
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|e| e["event"] == "late")
            })
            .and_then(|e| e["silence"].as_f64())
            .map_or(0, |s| (s * 8000.0).round() as usize * 2);
        let left = limit.saturating_sub(started.elapsed());
        let now = wait_for_stream(
            child,
            count,
            late + bytes,
            left.min(std::time::Duration::from_millis(200)),
        );
        let exited = !matches!(child.try_wait(), Ok(None));
        if now >= late + bytes || exited || left.is_zero() {
            return now.saturating_sub(late);
        }
    }
}

/// How long a test waits for a stream to get where it needs it.
pub const STREAM_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `wait_for_stream` to `bytes` (at most [`STREAM_LIMIT`]), asserted: a
/// stream that stalls, or a call that ends first, fails the test here,
/// saying `what` (what was waited for, and what helps: the logs).
#[track_caller]
pub fn stream_reaches(
    child: &mut std::process::Child,
    count: &std::sync::atomic::AtomicUsize,
    bytes: usize,
    what: impl FnOnce() -> String,
) {
    let got = wait_for_stream(child, count, bytes, STREAM_LIMIT);
    assert!(got >= bytes, "{}: {got} bytes of the stream, not {bytes}", what());
}

/// `wait_for_heard`, asserted as [`stream_reaches`] is.
#[track_caller]
pub fn heard_reaches(
    child: &mut std::process::Child,
    count: &std::sync::atomic::AtomicUsize,
    timeline_path: &Path,
    bytes: usize,
    what: impl FnOnce() -> String,
) {
    let got = wait_for_heard(child, count, timeline_path, bytes, STREAM_LIMIT);
    assert!(got >= bytes, "{}: {got} bytes of the call, not {bytes}", what());
}

/// Time (`t`) of the first entry of `kind`.
pub fn first_t(tl: &[serde_json::Value], kind: &str) -> f64 {
    events(tl, kind)
        .first()
        .and_then(|e| e["t"].as_f64())
        .unwrap_or_else(|| panic!("no {kind} in timeline"))
}

/// Writes a playlist file.
/// Bytes of silence `run` wrote before its stream's time 0 because the
/// call was not ready within a frame (a loaded machine): the timeline's
/// `late` event. What the reader got from there on is on the timeline's
/// clock.
pub fn late_bytes(tl: &[serde_json::Value]) -> usize {
    events(tl, "late")
        .first()
        .and_then(|e| e["silence"].as_f64())
        .map_or(0, |s| (s * 8000.0).round() as usize * 2)
}

pub fn playlist(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write playlist");
    p
}

/// Integrated loudness (LUFS) of mono samples.
pub fn lufs(s: &[f32], rate: u32) -> f64 {
    let mut m = ebur128::EbuR128::new(1, rate, ebur128::Mode::I).expect("meter");
    m.add_frames_f32(s).expect("frames");
    m.loudness_global().expect("loudness")
}

/// Amplitude of the `freq` component of `s` (Goertzel over the whole slice).
pub fn tone_amplitude(s: &[f32], freq: f32, rate: u32) -> f32 {
    let w = 2.0 * PI * freq / rate as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in s {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / s.len().max(1) as f32
}

/// A `holdmix run` child with piped stdin/stdout and a log file.
pub fn spawn_run(dir: &Path, args: &[&str]) -> std::process::Child {
    holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .arg("run")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn holdmix run")
}

/// `holdmix run` of `playlist` reading keys from its stdin, with a timeline.
pub fn spawn_keyed(dir: &Path, playlist: &Path, timeline: &Path) -> std::process::Child {
    let (p, t) = (playlist.to_str().expect("path"), timeline.to_str().expect("path"));
    spawn_run(dir, &["--playlist", p, "--events", "-", "--timeline", t])
}

/// `spawn_keyed` for a call from `caller` (`--caller`).
pub fn spawn_keyed_from(dir: &Path, playlist: &Path, timeline: &Path, caller: &str) -> std::process::Child {
    let (p, t) = (playlist.to_str().expect("path"), timeline.to_str().expect("path"));
    spawn_run(
        dir,
        &[
            "--playlist",
            p,
            "--events",
            "-",
            "--timeline",
            t,
            "--caller",
            caller,
        ],
    )
}

pub fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("run.log")).unwrap_or_default()
}

/// Drains the child's stdout in a thread, as Asterisk with a timing module
/// reads: up to 640 bytes at each 40 ms deadline of its own clock (a late
/// wake reads at once, so a busy machine makes it late, never slow);
/// returns everything read when the pipe closes.
pub fn drain(child: &mut std::process::Child) -> std::thread::JoinHandle<Vec<u8>> {
    counted_drain(child).1
}

/// `drain`, with the count of bytes read so far beside it: a test waits for
/// the stream's own time to pass (`wait_for_stream`), not the wall clock's,
/// which a loaded machine stretches.
pub fn counted_drain(
    child: &mut std::process::Child,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    use std::io::Read;
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let mut out = child.stdout.take().expect("stdout");
    let handle = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 640];
        let period = std::time::Duration::from_millis(40);
        let mut next = std::time::Instant::now();
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    seen.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                }
            }
            next += period;
            std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        }
        all
    });
    (count, handle)
}

/// Waits until `count` (from `counted_drain`) reaches `bytes`, or the
/// child exits, or `limit` of wall time passes; the count then. A caller
/// asserts on it, so a stream that stalls still fails, and a slow machine
/// only takes longer.
pub fn wait_for_stream(
    child: &mut std::process::Child,
    count: &std::sync::atomic::AtomicUsize,
    bytes: usize,
    limit: std::time::Duration,
) -> usize {
    let started = std::time::Instant::now();
    loop {
        let now = count.load(std::sync::atomic::Ordering::SeqCst);
        let exited = !matches!(child.try_wait(), Ok(None));
        if now >= bytes || exited || started.elapsed() >= limit {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Decodes every sound of a playlist into the test's cache, as an operator
/// does before the first call (`holdmix cache warm`): a test of what a call
/// does must not depend on how fast a loaded machine decodes.
pub fn warm_cache(dir: &Path, playlist: &Path) {
    ok(holdmix(dir).args(["cache", "warm"]).arg(playlist));
}

/// A process's `voluntary_ctxt_switches`: how many times it went to sleep
/// (each wake of a waiting process is one), as the kernel counts them.
pub fn voluntary_sleeps(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

/// Sends `sig` to a child (SIGHUP is how Asterisk stops a generator).
pub fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Waits for exit, at most `limit`; returns the status and how long it took.
/// A process still running then is killed, and the panic says what it was
/// doing.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, std::time::Duration) {
    match exit_within(child, limit) {
        Some(done) => done,
        None => {
            let why = stuck_process(child.id());
            child.kill().ok();
            panic!("still running after {limit:?}\n{why}");
        }
    }
}

/// The exit status and how long it took, or `None` if the child still
/// runs after `limit` (it is left running).
pub fn exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<(std::process::ExitStatus, std::time::Duration)> {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some((s, start.elapsed()));
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// What a process that should have exited is doing: each thread's state,
/// kernel wait channel, syscall and blocked signals, the signals pending,
/// and (where gdb is installed) every thread's stack. Only ever run on a
/// failure, so the next one that happens under load explains itself.
pub fn stuck_process(pid: u32) -> String {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let fields = |status: &str, keys: &[&str]| -> String {
        status
            .lines()
            .filter(|l| keys.iter().any(|k| l.starts_with(k)))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut out = format!(
        "pid {pid}: {}\n",
        fields(
            &read(proc.join("status")),
            &["State", "SigPnd", "ShdPnd", "SigCgt"]
        )
    );
    let mut tasks: Vec<_> = std::fs::read_dir(proc.join("task"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    tasks.sort();
    for t in tasks {
        out += &format!(
            "  task {}: {} wchan={} syscall={} {}\n",
            t.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            read(t.join("comm")).trim(),
            read(t.join("wchan")).trim(),
            read(t.join("syscall")).trim(),
            fields(&read(t.join("status")), &["State", "SigBlk", "SigPnd"])
        );
    }
    if let Ok(gdb) = Command::new("timeout")
        .args([
            "30",
            "gdb",
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .stdin(std::process::Stdio::null())
        .output()
    {
        // Threads and their frames only, each line cut short.
        for l in String::from_utf8_lossy(&gdb.stdout).lines() {
            if l.starts_with("Thread ") || l.starts_with('#') {
                out += &format!("{}\n", l.chars().take(160).collect::<String>());
            }
        }
    }
    out
}

/// A child process killed and reaped when dropped, so a test that panics
/// leaves no process behind (a hub, whose life is otherwise the test's to
/// end). Derefs to the `Child`: `kill`, `wait`, `id` and the helpers
/// above work as on the `Child`.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        // Already reaped: both fail harmlessly.
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The checkpoint files a state directory holds (`<call>/<pid>`, as
/// src/state/layout.rs lays them out), as `call/pid`; `call` filters.
pub fn checkpoint_files(calls: &Path, call: Option<&str>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(calls) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || call.is_some_and(|c| c != name) {
            continue;
        }
        for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let pid = f.file_name().to_string_lossy().into_owned();
            if pid.parse::<u32>().is_ok() {
                found.push(format!("{name}/{pid}"));
            }
        }
    }
    found
}
