//! Hold plans from a webhook (issue 22): a real HTTP server on loopback
//! answers as scripted (well, slowly, broken or hostile) and keeps what it
//! was asked; the plan is heard in the rendered PCM, ducked over music
//! that never stops, and a respawned generator goes on with it.

pub(crate) mod server;

use crate::common::*;
use server::{Reply, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const RATE: u32 = 8000;
/// The music's tone and the prompts' (measured apart in the PCM).
const MUSIC_HZ: f32 = 330.0;
const BEEP_HZ: f32 = 1000.0;
const CHIME_HZ: f32 = 700.0;

/// A one-tone bed, two tone prompts of 1.5 s, and a `[plan]` asking `url`.
fn plan_playlist(dir: &Path, url: &str, extra: &str) -> PathBuf {
    write_wav(&dir.join("bed.wav"), RATE, 1, &sine(MUSIC_HZ, 0.3, 120.0, RATE));
    write_wav(&dir.join("beep.wav"), RATE, 1, &sine(BEEP_HZ, 0.4, 1.5, RATE));
    write_wav(&dir.join("chime.wav"), RATE, 1, &sine(CHIME_HZ, 0.4, 1.5, RATE));
    playlist(
        dir,
        "plan.toml",
        &format!(
            r#"[music]
tracks = ["bed.wav"]
[levels]
duck = 0.1
fade = "200ms"
[prompts]
beep = "beep.wav"
chime = "chime.wav"
[plan]
url = "{url}"
timeout = "1s"
every = "1s"
{extra}"#
        ),
    )
}

/// Renders `secs` of the playlist (a caller's number, a fixed seed).
fn render(dir: &Path, pl: &Path, secs: u32, events: &[&str]) -> (Vec<f32>, Vec<serde_json::Value>) {
    render_call(dir, pl, secs, events, &["--caller", "+15550100", "--seed", "1"])
}

/// The tone's amplitude over [a, b) s.
fn level(s: &[f32], hz: f32, a: f64, b: f64) -> f32 {
    tone_amplitude(window(s, RATE, a, b), hz, RATE)
}

fn plan_prompts(tl: &[serde_json::Value]) -> Vec<(f64, String)> {
    events(tl, "prompt_start")
        .into_iter()
        .filter(|e| e["queue"] == "plan")
        .map(|e| (e["t"].as_f64().unwrap(), e["file"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_play_item_is_heard_ducked_over_the_music_then_the_plan_is_asked_again() {
    let dir = tempdir();
    let s = Server::start(vec![
        Reply::Json(
            200,
            r#"{"schema":"holdmix-plan/1","items":[{"pause":3},{"play":"beep"}]}"#.into(),
        ),
        Reply::Json(200, r#"{"items":[{"pause":60}]}"#.into()),
    ]);
    let pl = plan_playlist(dir.path(), &s.url(), "");
    let (pcm, tl) = render(
        dir.path(),
        &pl,
        12,
        &[
            "0s:position:4",
            "0s:holdtime:5m",
            "0s:queue-size:6",
            "2s:queue-size:5",
        ],
    );

    // Asked at the start, with what the call knows.
    let asks = s.bodies();
    assert_eq!(asks.len(), 2, "{asks:?}");
    let a = &asks[0];
    assert_eq!(a["schema"], "holdmix-ask/1");
    assert_eq!(a["trigger"], "start");
    assert_eq!(a["call"], "render");
    assert_eq!(a["caller"], "+15550100");
    assert_eq!(a["position"], 4);
    assert_eq!(a["queue_size"], 6);
    assert!(a["wait"].as_u64().is_some_and(|w| w > 0), "{a}");
    assert_eq!(a["hold"], 0);
    assert!(a["key"].is_null());

    // The beep after the 3 s pause, once, through the speaker's plan queue.
    let beeps = plan_prompts(&tl);
    assert_eq!(beeps.len(), 1, "{beeps:?}");
    let (t, file) = &beeps[0];
    assert!(file.contains("beep"), "{file}");
    assert!((3.0..3.6).contains(t), "beep at {t}");

    // Heard: nothing of it before, the beep loud over the music ducked
    // (the playlist's 0.1), the music back up after it.
    let before = level(&pcm, MUSIC_HZ, 1.0, 2.8);
    assert!(before > 0.05, "music before: {before}");
    assert!(level(&pcm, BEEP_HZ, 0.5, 2.9) < 0.01);
    let (beep, under) = (
        level(&pcm, BEEP_HZ, t + 0.3, t + 1.3),
        level(&pcm, MUSIC_HZ, t + 0.3, t + 1.3),
    );
    assert!(beep > 0.1, "beep {beep}");
    assert!(
        under > 0.3 * before * 0.1 && under < 0.25 * before,
        "music under the beep {under} (before {before})"
    );
    let after = level(&pcm, MUSIC_HZ, 8.0, 11.5);
    assert!(after > 0.8 * before, "music after {after} (before {before})");

    // Asked again once its items were done, not before.
    let again = events(&tl, "request")
        .into_iter()
        .filter(|e| e["what"] == "plan:done")
        .map(|e| e["t"].as_f64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(again.len(), 1, "{tl:?}");
    assert!(
        again[0] >= t + 1.4 && again[0] < t + 2.5,
        "asked again at {}",
        again[0]
    );
    assert_eq!(asks[1]["trigger"], "done");
    // The queue shrank in between: the next ask says so.
    assert_eq!(asks[1]["queue_size"], 5);
    assert_eq!(asks[1]["hold"], again[0] as u64);
}

#[test]
fn an_armed_key_asks_again_with_that_key() {
    let dir = tempdir();
    let s = Server::start(vec![
        Reply::Json(
            200,
            r#"{"items":[{"pause":60}],"keys":{"1":"ask","4":"next-music"}}"#.into(),
        ),
        Reply::Json(200, r#"{"items":[{"play":"chime"}]}"#.into()),
        Reply::Json(200, r#"{"reask":600}"#.into()),
    ]);
    let pl = plan_playlist(dir.path(), &s.url(), "");
    let (pcm, tl) = render(dir.path(), &pl, 9, &["4s:dtmf:1"]);
    let asks = s.bodies();
    assert!(asks.len() >= 2, "{asks:?}");
    assert_eq!(
        (asks[1]["trigger"].as_str(), asks[1]["key"].as_str()),
        (Some("key"), Some("1"))
    );
    assert_eq!(asks[1]["hold"], 4);
    let key = events(&tl, "dtmf");
    assert_eq!(key[0]["action"], "plan:ask", "{key:?}");
    // The new plan's chime follows at once.
    let chimes = plan_prompts(&tl);
    assert_eq!(chimes.len(), 1, "{chimes:?}");
    let t = chimes[0].0;
    assert!((4.0..4.6).contains(&t), "chime at {t}");
    assert!(level(&pcm, CHIME_HZ, t + 0.3, t + 1.2) > 0.1);
    assert!(level(&pcm, CHIME_HZ, 1.0, 3.9) < 0.01);
}

/// A server that fails, in every way: the playlist plays on as if there
/// were no plan (the music never ducks nor stops), each failure is one
/// clear log line, and the asks back off.
#[test]
fn slow_broken_and_hostile_servers_leave_the_music_playing() {
    let many = format!(
        r#"{{"items":[{}]}}"#,
        vec![r#"{"play":"beep"}"#; 10_000].join(",")
    );
    let hundred = format!(r#"{{"items":[{}]}}"#, vec![r#"{"play":"beep"}"#; 100].join(","));
    let raw = |s: &str| Reply::Raw(s.as_bytes().to_vec());
    let cases: Vec<(&str, Reply, &str)> = vec![
        (
            "slow",
            Reply::Slow(Duration::from_secs(3), r#"{"items":[{"play":"beep"}]}"#.into()),
            "did not answer",
        ),
        (
            "drip",
            Reply::Drip(
                Duration::from_millis(300),
                r#"{"items":[{"play":"beep"}]}"#.into(),
            ),
            "did not answer",
        ),
        (
            "500",
            Reply::Json(500, r#"{"items":[{"play":"beep"}]}"#.into()),
            "answered 500",
        ),
        (
            "redirect",
            raw("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n"),
            "redirects are not followed",
        ),
        (
            "garbage",
            raw("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!"),
            "not JSON",
        ),
        (
            "truncated",
            raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"items\":[{\"pl"),
            "plan",
        ),
        ("reset", Reply::Reset, "plan"),
        (
            "huge",
            Reply::Json(200, format!(r#"{{"items":[],"x":"{}"}}"#, "a".repeat(1 << 20))),
            "over 64 KiB",
        ),
        // Over the body cap before any item is read; 100 are over the item cap.
        ("10,000 items", Reply::Json(200, many), "over 64 KiB"),
        ("100 items", Reply::Json(200, hundred), "100 items (at most 32)"),
        (
            "unknown",
            Reply::Json(200, r#"{"items":[{"play":"nosuch"}]}"#.into()),
            "no prompt \\\"nosuch\\\"",
        ),
        (
            "path",
            Reply::Json(200, r#"{"items":[{"play":"/etc/passwd"}]}"#.into()),
            "is not a name",
        ),
        (
            "url",
            Reply::Json(200, r#"{"items":[{"play":"http://evil.example/x.wav"}]}"#.into()),
            "is not a name",
        ),
        (
            "negative",
            Reply::Json(200, r#"{"items":[{"pause":-3}]}"#.into()),
            "pause -3",
        ),
        (
            "huge number",
            Reply::Json(200, r#"{"items":[{"play":"beep"}],"reask":1e308}"#.into()),
            "reask",
        ),
        (
            "kind",
            Reply::Json(200, r#"{"items":[{"exec":"rm -rf /"}]}"#.into()),
            "unknown item",
        ),
    ];
    for (name, reply, why) in cases {
        let dir = tempdir();
        let s = Server::start(vec![reply]);
        let pl = plan_playlist(dir.path(), &s.url(), "");
        let (pcm, tl) = render(dir.path(), &pl, 6, &[]);
        // Music all along: every half second at its level, never ducked.
        let full = level(&pcm, MUSIC_HZ, 1.0, 5.5);
        assert!(full > 0.05, "{name}: music {full}");
        for k in 1..11 {
            let a = f64::from(k) * 0.5;
            let l = level(&pcm, MUSIC_HZ, a, a + 0.5);
            assert!(l > 0.8 * full, "{name}: music at {a} s is {l} (of {full})");
        }
        assert!(plan_prompts(&tl).is_empty(), "{name}: a plan prompt played");
        assert!(
            level(&pcm, BEEP_HZ, 0.0, 6.0) < 0.01,
            "{name}: the beep was heard"
        );
        // Said why, in the timeline.
        let failed = events(&tl, "plan");
        assert!(!failed.is_empty(), "{name}: no plan event: {tl:?}");
        assert!(failed.iter().all(|e| e["ok"] == false), "{name}: {failed:?}");
        let reason = failed[0]["reason"].to_string();
        assert!(reason.contains(why), "{name}: {reason}");
        // Backed off (every 1 s): a retry 2 s after the first failure, the
        // next one 4 s after that, past the render's end.
        let asks: Vec<(String, f64)> = events(&tl, "request")
            .iter()
            .map(|e| (e["what"].as_str().unwrap().to_string(), e["t"].as_f64().unwrap()))
            .collect();
        assert_eq!(asks.len(), 2, "{name}: {asks:?}");
        assert_eq!(
            (asks[0].0.as_str(), asks[1].0.as_str()),
            ("plan:start", "plan:retry"),
            "{name}"
        );
        assert!((1.9..2.3).contains(&(asks[1].1 - asks[0].1)), "{name}: {asks:?}");
        assert_eq!(s.bodies().len(), 2, "{name}");
    }
}

#[test]
fn a_failed_ask_logs_one_clear_line() {
    let dir = tempdir();
    let s = Server::start(vec![Reply::Json(500, "{}".into())]);
    let pl = plan_playlist(dir.path(), &s.url(), "");
    let log = dir.path().join("r.log");
    ok(holdmix(dir.path())
        .arg("--log")
        .arg(&log)
        .args(["render", pl.to_str().unwrap(), "--duration", "10s", "-o"])
        .arg(dir.path().join("o.wav")));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("plan ask failed")).collect();
    // Several asks failed (backed off), one line said so.
    assert!(s.bodies().len() >= 2, "{}", s.bodies().len());
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("answered 500") && lines[0].contains("the playlist goes on"),
        "{}",
        lines[0]
    );
    assert!(!text.contains("127.0.0.1"), "the URL was logged:\n{text}");
}

#[test]
fn the_number_goes_to_the_plan_only_with_a_trusted_identity() {
    for (trusted, how) in [(true, "argv"), (false, "env")] {
        let dir = tempdir();
        let s = Server::start(vec![Reply::Json(200, r#"{"reask":600}"#.into())]);
        let secret = dir.path().join("plan.secret");
        std::fs::write(&secret, "Bearer s3cret-token\n").unwrap();
        let pl = plan_playlist(dir.path(), &s.url(), "secret_file = \"plan.secret\"");
        warm_cache(dir.path(), &pl);
        let mut cmd = holdmix(dir.path());
        cmd.arg("--log")
            .arg(dir.path().join("run.log"))
            .args(["run", "--playlist", pl.to_str().unwrap(), "--events", "-"])
            .args(["--uniqueid", "1700000000.7", "--queue", "support"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if trusted {
            cmd.args(["--caller", "+15550199"]);
        } else {
            cmd.env("PHONE", "+15550199");
        }
        let mut child = cmd.spawn().unwrap();
        let reader = drain(&mut child);
        let t0 = std::time::Instant::now();
        while s.bodies().is_empty() && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, libc::SIGHUP);
        assert!(wait_exit(&mut child, Duration::from_secs(20)).0.success());
        reader.join().unwrap();
        let asks = s.bodies();
        assert_eq!(asks.len(), 1, "{how}: {asks:?}");
        let a = &asks[0];
        assert_eq!(
            (a["call"].as_str(), a["queue"].as_str()),
            (Some("1700000000.7"), Some("support")),
            "{a}"
        );
        assert_eq!(a["trigger"], "start");
        if trusted {
            assert_eq!(a["caller"], "+15550199", "{a}");
        } else {
            assert!(a["caller"].is_null(), "{how}: {a}");
            assert!(!a.to_string().contains("5550199"), "{a}");
        }
        // The header from the secret file, and the secret nowhere in the log.
        let h = &s.seen_headers()[0];
        assert!(
            h.contains(&("authorization".into(), "Bearer s3cret-token".into())),
            "{h:?}"
        );
        let log = log_text(dir.path());
        assert!(!log.contains("s3cret"), "{log}");
    }
}

#[test]
fn check_names_the_file_line_and_field_of_a_bad_plan() {
    let dir = tempdir();
    let check = |text: &str| {
        let pl = playlist(dir.path(), "bad.toml", text);
        let out = holdmix(dir.path())
            .arg("check")
            .arg("--quick")
            .arg(&pl)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let text = check("[music]\ntracks = []\n[plan]\nurl = \"ftp://hold.example/plan\"\n");
    for want in ["bad.toml:4", "plan.url", "is not http or https"] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    let text = check(
        "[plan]\nurl = \"http://127.0.0.1:1/p\"\nevery = \"0s\"\nheader = \"X-Token\"\nretries = 3\ntimeout = -1\n",
    );
    for want in [
        "bad.toml:3",
        "plan.every",
        "bad.toml:4",
        "plan.header",
        "needs `secret_file` or `secret_env`",
        "bad.toml:5",
        "plan.retries",
        "bad.toml:6",
        "plan.timeout",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    let text = check("[plan]\ntimeout = \"1s\"\n");
    assert!(
        text.contains("bad.toml:1") && text.contains("a plan needs `url`"),
        "{text}"
    );
}

/// A generator killed in the middle of a plan and respawned for the same
/// call goes on with it: what was heard is not heard again, and the server
/// is not asked again from the start.
#[test]
fn a_respawned_generator_goes_on_with_the_plan() {
    let dir = tempdir();
    let s = Server::start(vec![
        Reply::Json(
            200,
            r#"{"items":[{"play":"beep"},{"pause":600}],"keys":{"1":"ask"}}"#.into(),
        ),
        Reply::Json(200, r#"{"items":[{"play":"chime"}],"reask":600}"#.into()),
    ]);
    let pl = plan_playlist(dir.path(), &s.url(), "");
    warm_cache(dir.path(), &pl);
    let spawn = |name: &str| {
        let tl = dir.path().join(format!("{name}.jsonl"));
        let mut child = holdmix(dir.path())
            .arg("--log")
            .arg(dir.path().join(format!("{name}.log")))
            .args(["run", "--playlist", pl.to_str().unwrap(), "--events", "-"])
            .args(["--uniqueid", "1700000000.9", "--state-dir"])
            .arg(dir.path().join("calls"))
            .arg("--timeline")
            .arg(&tl)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (count, reader) = counted_drain(&mut child);
        (child, count, reader, tl)
    };
    // Waits for `ms` more of a process's stream: its own time, which a
    // loaded machine stretches on the wall clock.
    let stream_for = |name: &str, child: &mut std::process::Child, count: &AtomicUsize, ms: usize| {
        let want = count.load(Ordering::SeqCst) + ms * 16;
        stream_reaches(child, count, want, || name.to_string());
    };
    let (mut g1, c1, r1, tl1) = spawn("g1");
    // Until the beep has been heard, then a little of the stream for its
    // checkpoint.
    let t0 = std::time::Instant::now();
    let ended = |tl: &Path| {
        tl.exists()
            && timeline(tl)
                .iter()
                .any(|e| e["event"] == "prompt_end" && e["file"].as_str().is_some_and(|f| f.contains("beep")))
    };
    while !ended(&tl1) && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ended(&tl1), "no beep in 30 s: {:?}", timeline(&tl1));
    stream_for("g1", &mut g1, &c1, 1500);
    signal(&g1, libc::SIGKILL);
    wait_exit(&mut g1, Duration::from_secs(20));
    r1.join().unwrap();
    assert_eq!(s.bodies().len(), 1);

    let (mut g2, c2, r2, tl2) = spawn("g2");
    let mut keys = g2.stdin.take().unwrap();
    // Three seconds of the new stream (the music heard before the key).
    stream_for("g2", &mut g2, &c2, 3000);
    // The plan's key is still armed in the new process.
    writeln!(keys, "dtmf 1").unwrap();
    let t0 = std::time::Instant::now();
    while s.bodies().len() < 2 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new plan's chime played (three seconds of the stream).
    stream_for("g2", &mut g2, &c2, 3000);
    signal(&g2, libc::SIGHUP);
    assert!(wait_exit(&mut g2, Duration::from_secs(20)).0.success());
    let pcm: Vec<f32> = r2
        .join()
        .unwrap()
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let tl = timeline(&tl2);
    assert!(!events(&tl, "resume").is_empty(), "not resumed: {tl:?}");
    let played: Vec<String> = plan_prompts(&tl).into_iter().map(|(_, f)| f).collect();
    assert!(
        !played.iter().any(|f| f.contains("beep")),
        "the beep again: {played:?}"
    );
    assert!(played.iter().any(|f| f.contains("chime")), "{played:?}");
    let asks = s.bodies();
    assert_eq!(asks.len(), 2, "{asks:?}");
    assert_eq!(
        (asks[1]["trigger"].as_str(), asks[1]["key"].as_str()),
        (Some("key"), Some("1"))
    );
    // Music in the new process before the key: the pause, heard as music.
    assert!(pcm.len() > RATE as usize * 4, "{} samples", pcm.len());
    let music = level(&pcm, MUSIC_HZ, 0.5, 2.5);
    assert!(music > 0.05, "music after the respawn {music}");
    assert!(level(&pcm, BEEP_HZ, 0.0, 2.5) < 0.01);
}
