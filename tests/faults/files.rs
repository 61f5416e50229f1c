//! Files changed under a running call: a cache entry truncated while it
//! plays, a source file deleted or truncated while its call plays it, and
//! a cache directory that is full or read-only (a small tmpfs).

use crate::common::*;
use std::time::Duration;

/// A playlist of one 30 s 440 Hz tone.
fn tone_playlist(dir: &std::path::Path) -> std::path::PathBuf {
    let tone = dir.join("tone.wav");
    write_wav(&tone, 8000, 1, &sine(440.0, 0.5, 30.0, 8000));
    playlist(
        dir,
        "tone.toml",
        &format!("[music]\ntracks = [{:?}]\n", tone.to_str().expect("path")),
    )
}

fn run_with_timeline(
    dir: &std::path::Path,
    pl: &std::path::Path,
    tl: &std::path::Path,
) -> std::process::Child {
    spawn_run(
        dir,
        &[
            "--playlist",
            pl.to_str().expect("path"),
            "--timeline",
            tl.to_str().expect("path"),
        ],
    )
}

#[test]
fn a_cache_entry_truncated_while_it_plays_leaves_the_stream_going() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    let entry = std::fs::read_dir(dir.path().join("cache"))
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tone"))
        })
        .expect("the tone's cache entry");
    let tl = dir.path().join("tl.jsonl");
    let mut child = run_with_timeline(dir.path(), &pl, &tl);
    let (bytes, reader) = counted_drain(&mut child);
    // A second of the stream's own time.
    wait_for_stream(&mut child, &bytes, 16_000, Duration::from_secs(30));
    // Cut to its first kilobyte: every page after it is gone.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&entry)
        .expect("open entry")
        .set_len(1024)
        .expect("truncate");
    // Two more seconds of it (a stall fails below, after 30 s).
    wait_for_stream(&mut child, &bytes, 48_000, Duration::from_secs(30));
    let alive = child.try_wait().expect("try_wait").is_none();
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    let audio = reader.join().expect("reader");
    assert!(
        alive,
        "the generator outlived its cache entry's truncation: {status:?}"
    );
    assert!(status.success(), "{status:?}");
    // Streamed on to the end: 3 s of frames, not 1.
    assert!(audio.len() >= 16_000 * 3, "{} bytes", audio.len());
    let tl = timeline(&tl);
    assert_eq!(
        events(&tl, "exit").first().map(|e| e["reason"].clone()),
        Some(serde_json::json!("sighup")),
        "{tl:?}"
    );
    let log = log_text(dir.path());
    assert_eq!(log.matches("truncated while it played").count(), 1, "{log}");
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Needs root (the test machines run the suite as root).
    fn mount(at: &std::path::Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let c = |s: &str| std::ffi::CString::new(s).expect("cstring");
        let (src, target, fstype, data) = (c("tmpfs"), c(at.to_str().expect("path")), c("tmpfs"), c(options));
        let ro = if options.split(',').any(|o| o == "ro") {
            libc::MS_RDONLY
        } else {
            0
        };
        // SAFETY: valid NUL-terminated strings; a mount of our own.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                ro,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount tmpfs at {}: {} (the fault tests need root)",
            at.display(),
            std::io::Error::last_os_error()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.to_str().unwrap_or("")).unwrap_or_default();
        // SAFETY: unmounting the mount this value made.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Plays a 30 s tone with the cache on `options` tmpfs, cold; returns the
/// tone's amplitude in the stream's second second (about 0.15 after
/// loudness normalisation; silence is 0) and the log.
fn tone_with_cache_on(options: &str) -> (f32, String) {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let _fs = Tmpfs::mount(&dir.path().join("cache"), options);
    let tl = dir.path().join("tl.jsonl");
    let mut child = run_with_timeline(dir.path(), &pl, &tl);
    let (count, reader) = counted_drain(&mut child);
    // Two and a half seconds of the tone read, however late a loaded
    // machine started it.
    heard_reaches(&mut child, &count, &tl, 40_000, || options.to_string());
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{options}: {status:?}");
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl);
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!(pcm.len() >= 2 * 8000, "{options}: {} samples", pcm.len());
    (
        tone_amplitude(&pcm[8000..16000], 440.0, 8000),
        log_text(dir.path()),
    )
}

#[test]
fn a_full_cache_directory_costs_no_audio() {
    // 64 KiB: the tone's entry (960 KB) cannot be written.
    let (level, log) = tone_with_cache_on("size=64k,mode=0755");
    assert!(level > 0.05, "the tone plays from memory: {level}\n{log}");
}

#[test]
fn a_read_only_cache_directory_costs_no_audio() {
    let (level, log) = tone_with_cache_on("ro,mode=0755");
    assert!(level > 0.05, "the tone plays from memory: {level}\n{log}");
    assert!(log.contains("cache"), "the unusable cache is logged:\n{log}");
}

/// A playlist of one 3 s 440 Hz tone (it loops), and the tone's path.
fn short_tone(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let tone = dir.join("short.wav");
    write_wav(&tone, 8000, 1, &sine(440.0, 0.5, 3.0, 8000));
    let pl = playlist(
        dir,
        "short.toml",
        "[music]\ntracks = [\"short.wav\"]\ncrossfade = 0\n",
    );
    (pl, tone)
}

/// Plays `pl` for 6 s, doing `fault` to the source 1 s in; returns the
/// tone's amplitude in each second of the stream read and the log.
fn tone_through(dir: &std::path::Path, pl: &std::path::Path, fault: impl FnOnce()) -> (Vec<f32>, String) {
    let tl = dir.join("tl.jsonl");
    let mut child = run_with_timeline(dir, pl, &tl);
    let (count, reader) = counted_drain(&mut child);
    // A second, then five and a half more, of the call itself: a late
    // start on a loaded machine must not leave fewer than five to measure.
    heard_reaches(&mut child, &count, &tl, 16_000, || "before the fault".into());
    fault();
    heard_reaches(&mut child, &count, &tl, 6 * 16_000 + 8_000, || {
        "after the fault".into()
    });
    let alive = child.try_wait().expect("try_wait").is_none();
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(alive && status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl);
    assert_eq!(events(&tl, "exit")[0]["reason"], "sighup");
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let levels = pcm
        .chunks_exact(8000)
        .map(|s| tone_amplitude(s, 440.0, 8000))
        .collect();
    (levels, log_text(dir))
}

/// What `tone_through` measured shows a call that played on through the
/// fault: five whole seconds, each with the tone, and no error logged.
#[track_caller]
fn assert_plays_on(levels: &[f32], log: &str) {
    assert!(levels.len() >= 5, "{levels:?}");
    assert!(
        levels.iter().all(|&l| l > 0.05),
        "a second without the tone: {levels:?}\n{log}"
    );
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn a_source_deleted_while_it_plays_from_the_cache_plays_on() {
    let dir = tempdir();
    let (pl, tone) = short_tone(dir.path());
    warm_cache(dir.path(), &pl);
    let (levels, log) = tone_through(dir.path(), &pl, || std::fs::remove_file(&tone).expect("delete"));
    // Five whole seconds: the track played out and looped twice after
    // its file was gone.
    assert_plays_on(&levels, &log);
}

#[test]
fn a_source_truncated_while_it_plays_from_memory_plays_on() {
    // A read-only cache: the source is decoded into the process's memory
    // (the path that reads sources without the cache).
    let dir = tempdir();
    let (pl, tone) = short_tone(dir.path());
    let _fs = Tmpfs::mount(&dir.path().join("cache"), "ro,mode=0755");
    let (levels, log) = tone_through(dir.path(), &pl, || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&tone)
            .expect("open source")
            .set_len(44)
            .expect("truncate")
    });
    assert_plays_on(&levels, &log);
}

#[test]
fn a_cache_entry_deleted_while_it_plays_plays_on() {
    let dir = tempdir();
    let (pl, _) = short_tone(dir.path());
    warm_cache(dir.path(), &pl);
    let cache = dir.path().join("cache");
    let (levels, log) = tone_through(dir.path(), &pl, || {
        for e in std::fs::read_dir(&cache)
            .expect("cache dir")
            .filter_map(Result::ok)
        {
            std::fs::remove_file(e.path()).expect("delete entry");
        }
    });
    assert_plays_on(&levels, &log);
}
