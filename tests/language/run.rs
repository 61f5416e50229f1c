//! Real `holdmix run` processes: the route's `--language`, the channel's
//! language from a byte-exact MusicOnHoldStart over a loopback AMI
//! server, a language not offered, and a respawned generator going on in
//! the caller's choice.

use super::{language_playlist, languages, started};
use crate::common::*;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One `run` of `pl` with `args`: event lines written at their stream times (ms),
/// then `sig` at `end` ms. Returns the timeline and the log.
pub(crate) fn call(
    dir: &Path,
    pl: &Path,
    name: &str,
    args: &[&str],
    lines: &[(u64, &str)],
    end: u64,
    sig: i32,
) -> (Vec<serde_json::Value>, String) {
    let tl = dir.join(format!("{name}.jsonl"));
    let log = dir.join(format!("{name}.log"));
    let mut child = holdmix(dir)
        .arg("--log")
        .arg(&log)
        .arg("run")
        .arg("--playlist")
        .arg(pl)
        .args(["--events", "-", "--timeline"])
        .arg(&tl)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let (count, reader) = counted_drain(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    // Times are the stream's own (16 bytes a millisecond read), not the
    // wall clock's, which a loaded machine stretches.
    for &(t, line) in lines {
        stream_reaches(&mut child, &count, t as usize * 16, || {
            format!("{name}: by {line:?}")
        });
        writeln!(stdin, "{line}").expect("event");
    }
    stream_reaches(&mut child, &count, end as usize * 16, || {
        format!("{name}: by the end")
    });
    signal(&child, sig);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(sig == libc::SIGKILL || status.success(), "{status:?}: {log}");
    reader.join().expect("reader");
    (timeline(&tl), log)
}

#[test]
fn the_routes_language_chooses_the_set() {
    let dir = tempdir();
    let pl = language_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    let (tl, _) = call(
        dir.path(),
        &pl,
        "route",
        &["--language", "ru"],
        &[],
        1500,
        libc::SIGHUP,
    );
    assert_eq!(started(&tl), ["ru/welcome"], "{tl:#?}");
    assert_eq!(languages(&tl).last(), Some(&("ru".into(), "route".into())));
    // The channel's language (later, from AMI) ranks below the route's.
    let (tl, _) = call(
        dir.path(),
        &pl,
        "route-channel",
        &["--language", "ru"],
        &[(200, "language en")],
        1500,
        libc::SIGHUP,
    );
    assert_eq!(languages(&tl).last(), Some(&("ru".into(), "route".into())));
}

#[test]
fn a_language_not_offered_falls_back_to_the_default_logged_once() {
    let dir = tempdir();
    let pl = language_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    let (tl, log) = call(
        dir.path(),
        &pl,
        "de",
        &["--language", "de"],
        &[(300, "language fr"), (400, "language de")],
        1500,
        libc::SIGHUP,
    );
    assert_eq!(started(&tl), ["en/welcome"], "{tl:#?}");
    assert_eq!(
        log.matches("the playlist does not offer this language").count(),
        1,
        "{log}"
    );
    assert!(log.contains("language=de"), "{log}");
    // A code that is not one is refused before it reaches anything, and
    // the call plays on.
    let (tl, log) = call(
        dir.path(),
        &pl,
        "bad",
        &["--language", "../ru;x"],
        &[],
        1500,
        libc::SIGHUP,
    );
    assert_eq!(started(&tl), ["en/welcome"]);
    assert!(log.contains("--language is not a language code"), "{log}");
    assert!(!log.contains("../ru;x"), "{log}");
}

#[test]
fn the_channels_language_from_music_on_hold_start_chooses_the_set() {
    let dir = tempdir();
    let pl = language_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    // Alice's events from the capture up to her MusicOnHoldStart (whose
    // `Language:` is CHANNEL(language)), said here as a Russian channel.
    let raw = std::fs::read_to_string(root().join("tests/ami/session-queue-dtmf.raw")).unwrap();
    let events: Vec<Vec<u8>> = raw
        .split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .take_while(|m| !m.starts_with("Event: MusicOnHoldStart"))
        .chain(
            raw.split("\r\n\r\n")
                .filter(|m| m.starts_with("Event: MusicOnHoldStart"))
                .take(1),
        )
        .map(|m| format!("{}\r\n\r\n", m.replace("Language: en", "Language: ru")).into_bytes())
        .collect();
    assert!(
        events
            .last()
            .is_some_and(|e| e.windows(12).any(|w| w == b"Language: ru"))
    );
    let (port, server) = crate::ami::server::serve_script("hunter2", vec![events]);
    let tl = dir.path().join("tl.jsonl");
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .arg("run")
        .arg("--playlist")
        .arg(&pl)
        .args([
            "--ami",
            &format!("127.0.0.1:{port}"),
            "--channel",
            "Local/200@test-00000000;2",
        ])
        .arg("--timeline")
        .arg(&tl)
        .env("HOLDMIX_AMI_SECRET", "hunter2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (count, reader) = counted_drain(&mut child);
    // Past the first "still there" (7 s of the call).
    heard_reaches(&mut child, &count, &tl, 8500 * 16, String::new);
    signal(&child, libc::SIGHUP);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).0.success());
    reader.join().unwrap();
    drop(server);
    let tl = timeline(&tl);
    assert_eq!(
        languages(&tl).last(),
        Some(&("ru".into(), "channel".into())),
        "{tl:#?}"
    );
    assert_eq!(
        started(&tl).last().map(String::as_str),
        Some("ru/still-there"),
        "{tl:#?}"
    );
}

#[test]
fn a_respawned_generator_goes_on_in_the_callers_language() {
    let dir = tempdir();
    let pl = language_playlist(dir.path());
    warm_cache(dir.path(), &pl);
    let id = ["--uniqueid", "1795734500.3"];
    let (first, _) = call(
        dir.path(),
        &pl,
        "g1",
        &id,
        &[(1000, "dtmf 9")],
        2500,
        libc::SIGKILL,
    );
    assert_eq!(started(&first), ["en/welcome", "ru/chosen"], "{first:#?}");
    // Asterisk's respawn for the same call; past its first "still there".
    let (tl, _) = call(dir.path(), &pl, "g2", &id, &[], 6000, libc::SIGHUP);
    assert!(!events(&tl, "resume").is_empty(), "{tl:#?}");
    assert_eq!(
        languages(&tl).last(),
        Some(&("ru".into(), "caller".into())),
        "{tl:#?}"
    );
    assert_eq!(
        started(&tl).last().map(String::as_str),
        Some("ru/still-there"),
        "{tl:#?}"
    );
}
