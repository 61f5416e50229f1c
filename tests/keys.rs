//! Keys answer at once (issue 19): a key whose action speaks cuts the
//! prompt playing with a short fade (measured in the rendered PCM: no
//! click, the answer's first sample where the timeline says), a welcome is
//! never split by another prompt, a redirect goes out as its confirmation
//! ends, and through a real hub a redirect reaches the AMI server without
//! waiting for anyone's read tick.

use crate::common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const RATE: u32 = 8000;

/// Music (200 Hz), two welcome parts (250 Hz and 330 Hz, 3 s each, at full
/// amplitude to their last sample), an answer (400 Hz) and a position word.
fn fixtures(dir: &Path) {
    let tone = |f: f32, secs: f32| sine(f, 0.5, secs, 16_000);
    write_wav(
        &dir.join("music.wav"),
        16_000,
        1,
        &sine(200.0, 0.25, 30.0, 16_000),
    );
    write_wav(&dir.join("w1.wav"), 16_000, 1, &tone(250.0, 3.0));
    write_wav(&dir.join("w2.wav"), 16_000, 1, &tone(330.0, 3.0));
    write_wav(&dir.join("answer.wav"), 16_000, 1, &tone(400.0, 1.0));
    write_wav(&dir.join("pos.wav"), 16_000, 1, &tone(500.0, 1.0));
}

const PLAYLIST: &str = r#"
[music]
tracks = ["music.wav"]
[levels]
fade = "1s"
[prompts]
w1 = "w1.wav"
w2 = "w2.wav"
answer = "answer.wav"
pos = "pos.wav"
[welcome]
say = ["w1", "w2"]
[announce.position]
say = ["pos"]
[keys]
6 = { action = "say", say = ["answer"] }
9 = { action = "redirect", say = ["answer"], to = "callback,s,1" }
"#;

fn render(dir: &Path, secs: u32, events: &[&str]) -> (Vec<f32>, Vec<serde_json::Value>) {
    fixtures(dir);
    let pl = playlist(dir, "p.toml", PLAYLIST);
    render_call(dir, &pl, secs, events, &[])
}

/// The files of the prompts started, in order.
fn started(tl: &[serde_json::Value]) -> Vec<String> {
    events(tl, "prompt_start")
        .iter()
        .map(|e| {
            let f = e["file"].as_str().unwrap_or("");
            f.rsplit('/')
                .next()
                .unwrap_or(f)
                .trim_end_matches(".wav")
                .to_string()
        })
        .collect()
}

fn t_of(tl: &[serde_json::Value], kind: &str, file: &str) -> f64 {
    events(tl, kind)
        .iter()
        .find(|e| e["file"].as_str().is_some_and(|f| f.contains(file)))
        .and_then(|e| e["t"].as_f64())
        .unwrap_or_else(|| panic!("no {kind} of {file} in {tl:?}"))
}

/// Second differences show clicks (as in `render_audio`): a smooth sine of
/// amplitude A and angular step w has |d2| <= A w^2; a jump J shows as J.
fn max_d2(s: &[f32]) -> f32 {
    s.windows(3)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_key_cuts_the_welcome_with_a_short_fade_and_is_answered_at_once() {
    let dir = tempdir();
    // The welcome's first part plays from about 1 s (after the duck's
    // 1 s fade); the key comes 1 s into it.
    let key = 2.0;
    let (s, tl) = render(dir.path(), 8, &["2s:dtmf:6"]);
    // The timeline: the welcome cut at the key, the rest of it dropped
    // (never heard split), the answer at once.
    assert_eq!(started(&tl), ["w1", "answer"], "{tl:?}");
    let cut = events(&tl, "prompt_end")[0];
    assert_eq!(cut["skipped"], true);
    let answer = t_of(&tl, "prompt_start", "answer");
    // Heard times: the key acts at its frame (2.00 s), the output is one
    // frame behind (2.02 s), the fade lasts 20 ms (a frame) and the answer
    // starts at the frame after it: 2.04 s.
    assert!(answer - key <= 0.1, "answer at {answer} for a key at {key}");

    // The PCM: the welcome's 250 Hz is there before the key and gone
    // 60 ms after it is heard; the answer's 400 Hz is there by then.
    let before = tone_amplitude(window(&s, RATE, key - 0.5, key), 250.0, RATE);
    let heard = key + 0.02;
    let after = tone_amplitude(window(&s, RATE, heard + 0.06, heard + 0.5), 250.0, RATE);
    assert!(before > 0.05, "the welcome plays: {before}");
    assert!(
        after < before * 0.05,
        "the welcome faded in 60 ms: {after} vs {before}"
    );
    let answered = tone_amplitude(window(&s, RATE, heard + 0.06, heard + 0.5), 400.0, RATE);
    let steady = tone_amplitude(window(&s, RATE, heard + 0.3, heard + 0.8), 400.0, RATE);
    assert!(
        answered > steady * 0.7,
        "the answer from 60 ms: {answered} vs {steady}"
    );
    // Its first sample where the timeline says: silent before, sounding
    // within 10 ms after (the edge declick is 5 ms).
    let a = (answer * RATE as f64) as usize;
    let pre = tone_amplitude(&s[a - 240..a], 400.0, RATE);
    let post = tone_amplitude(&s[a + 80..a + 400], 400.0, RATE);
    assert!(
        pre < steady * 0.1 && post > steady * 0.5,
        "answer edge: {pre} then {post} (steady {steady})"
    );

    // No click: the cut and the answer's start are as smooth as the
    // steady passages around them (the welcome over the ducked music, the
    // answer over it).
    let bound = max_d2(window(&s, RATE, 1.5, 1.95)).max(max_d2(window(&s, RATE, 2.3, 2.8)));
    let worst = max_d2(window(&s, RATE, 1.95, 2.3));
    assert!(worst <= bound * 1.5, "click at the cut: {worst:.4} vs {bound:.4}");
    let step = max_step(window(&s, RATE, 1.5, 1.95)).max(max_step(window(&s, RATE, 2.3, 2.8)));
    assert!(
        max_step(window(&s, RATE, 1.95, 2.3)) <= step * 1.1,
        "no jump beyond the fade's"
    );
}

#[test]
fn a_welcome_is_never_split_by_a_position_announcement() {
    // Issue 19: a position came in during the welcome's first part and
    // was said between its two parts (its priority is higher).
    let dir = tempdir();
    let (_, tl) = render(dir.path(), 12, &["1.5s:position:3"]);
    assert_eq!(started(&tl), ["w1", "w2", "pos"], "{tl:?}");
    assert!(t_of(&tl, "prompt_start", "w2") - t_of(&tl, "prompt_end", "w1") <= 0.021);
}

#[test]
fn the_welcome_comes_before_a_position_known_from_the_start() {
    // Through the hub the generator learns its place 0.1 s into the call,
    // while the music fades down for the welcome: on a real Asterisk every
    // queued caller heard "you are next" and then "welcome".
    let dir = tempdir();
    let (_, tl) = render(dir.path(), 12, &["0.1s:position:3"]);
    assert_eq!(started(&tl), ["w1", "w2", "pos"], "{tl:?}");
}

#[test]
fn a_redirect_goes_out_as_its_confirmation_ends() {
    // Key 9 during the welcome, with a position waiting to be said: the
    // confirmation cuts the welcome, and the redirect follows it at once,
    // not after the position (nor after the welcome: 4.2 s and 8.4 s late
    // in issue 19).
    let dir = tempdir();
    let (_, tl) = render(dir.path(), 12, &["1.9s:position:3", "2s:dtmf:9"]);
    assert_eq!(started(&tl)[..2], ["w1", "answer"], "{tl:?}");
    let confirmed = t_of(&tl, "prompt_end", "answer");
    let redirect = events(&tl, "redirect");
    assert_eq!(redirect.len(), 1, "{tl:?}");
    assert_eq!(redirect[0]["context"], "callback");
    let at = redirect[0]["t"].as_f64().expect("t");
    assert!(
        (0.0..=0.021).contains(&(at - confirmed)),
        "redirect at {at}, confirmation ended at {confirmed}"
    );
    // The answer is a second long: key, fade, a second, the redirect.
    assert!(at - 2.0 <= 1.15, "redirect {:.3} s after the key", at - 2.0);
}

/// A loopback AMI server for one hub: it answers every action, lists one
/// live call (Alice's) for `CoreShowChannels` and an empty queue status,
/// sends `DTMFEnd` for key 1 on Alice's channel when `go` says so, and
/// returns how long after that the hub's `Redirect` came in.
fn serve_one_key(go: std::sync::mpsc::Receiver<()>) -> (u16, std::thread::JoinHandle<Option<Duration>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        sock.write_all(b"Asterisk Call Manager/11.0.0\r\n")
            .expect("banner");
        let mut decoder = holdmix::ami::codec::Decoder::new();
        let mut sent: Option<Instant> = None;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let mut buf = [0u8; 4096];
            let mut items = Vec::new();
            match sock.read(&mut buf) {
                Ok(0) => return None,
                Ok(k) => decoder.feed(&buf[..k], &mut items),
                Err(_) => {}
            }
            for item in items {
                let holdmix::ami::codec::Item::Message(m) = item else {
                    continue;
                };
                let action = m.get("Action").unwrap_or("").to_string();
                let id = m.get("ActionID").unwrap_or("").to_string();
                if action == "Redirect" {
                    assert_eq!(m.get("Channel"), Some(ALICE));
                    return sent.map(|t| t.elapsed());
                }
                let mut reply = format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n");
                if action == "CoreShowChannels" {
                    reply += &format!(
                        "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: {ALICE}\r\nUniqueid: {ALICE_UID}\r\nCallerIDNum: 79001112233\r\n\r\n\
                         Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
                    );
                }
                if action == "QueueStatus" {
                    reply += &format!(
                        "Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                    );
                }
                sock.write_all(reply.as_bytes()).ok();
            }
            if sent.is_none() && go.try_recv().is_ok() {
                let dtmf = format!(
                    "Event: DTMFEnd\r\nPrivilege: dtmf,all\r\nChannel: {ALICE}\r\nUniqueid: {ALICE_UID}\r\nDigit: 1\r\nDurationMs: 120\r\nDirection: Received\r\n\r\n"
                );
                sock.write_all(dtmf.as_bytes()).expect("dtmf");
                sent = Some(Instant::now());
            }
        }
        None
    });
    (port, handle)
}

const ALICE: &str = "Local/200@test-00000000;2";
const ALICE_UID: &str = "1795452414.1";

#[test]
fn through_the_hub_a_redirect_key_reaches_asterisk_without_a_read_tick() {
    // Issue 19: through the hub a redirect waited for the generator's read
    // tick on the hub's socket and for the hub's AMI read tick (1 s each;
    // measured 1.02 s). Now both wake on the redirect. Nothing else comes
    // from the server after the key, so a tick would show in full.
    let dir = tempdir();
    let (go, went) = std::sync::mpsc::channel();
    let (port, server) = serve_one_key(went);
    let socket = dir.path().join("hub.sock");
    let mut hub = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("hub.log"))
        .args(["hub", "--ami", &format!("127.0.0.1:{port}"), "--socket"])
        .arg(&socket)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn hub");
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err()
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let token = holdmix::hub::token::Key::load_or_create(&dir.path().join("hub.key"))
        .expect("the hub's key")
        .token(ALICE_UID);
    let pl = playlist(
        dir.path(),
        "p.toml",
        "[keys]\n1 = { action = \"redirect\", to = \"callback,s,1\" }\n",
    );
    let tl = dir.path().join("tl.jsonl");
    let mut run = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["run", "--hub"])
        .arg(&socket)
        .args(["--uniqueid", ALICE_UID, "--hub-token", &token, "--playlist"])
        .arg(&pl)
        .arg("--timeline")
        .arg(&tl)
        .env_remove("PHONE")
        .env_remove("CHANNEL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let reader = drain(&mut run);
    // Subscribed and following (the identity is the follower's first word).
    let started = Instant::now();
    while !std::fs::read_to_string(&tl).is_ok_and(|t| t.contains("\"identity\""))
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past the reads that began with the greeting.
    std::thread::sleep(Duration::from_millis(1500));
    go.send(()).expect("server");
    let took = server.join().expect("server");
    signal(&run, libc::SIGHUP);
    wait_exit(&mut run, Duration::from_secs(5));
    reader.join().ok();
    signal(&hub, libc::SIGTERM);
    hub.wait().ok();
    let took = took.unwrap_or_else(|| panic!("no redirect came: {}", log_text(dir.path())));
    // Generous for a loaded machine; a read tick alone is 1 s (the figure
    // itself, p50/p99, is in docs/benchmarks.md).
    assert!(took < Duration::from_millis(800), "the redirect took {took:?}");
    let tl = timeline(&tl);
    assert_eq!(events(&tl, "redirect").len(), 1);
}
