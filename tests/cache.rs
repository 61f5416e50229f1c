//! The decoded-audio cache: `cache warm` entries, reuse and invalidation, concurrent warmers, undecodable sources and damaged entries.

use crate::common;
use holdmix::audio::cache::{Cache, prepare};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

/// Size of an entry's header before the f32 samples.
const HEADER: u64 = 64;

/// The source files the demo playlist uses: the music beds, every English
/// prompt, the advices of its three groups and the English word recordings.
fn demo_sources() -> Vec<PathBuf> {
    let root = common::root().join("sample-audio");
    let mut files = Vec::new();
    for sub in [
        "music",
        "prompts/en",
        "advice/en/first",
        "advice/en/middle",
        "advice/en/last",
        "words/en",
    ] {
        for e in std::fs::read_dir(root.join(sub)).expect("read sample-audio") {
            let p = e.expect("dir entry").path();
            // words/en/map.toml names the recordings; it is not one.
            if p.extension().is_some_and(|x| x != "toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 90, "sample-audio changed: {files:?}");
    files
}

/// Every file in `dir` (hidden ones included) by name, with (inode, mtime).
fn listing(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    std::fs::read_dir(dir)
        .expect("read cache dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let meta = e.metadata().expect("metadata");
            (
                e.file_name().to_string_lossy().into_owned(),
                (meta.ino(), meta.modified().expect("mtime")),
            )
        })
        .collect()
}

/// Asserts the cache holds exactly one entry per source and rate, and nothing else.
fn assert_entries(cache_dir: &Path, sources: &[PathBuf], rates: &[u32]) {
    let names: Vec<String> = listing(cache_dir).into_keys().collect();
    assert_eq!(names.len(), sources.len() * rates.len(), "cache holds {names:?}");
    let cache = Cache::open(Some(cache_dir));
    for src in sources {
        for &rate in rates {
            let entry = cache
                .entry_path(src, rate)
                .expect("entry path")
                .expect("cache has a dir");
            let name = entry.file_name().expect("name").to_string_lossy().into_owned();
            assert!(
                names.contains(&name),
                "{} at {rate} Hz: no {name} in {names:?}",
                src.display()
            );
        }
    }
}

fn warm(dir: &Path, formats: &[&str]) {
    let mut cmd = common::holdmix(dir);
    cmd.args(["cache", "warm"])
        .arg(common::root().join("playlists/demo.toml"));
    for f in formats {
        cmd.args(["--format", f]);
    }
    common::ok(&mut cmd);
}

#[test]
fn warm_creates_one_entry_per_source_and_rate_and_reuses_them() {
    let dir = common::tempdir();
    let cache_dir = dir.path().join("cache");
    let sources = demo_sources();

    warm(dir.path(), &[]);
    assert_entries(&cache_dir, &sources, &[8_000]);
    let first = listing(&cache_dir);

    // ulaw and alaw share slin's 8 kHz entries: nothing is rewritten.
    warm(dir.path(), &["ulaw", "alaw"]);
    assert_eq!(listing(&cache_dir), first, "a second warm rewrote entries");

    warm(dir.path(), &["slin", "slin16"]);
    assert_entries(&cache_dir, &sources, &[8_000, 16_000]);
    let both = listing(&cache_dir);
    for (name, stamp) in &first {
        assert_eq!(
            both.get(name),
            Some(stamp),
            "{name} was rewritten by the slin16 warm"
        );
    }

    // Each entry holds its source at its rate: header + one f32 per sample.
    let cache = Cache::open(Some(&cache_dir));
    for src in &sources {
        for rate in [8_000, 16_000] {
            let clip = cache
                .lookup(src, rate)
                .expect("lookup")
                .unwrap_or_else(|| panic!("{} not cached", src.display()));
            let entry = cache
                .entry_path(src, rate)
                .expect("entry path")
                .expect("cache has a dir");
            let size = std::fs::metadata(&entry).expect("entry metadata").len();
            assert_eq!(size, HEADER + 4 * clip.len() as u64, "{}", entry.display());
            let seconds = clip.len() as f64 / f64::from(rate);
            assert!(
                seconds >= 0.2,
                "{}: only {seconds:.2} s at {rate} Hz",
                src.display()
            );
        }
    }
}

#[test]
fn entries_are_reused_and_follow_the_source_mtime() {
    let dir = common::tempdir();
    let cache_dir = dir.path().join("cache");
    let cache = Cache::open(Some(&cache_dir));
    assert_eq!(cache.dir(), Some(cache_dir.as_path()));
    let src = dir.path().join("tone.wav");
    common::write_wav(
        &src,
        44_100,
        2,
        &common::stereo(&common::sine(440.0, 0.5, 1.0, 44_100)),
    );

    let a = cache.load(&src, 8_000).expect("first load");
    let entry = cache
        .entry_path(&src, 8_000)
        .expect("entry path")
        .expect("cache has a dir");
    let stamp = listing(&cache_dir);
    assert_eq!(stamp.len(), 1, "one entry: {stamp:?}");
    let b = cache.load(&src, 8_000).expect("second load");
    assert_eq!(a.samples(), b.samples(), "two loads differ");
    assert!(
        a.len().abs_diff(8_000) <= 2,
        "1 s at 8 kHz gave {} samples",
        a.len()
    );
    assert_eq!(listing(&cache_dir), stamp, "the second load rewrote the entry");

    // The entry is the samples as little-endian f32 after the header.
    let bytes = std::fs::read(&entry).expect("read entry");
    assert_eq!(&bytes[..8], b"HMXCACHE");
    let stored: Vec<f32> = bytes[HEADER as usize..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(stored, a.samples());
    let (fresh, _, _) = prepare(&src, 8_000).expect("prepare");
    assert_eq!(fresh, a.samples(), "cached samples differ from a fresh decode");
    drop((a, b));

    // Touching the source (same bytes, new mtime) makes a new entry.
    let mtime = std::fs::metadata(&src)
        .expect("metadata")
        .modified()
        .expect("mtime");
    let file = std::fs::File::options()
        .write(true)
        .open(&src)
        .expect("open source");
    file.set_modified(mtime + Duration::from_secs(5)).expect("touch");
    drop(file);
    let touched = cache
        .entry_path(&src, 8_000)
        .expect("entry path")
        .expect("cache has a dir");
    assert_ne!(touched, entry, "a new mtime must give a new entry");
    assert!(
        cache.lookup(&src, 8_000).expect("lookup").is_none(),
        "stale entry served after touch"
    );
    let c = cache.load(&src, 8_000).expect("load after touch");
    assert!(touched.is_file(), "no new entry at {}", touched.display());
    assert_eq!(listing(&cache_dir).len(), 2);
    assert_eq!(c.samples(), &fresh[..]);

    // New content (same size) with a new mtime: the new entry has the new sound.
    common::write_wav(
        &src,
        44_100,
        2,
        &common::stereo(&common::sine(1000.0, 0.5, 1.0, 44_100)),
    );
    let file = std::fs::File::options()
        .write(true)
        .open(&src)
        .expect("open source");
    file.set_modified(mtime + Duration::from_secs(10)).expect("touch");
    drop(file);
    let d = cache.load(&src, 8_000).expect("load new content");
    assert_ne!(d.samples(), c.samples(), "old audio served for new content");
    assert_eq!(d.samples(), &prepare(&src, 8_000).expect("prepare").0[..]);
    assert_eq!(listing(&cache_dir).len(), 3);
}

#[test]
fn two_concurrent_warmers_leave_a_valid_cache() {
    let dir = common::tempdir();
    let cache_dir = dir.path().join("cache");
    let spawn = || {
        common::holdmix(dir.path())
            .args(["cache", "warm", "--format", "slin", "--format", "slin16"])
            .arg(common::root().join("playlists/demo.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holdmix")
    };
    let (a, b) = (spawn(), spawn());
    for (name, child) in [("first", a), ("second", b)] {
        let out = child.wait_with_output().expect("wait holdmix");
        assert!(
            out.status.success(),
            "{name} warmer: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Exactly one entry per source and rate: no temp files or torn leftovers.
    let sources = demo_sources();
    assert_entries(&cache_dir, &sources, &[8_000, 16_000]);
    let cache = Cache::open(Some(&cache_dir));
    for src in &sources {
        for rate in [8_000, 16_000] {
            let clip = cache
                .lookup(src, rate)
                .expect("lookup")
                .unwrap_or_else(|| panic!("{} at {rate} Hz: invalid entry", src.display()));
            let (fresh, _, _) = prepare(src, rate).expect("prepare");
            assert_eq!(clip.len(), fresh.len(), "{} at {rate} Hz", src.display());
            assert_eq!(clip.samples(), &fresh[..], "{} at {rate} Hz", src.display());
        }
    }
}

#[test]
fn undecodable_file_fails_warm_but_the_rest_is_cached() {
    let dir = common::tempdir();
    let d = dir.path();
    common::write_wav(
        &d.join("good.wav"),
        44_100,
        2,
        &common::stereo(&common::sine(440.0, 0.5, 1.0, 44_100)),
    );
    common::write_wav(
        &d.join("hello.wav"),
        16_000,
        1,
        &common::sine(700.0, 0.3, 0.5, 16_000),
    );
    let bad = d.join("bad.wav");
    let noise: Vec<u8> = (0u32..20_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&bad, noise).expect("write bad.wav");
    let playlist = common::playlist(
        d,
        "p.toml",
        "[music]\ntracks = [\"good.wav\", \"bad.wav\"]\n[prompts]\nhello = \"hello.wav\"\n[welcome]\nsay = [\"hello\"]\n",
    );

    let out = common::holdmix(d)
        .args(["cache", "warm"])
        .arg(&playlist)
        .output()
        .expect("run holdmix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "warm with an undecodable file: {:?}\n{stderr}",
        out.status
    );
    let bad_path = bad.display().to_string();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("holdmix: error: ") && l.contains(&bad_path)),
        "no error line naming {bad_path}:\n{stderr}"
    );
    assert!(
        !stderr.contains(&format!("{}/good.wav", d.display())),
        "good.wav reported:\n{stderr}"
    );

    let cache = Cache::open(Some(&d.join("cache")));
    for name in ["good.wav", "hello.wav"] {
        assert!(
            cache.lookup(&d.join(name), 8_000).expect("lookup").is_some(),
            "{name} not cached"
        );
    }
    assert_eq!(
        listing(&d.join("cache")).len(),
        2,
        "only the two good files are cached"
    );
}

#[test]
fn damaged_entries_are_not_trusted() {
    let dir = common::tempdir();
    let cache = Cache::open(Some(&dir.path().join("cache")));
    let src = dir.path().join("tone.wav");
    common::write_wav(
        &src,
        44_100,
        2,
        &common::stereo(&common::sine(440.0, 0.5, 1.0, 44_100)),
    );
    let original: Vec<f32> = cache.load(&src, 8_000).expect("load").samples().to_vec();
    let entry = cache
        .entry_path(&src, 8_000)
        .expect("entry path")
        .expect("cache has a dir");
    let full = std::fs::metadata(&entry).expect("entry metadata").len();
    assert_eq!(full, HEADER + 4 * original.len() as u64);

    // Half the file, header only, part of the header, nothing.
    for len in [full / 2, HEADER, 10, 0] {
        // No clip maps the entry now: shrinking a mapped file would fault readers.
        let file = std::fs::File::options()
            .write(true)
            .open(&entry)
            .expect("open entry");
        file.set_len(len).expect("truncate entry");
        drop(file);
        assert!(
            cache.lookup(&src, 8_000).expect("lookup").is_none(),
            "entry truncated to {len} bytes was trusted"
        );
        let clip = cache.load(&src, 8_000).expect("reload");
        assert_eq!(
            clip.samples(),
            &original[..],
            "reload after truncation to {len} bytes"
        );
        drop(clip);
        assert_eq!(
            std::fs::metadata(&entry).expect("entry metadata").len(),
            full,
            "entry not rewritten"
        );
    }

    // A wrong magic is not trusted either.
    let mut bytes = std::fs::read(&entry).expect("read entry");
    bytes[0] ^= 0xFF;
    std::fs::write(&entry, bytes).expect("write entry");
    assert!(
        cache.lookup(&src, 8_000).expect("lookup").is_none(),
        "entry with a bad magic was trusted"
    );
    assert_eq!(cache.load(&src, 8_000).expect("reload").samples(), &original[..]);
}

#[test]
fn entries_are_readable_by_every_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::tempdir();
    common::ok(
        common::holdmix(dir.path())
            .args(["cache", "warm"])
            .arg(common::root().join("playlists/demo.toml")),
    );
    let mut n = 0;
    for e in std::fs::read_dir(dir.path().join("cache")).expect("cache dir") {
        let meta = e.expect("entry").metadata().expect("metadata");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644, "entry mode");
        n += 1;
    }
    assert_eq!(n, demo_sources().len());
}

/// A call trusts an entry that passed on this boot (a marker names the
/// file's identity); `check` and `cache warm`, run to find damage, read
/// every entry whole: a bit flipped below the file system, which leaves
/// the identity as it was, is found, and the entry rebuilt.
#[test]
fn check_and_warm_read_every_entry_whole_whatever_this_boots_markers_say() {
    let dir = common::tempdir();
    let d = dir.path();
    common::write_wav(
        &d.join("tone.wav"),
        8_000,
        1,
        &common::sine(440.0, 0.5, 2.0, 8_000),
    );
    let pl = common::playlist(d, "p.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    common::warm_cache(d, &pl);
    let cache = Cache::open(Some(&d.join("cache")));
    let entry = cache
        .entry_path(&d.join("tone.wav"), 8_000)
        .expect("entry path")
        .expect("cache has a dir");
    for (n, command) in [vec!["check"], vec!["cache", "warm"]].into_iter().enumerate() {
        // The damage, then the marker of this boot's check (a disk's flipped
        // bit cannot be made from here: the write moves the file's ctime).
        let mut bytes = std::fs::read(&entry).expect("read entry");
        bytes[HEADER as usize + 4 * (100 + n) + 2] ^= 0x10;
        std::fs::write(&entry, &bytes).expect("write entry");
        mark_verified(&entry);
        let out = common::ok(common::holdmix(d).args(&command).arg(&pl));
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains("damaged cache entry"),
            "{command:?} trusted the marker: {log}"
        );
        let rebuilt = std::fs::read(&entry).expect("read entry");
        assert_ne!(rebuilt, bytes, "{command:?} left the damaged entry");
    }
}

/// Writes the marker this boot's check of `entry` would leave (see
/// `audio::cache::verified`): in `/dev/shm/holdmix-UID/verified`, named by
/// the path's FNV-1a hash, pointing at the file's identity.
fn mark_verified(entry: &Path) {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let markers = PathBuf::from(format!("/dev/shm/holdmix-{uid}/verified"));
    assert!(markers.is_dir(), "no markers at {}", markers.display());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in entry.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let m = std::fs::metadata(entry).expect("entry metadata");
    let identity = format!(
        "{:x}.{:x}.{:x}.{}.{}.{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    let marker = markers.join(format!("{h:016x}"));
    let _ = std::fs::remove_file(&marker);
    std::os::unix::fs::symlink(identity, &marker).expect("marker");
}
