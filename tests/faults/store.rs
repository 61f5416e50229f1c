//! MariaDB killed (SIGKILL) mid-call under a live `run` with caller memory:
//! the caller's choice made while the server is dead is accepted, kept by
//! the store's worker and written once the server is back, while the call
//! goes on; one log line when it goes and one when it is back. (The
//! store-level cases, with a clean stop, are in `store`.)

use crate::common::mariadb::Mariadb;
use crate::common::*;
use std::io::Write;
use std::time::{Duration, Instant};

const CALLER: &str = "79001112233";

#[test]
fn mariadb_killed_mid_call_loses_no_accepted_write() {
    let mut db = Mariadb::start();
    let name = db.create_db("killed");
    let url = db.url(&name);
    let pw = db.password_file();
    let dir = tempdir();
    let music = root().join("sample-audio/music");
    // Two 40 s tracks: the key's switch is the only change for the test's
    // whole length, so the only write before the exit is the one made
    // while the server was dead.
    let pl = playlist(
        dir.path(),
        "p.toml",
        &format!(
            "[music]\ntracks = [{:?}, {:?}]\nstart = \"remembered\"\n[keys]\n3 = {{ action = \"next-music\" }}\n",
            music.join("bed-2-bright.mp3").to_str().expect("path"),
            music.join("bed-4-pulse.ogg").to_str().expect("path"),
        ),
    );
    warm_cache(dir.path(), &pl);
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            pl.to_str().expect("path"),
            "--events",
            "-",
            "--caller",
            CALLER,
            "--timeline",
            tl.to_str().expect("path"),
            "--store",
            &url,
            "--store-password-file",
            pw.to_str().expect("path"),
        ],
    );
    let (count, reader) = counted_drain(&mut child);
    let mut keys = child.stdin.take().expect("stdin");
    // A second of the call itself (its caller read from the store at its
    // start), however late a loaded machine starts it.
    heard_reaches(&mut child, &count, &tl, 16_000, || {
        format!("before the kill:\n{}", log_text(dir.path()))
    });

    // Killed, as the OOM killer or a crash does: no clean shutdown.
    let pid: i32 = std::fs::read_to_string(pw.parent().expect("db dir").join("pid"))
        .expect("mariadbd pid file")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: kill(2) on the test's own MariaDB server.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Dead (its connections closed), not a guess at how long that takes.
    let started = Instant::now();
    while !dead(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "mariadbd {pid} outlived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    writeln!(keys, "dtmf 3").expect("key");
    assert!(
        wait_for_event(&tl, "music_switch", Duration::from_secs(20)),
        "no switch for the key:\n{}",
        log_text(dir.path())
    );
    let switched = events(&timeline(&tl), "music_switch")
        .first()
        .map(|e| e["to"].as_str().expect("to").to_string())
        .expect("the key switched the music");

    // Back (crash recovery on the same data), while the call goes on: the
    // write accepted while it was dead arrives without any new one.
    db.stop();
    db.restart();
    let mut backend = holdmix::store::Backend::open(Some(&url), Some(&pw)).expect("backend");
    let started = Instant::now();
    let remembered = loop {
        let now = holdmix::store::unix_now();
        let music = backend
            .get_caller(CALLER, now, Duration::from_secs(86_400))
            .ok()
            .flatten()
            .and_then(|r| r.music);
        if let Some(m) = music.clone().filter(|m| m.ends_with(&switched)) {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the write accepted while MariaDB was dead never arrived ({music:?}):\n{}",
            log_text(dir.path())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // More than the three seconds of the call measured below.
    heard_reaches(&mut child, &count, &tl, 56_000, || log_text(dir.path()));
    let alive = child.try_wait().expect("try_wait").is_none();
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(20));
    assert!(alive && status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    assert!(remembered.ends_with(&switched), "{remembered}");

    // The music never stopped for the database.
    let tl = timeline(&tl);
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!(pcm.len() > 8000 * 3, "{} samples", pcm.len());
    let quietest = pcm[800..].chunks(4000).map(rms).fold(f32::MAX, f32::min);
    assert!(quietest > 0.003, "a silent 500 ms in the stream (rms {quietest})");
    let log = log_text(dir.path());
    assert_eq!(log.matches("retrying").count(), 1, "{log}");
    assert_eq!(log.matches("available again").count(), 1, "{log}");
}

/// Whether process `pid` is dead: gone, or a zombie not yet reaped.
fn dead(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}
