//! Issue 18 (findings 5, 6, 15a): a self-checking cache and a bounded cold
//! start. Damaged entries are rebuilt, a long source decodes in bounded
//! memory, concurrent processes decode a source once, absurd sources are
//! refused by their header, concatenated MP3s play whole, and a FIFO or a
//! device named as audio is refused without blocking.

use crate::common;
use holdmix::audio::cache::{Cache, HEADER};
use holdmix::audio::decode::decode_file;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The one `.f32` entry in `cache_dir`.
fn only_entry(cache_dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache_dir)
        .expect("cache dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "f32"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// Recomputes an entry's checksum after the test changed its header, so
/// only the field under test is wrong.
fn reseal(bytes: &mut [u8]) {
    bytes[32..36].fill(0);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[HEADER..]);
    crc.update(&bytes[..HEADER]);
    let sum = crc.finalize();
    bytes[32..36].copy_from_slice(&sum.to_le_bytes());
}

fn render(dir: &Path, playlist: &Path, out: &Path) -> String {
    let o = common::ok(
        common::holdmix(dir)
            .args(["render", "--duration", "4s", "-o"])
            .arg(out)
            .arg(playlist),
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn issue_18_a_corrupted_entry_is_rebuilt_and_the_call_hears_the_music() {
    let dir = common::tempdir();
    let d = dir.path();
    common::write_wav(
        &d.join("tone.wav"),
        44_100,
        2,
        &common::stereo(&common::sine(300.0, 0.3, 6.0, 44_100)),
    );
    let pl = common::playlist(d, "p.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    let clean = d.join("clean.wav");
    render(d, &pl, &clean);
    let entry = only_entry(&d.join("cache"));
    let good = std::fs::read(&entry).expect("read entry");

    // One byte of one sample 1 s in: its exponent, so the sample becomes huge.
    let mut bad = good.clone();
    bad[HEADER + 4 * 8_000 + 3] ^= 0x3F;
    std::fs::write(&entry, &bad).expect("write entry");
    let again = d.join("again.wav");
    let log = render(d, &pl, &again);

    let (_, want) = common::read_wav(&clean);
    let (_, got) = common::read_wav(&again);
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "a render from the damaged cache differs from the clean one"
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("damaged cache entry"))
        .collect();
    assert_eq!(warnings.len(), 1, "one line for the damaged entry:\n{log}");
    assert!(
        warnings[0].contains(&entry.display().to_string()),
        "{}",
        warnings[0]
    );
    assert_eq!(std::fs::read(&entry).expect("entry"), good, "entry not rebuilt");
}

#[test]
fn issue_18_an_impossible_loudness_is_refused_and_rebuilt() {
    let dir = common::tempdir();
    let cache = Cache::open(Some(&dir.path().join("cache")));
    let src = dir.path().join("tone.wav");
    common::write_wav(&src, 16_000, 1, &common::sine(440.0, 0.5, 2.0, 16_000));
    let clip = cache.load(&src, 8_000).expect("load");
    let lufs = clip.lufs().expect("a tone has a loudness");
    drop(clip);
    let entry = cache.entry_path(&src, 8_000).expect("entry").expect("dir");
    let good = std::fs::read(&entry).expect("read entry");
    for (value, resealed) in [
        (f64::NAN, true),
        (f64::NAN, false),
        (f64::INFINITY, true),
        (-1.0e6, true),
        (400.0, true),
    ] {
        let mut bad = good.clone();
        bad[24..32].copy_from_slice(&value.to_le_bytes());
        if resealed {
            reseal(&mut bad);
        }
        std::fs::write(&entry, &bad).expect("write entry");
        assert!(
            cache.lookup(&src, 8_000).expect("lookup").is_none(),
            "loudness {value} (resealed: {resealed}) trusted"
        );
        let clip = cache.load(&src, 8_000).expect("reload");
        assert_eq!(clip.lufs(), Some(lufs), "loudness {value}");
        assert_eq!(
            std::fs::read(&entry).expect("entry"),
            good,
            "loudness {value}: not rebuilt"
        );
    }
}

/// A mono 16-bit WAV header for `frames` frames at `rate`.
fn wav_header(rate: u32, frames: u64) -> Vec<u8> {
    let data = (frames * 2) as u32;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

/// A WAV of `secs` of silence at `rate`, made sparse (no disk used).
fn sparse_wav(path: &Path, rate: u32, secs: u64) {
    let frames = u64::from(rate) * secs;
    let mut f = std::fs::File::create(path).expect("create wav");
    f.write_all(&wav_header(rate, frames)).expect("header");
    f.set_len(44 + frames * 2).expect("extend wav");
}

/// Peak RSS (kB) of `holdmix cache warm` on a playlist playing `track`,
/// read from the child's own accounting (`wait4`), so no other process of
/// the test run counts.
// Reaped by `wait4`, which `Child::wait` would not let us call.
#[allow(clippy::zombie_processes)]
fn warm_peak_kb(dir: &Path, track: &str) -> i64 {
    let pl = common::playlist(dir, "p.toml", &format!("[music]\ntracks = [\"{track}\"]\n"));
    let child = common::holdmix(dir)
        .args(["cache", "warm"])
        .arg(&pl)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holdmix");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into locals that outlive the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "warm failed: {status}"
    );
    usage.ru_maxrss
}

#[test]
fn issue_18_a_long_source_decodes_in_bounded_memory() {
    let dir = common::tempdir();
    let d = dir.path();
    sparse_wav(&d.join("short.wav"), 48_000, 10);
    sparse_wav(&d.join("long.wav"), 48_000, 20 * 60);
    let short = warm_peak_kb(d, "short.wav");
    let long = warm_peak_kb(d, "long.wav");
    let entry_secs = |name: &str| {
        let clip = Cache::open(Some(&d.join("cache")))
            .lookup(&d.join(name), 8_000)
            .expect("lookup")
            .expect("cached");
        clip.len() as f64 / 8_000.0
    };
    assert!((entry_secs("long.wav") - 1200.0).abs() < 0.01);
    // Whole in memory, 20 minutes at 48 kHz is 230 MB of f32 before
    // resampling; streamed, the growth is a few buffers.
    let growth_mb = (long - short) as f64 / 1024.0;
    eprintln!("peak RSS of cache warm: {short} kB for 10 s, {long} kB for 20 min at 48 kHz");
    assert!(
        growth_mb < 32.0,
        "peak RSS {short} kB for 10 s, {long} kB for 20 min: grew {growth_mb:.0} MB"
    );
}

#[test]
fn issue_18_concurrent_processes_decode_a_source_once() {
    let dir = common::tempdir();
    let d = dir.path();
    // Long enough that the processes overlap while it decodes.
    sparse_wav(&d.join("long.wav"), 48_000, 10 * 60);
    common::write_wav(
        &d.join("hello.wav"),
        8_000,
        1,
        &common::sine(500.0, 0.3, 0.5, 8_000),
    );
    let pl = common::playlist(
        d,
        "p.toml",
        "[music]\ntracks = [\"long.wav\"]\n[prompts]\nhello = \"hello.wav\"\n[welcome]\nsay = [\"hello\"]\n",
    );
    let spawn = |args: &[&str]| {
        common::holdmix(d)
            .arg("-v")
            .args(args)
            .arg(&pl)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holdmix")
    };
    let out = d.join("out.wav");
    let children = vec![
        spawn(&["cache", "warm"]),
        spawn(&["cache", "warm"]),
        spawn(&["render", "--duration", "2s", "-o", out.to_str().expect("path")]),
        spawn(&["cache", "warm"]),
    ];
    let mut logs = String::new();
    for child in children {
        let o = child.wait_with_output().expect("wait holdmix");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{:?}\n{err}", o.status);
        logs.push_str(&err);
    }
    let decodes = |name: &str| {
        logs.lines()
            .filter(|l| l.contains("decoding into the cache") && l.contains(name))
            .count()
    };
    assert_eq!(
        decodes("long.wav"),
        1,
        "long.wav decoded other than once:\n{logs}"
    );
    assert_eq!(
        decodes("hello.wav"),
        1,
        "hello.wav decoded other than once:\n{logs}"
    );
    // Nothing but the two entries is left: no lock or partial files.
    let names: Vec<String> = std::fs::read_dir(d.join("cache"))
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(common::read_wav(&out).1.len(), 16_000);
}

#[test]
fn issue_18_a_killed_decoder_does_not_wedge_the_next() {
    let dir = common::tempdir();
    let d = dir.path();
    sparse_wav(&d.join("long.wav"), 48_000, 30 * 60);
    let pl = common::playlist(d, "p.toml", "[music]\ntracks = [\"long.wav\"]\n");
    let mut first = common::holdmix(d)
        .args(["cache", "warm"])
        .arg(&pl)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holdmix");
    // Kill it once it holds the lock (its partial file exists).
    let cache_dir = d.join("cache");
    let holding = || {
        std::fs::read_dir(&cache_dir)
            .map(|r| {
                r.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
            })
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !holding() {
        assert!(start.elapsed() < Duration::from_secs(60), "no decode started");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().expect("kill");
    first.wait().expect("wait");
    // The next process takes over at once (no wait for a dead holder) and
    // leaves a valid entry and nothing else.
    common::ok(common::holdmix(d).args(["cache", "warm"]).arg(&pl));
    let entry = only_entry(&cache_dir);
    let clip = Cache::open(Some(&cache_dir))
        .lookup(&d.join("long.wav"), 8_000)
        .expect("lookup")
        .expect("cached");
    assert_eq!(clip.len(), 30 * 60 * 8_000, "{}", entry.display());
    assert_eq!(std::fs::read_dir(&cache_dir).expect("dir").count(), 1);
}

#[test]
fn issue_18_sources_that_would_expand_absurdly_are_refused_by_their_header() {
    let dir = common::tempdir();
    let d = dir.path();
    // 60 bytes: 8 samples at 1 Hz.
    let mut tiny = wav_header(1, 8);
    tiny.extend_from_slice(&[0x10; 16]);
    assert_eq!(tiny.len(), 60);
    std::fs::write(d.join("one-hertz.wav"), &tiny).expect("write wav");
    // Five hours at 8 kHz (sparse).
    sparse_wav(&d.join("five-hours.wav"), 8_000, 5 * 3600);
    // A raw file of five hours at 8 kHz, by its size.
    let raw = std::fs::File::create(d.join("five-hours.ulaw")).expect("create");
    raw.set_len(8_000 * 5 * 3600).expect("extend");
    drop(raw);
    for (name, says) in [
        ("one-hertz.wav", "sample rate 1 Hz"),
        ("five-hours.wav", "5 h 0 min"),
        ("five-hours.ulaw", "5 h 0 min"),
    ] {
        let pl = common::playlist(d, "p.toml", &format!("[music]\ntracks = [\"{name}\"]\n"));
        let out = common::holdmix(d)
            .args(["-v", "cache", "warm"])
            .arg(&pl)
            .output()
            .expect("run holdmix");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {:?}\n{err}", out.status);
        let path = d.join(name).display().to_string();
        assert!(
            err.lines()
                .any(|l| l.starts_with("holdmix: error: ") && l.contains(&path) && l.contains(says)),
            "{name}: no error naming the file and saying {says:?}:\n{err}"
        );
        assert!(
            !err.contains("decoding into the cache"),
            "{name}: decoding started before the refusal:\n{err}"
        );
    }
    assert_eq!(std::fs::read_dir(d.join("cache")).expect("dir").count(), 0);
}

/// An ID3v2.4 tag with a title, as taggers put before each file.
fn id3v2(title: &str) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(b"TIT2");
    let text = [&[3u8][..], title.as_bytes()].concat();
    frame.extend_from_slice(&(text.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&text);
    // Padding, as taggers leave for later edits.
    frame.extend_from_slice(&[0u8; 200]);
    let n = frame.len() as u32;
    let syncsafe = [
        (n >> 21) as u8 & 0x7F,
        (n >> 14) as u8 & 0x7F,
        (n >> 7) as u8 & 0x7F,
        n as u8 & 0x7F,
    ];
    [&b"ID3\x04\x00\x00"[..], &syncsafe[..], &frame].concat()
}

/// An ID3v1 tag, as taggers put after each file.
fn id3v1(title: &str) -> Vec<u8> {
    let mut t = b"TAG".to_vec();
    t.extend_from_slice(title.as_bytes());
    t.resize(128, 0);
    t
}

#[test]
fn issue_18_a_concatenated_mp3_plays_every_part() {
    let dir = common::tempdir();
    let source = common::root().join("sample-audio/music/bed-2-bright.mp3");
    let one = std::fs::read(&source).expect("read mp3");
    let single = decode_file(&source).expect("decode mp3");
    let path = dir.path().join("album.mp3");
    let mut all = Vec::new();
    for i in 0..3 {
        all.extend(id3v2(&format!("part {i}")));
        all.extend_from_slice(&one);
        all.extend(id3v1(&format!("part {i}")));
    }
    std::fs::write(&path, &all).expect("write album");
    let d = decode_file(&path).expect("decode album");
    assert_eq!(d.rate, single.rate);
    let (one_s, all_s) = (
        single.samples.len() as f64 / f64::from(single.rate),
        d.samples.len() as f64 / f64::from(d.rate),
    );
    // Each later part keeps its encoder delay and padding (a few frames).
    assert!(
        all_s >= 3.0 * one_s - 0.01 && all_s <= 3.0 * one_s + 2.0 * 3.0 * 1152.0 / 44_100.0,
        "three parts of {one_s:.2} s decoded as {all_s:.2} s"
    );
    // The last part is the music, not silence: its middle is as loud as the first's.
    let rate = f64::from(d.rate);
    let first = common::rms(common::window(&d.samples, d.rate, 5.0, 30.0));
    let last = common::rms(common::window(
        &d.samples,
        d.rate,
        2.0 * one_s + 5.0,
        2.0 * one_s + 30.0,
    ));
    assert!(
        (common::db(first) - common::db(last)).abs() < 1.0,
        "first part {:.1} dBFS, last {:.1} dBFS (at {rate} Hz)",
        common::db(first),
        common::db(last)
    );
}

/// Runs `f` on a thread and fails (rather than hangs) if it blocks.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} blocked"))
}

#[test]
fn issue_18_a_fifo_or_a_device_as_audio_is_refused_without_blocking() {
    let dir = common::tempdir();
    let fifo = dir.path().join("music.wav");
    let c = std::ffi::CString::new(fifo.to_str().expect("path")).expect("cstring");
    // SAFETY: mkfifo(3) on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let name = fifo.display().to_string();
    for (what, result) in [
        ("decode", {
            let f = fifo.clone();
            within("decoding a FIFO", move || decode_file(&f).map(|_| ()))
        }),
        ("in-memory cache", {
            let f = fifo.clone();
            within("loading a FIFO", move || {
                Cache::in_memory().load(&f, 8_000).map(|_| ())
            })
        }),
        ("cache", {
            let (f, c) = (fifo.clone(), dir.path().join("cache"));
            within("caching a FIFO", move || {
                Cache::open(Some(&c)).load(&f, 8_000).map(|_| ())
            })
        }),
    ] {
        let e = format!("{:#}", result.expect_err(what));
        assert!(e.contains(&name) && e.contains("regular"), "{what}: {e}");
    }
    let e = format!(
        "{:#}",
        decode_file(Path::new("/dev/zero")).expect_err("/dev/zero")
    );
    assert!(e.contains("/dev/zero") && e.contains("device"), "{e}");
    // The CLI says the same and exits at once.
    let pl = common::playlist(dir.path(), "p.toml", "[music]\ntracks = [\"music.wav\"]\n");
    let mut cmd = common::holdmix(dir.path());
    cmd.args(["cache", "warm"]).arg(&pl);
    let out = within("cache warm of a FIFO", move || cmd.output().expect("run holdmix"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
