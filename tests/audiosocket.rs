//! `holdmix serve --audiosocket` with a client on loopback that speaks the
//! framing a real Asterisk 22 spoke (tests/audiosocket/: its bytes and
//! their timing, captured): the packets and their pacing, the audio
//! against `holdmix render` of the same playlist, keys in-band, each bad
//! input ending only its call, the call cap, a reconnect by UUID that
//! resumes, and events from the registry reaching a call.

mod client;

use crate::common::*;
use client::{Heard, Progress, call, connect, connect_counted, hang_up, replay_capture, serve, uuid_packet};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const RATE: u32 = 8000;
/// The UUID of the captured call.
const CAPTURED: &str = "dcafb1f4-b19d-4f55-bebe-591312c25aaa";

/// Music (200 Hz), a welcome (330 Hz, 1.5 s), key 1's answer (400 Hz, 1 s)
/// and a position prompt (500 Hz, 1 s).
fn fixtures(dir: &Path) -> PathBuf {
    let tone = |f: f32, secs: f32| sine(f, 0.5, secs, 16_000);
    write_wav(
        &dir.join("music.wav"),
        16_000,
        1,
        &sine(200.0, 0.25, 30.0, 16_000),
    );
    write_wav(&dir.join("welcome.wav"), 16_000, 1, &tone(330.0, 1.5));
    write_wav(&dir.join("answer.wav"), 16_000, 1, &tone(400.0, 1.0));
    write_wav(&dir.join("pos.wav"), 16_000, 1, &tone(500.0, 1.0));
    playlist(
        dir,
        "p.toml",
        r#"
[music]
tracks = ["music.wav"]
[levels]
fade = "100ms"
[prompts]
welcome = "welcome.wav"
answer = "answer.wav"
pos = "pos.wav"
[welcome]
say = ["welcome"]
[announce.position]
say = ["pos"]
[keys]
1 = { action = "say", say = ["answer"] }
"#,
    )
}

/// Every packet audio of whole 20 ms frames; sent no faster than the
/// clock (never more than 100 ms ahead of its own start), and at least
/// 70 % of real time (a loaded machine may skip some).
fn assert_framed_and_paced(heard: &Heard, span: Duration) {
    assert!(!heard.packets.is_empty());
    for (i, (at, kind, payload)) in heard.packets.iter().enumerate() {
        assert_eq!((*kind, payload.len()), (0x10, 320), "packet {i}");
        let allowed = at.as_secs_f64() / 0.020 + 1.0 + 5.0;
        assert!(
            (i + 1) as f64 <= allowed,
            "packet {i} arrived at {at:?}: ahead of the clock (a burst)"
        );
    }
    let n = heard.packets.len() as f64;
    let want = span.as_secs_f64() / 0.020;
    assert!(n >= 0.7 * want, "{n} frames in {span:?}");
}

/// Each heard frame is a frame of `render`, in order (a stream may skip
/// frames under load, never reorder or change one): how many sat at their
/// own index.
fn assert_frames_are_the_render(heard: &[f32], render: &[f32]) -> usize {
    let to_i16 = |s: &[f32]| s.iter().map(|x| (x * 32768.0).round() as i32).collect::<Vec<_>>();
    let (h, r) = (to_i16(heard), to_i16(render));
    let rf: Vec<&[i32]> = r.chunks_exact(160).collect();
    let mut j = 0;
    let mut in_place = 0;
    for (i, f) in h.chunks_exact(160).enumerate() {
        let Some(k) = (j..rf.len()).find(|&k| rf[k] == f) else {
            panic!("heard frame {i} is not in the render after frame {j}");
        };
        in_place += usize::from(k == i);
        j = k + 1;
    }
    in_place
}

fn amp(s: &[f32], freq: f32, from: f64, to: f64) -> f32 {
    tone_amplitude(window(s, RATE, from, to), freq, RATE)
}

/// A tone heard where it should be, at least four times (12 dB) what is
/// there where it should not be.
fn louder(what: &str, present: f32, absent: f32) {
    assert!(
        present > 0.01 && present > 4.0 * absent,
        "{what}: {present} against {absent}"
    );
}

/// The log's lines about call `uuid`.
fn call_log(dir: &Path, uuid: &str) -> String {
    log_text(dir)
        .lines()
        .filter(|l| l.contains(uuid))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How far a call's stream has come: its audio packets so far, and
/// whether the server has closed it.
/// `client::call`, with its [`Progress`] beside it (`wait_packets`).
fn counted_call(addr: SocketAddr, uuid: &str) -> (TcpStream, Arc<Progress>, JoinHandle<Heard>) {
    let (mut sock, progress, reader) = connect_counted(addr);
    sock.write_all(&uuid_packet(uuid)).expect("uuid");
    (sock, progress, reader)
}

/// Waits (60 s at most) until the call has had `packets` audio packets
/// (20 ms each); fails, with the log, if it did not or was closed first.
fn wait_packets(dir: &Path, progress: &Progress, packets: usize, what: &str) {
    let start = Instant::now();
    loop {
        let n = progress.audio.load(Ordering::SeqCst);
        if n >= packets {
            return;
        }
        let closed = progress.closed.load(Ordering::SeqCst);
        assert!(
            !closed && start.elapsed() < Duration::from_secs(60),
            "{what}: {n} audio packets, not {packets} (closed: {closed})\n{}",
            log_text(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_log(dir: &Path, what: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let log = log_text(dir);
        if log.contains(what) {
            return log;
        }
        assert!(start.elapsed() < limit, "no {what:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_replayed_asterisk_call_hears_the_render_paced_and_its_key_answered() {
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let (render, _) = render_call(d, &pl, 8, &[], &["--seed", "7"]);
    let (_server, addr) = serve(d, &pl, &[]);
    let (sock, reader) = connect(addr);
    let replay = {
        let sock = sock.try_clone().unwrap();
        std::thread::spawn(move || replay_capture(sock))
    };
    replay.join().unwrap();
    let heard = reader.join().unwrap();
    // Asterisk's close ends the call: the server closes its side at once.
    let closed = heard.closed_at.expect("closed");
    assert!(closed < Duration::from_secs(9), "closed at {closed:?}");
    assert_framed_and_paced(&heard, Duration::from_secs_f64(5.4));
    let s = heard.samples();
    // Before the key (2.2 s in the capture's time), the stream is the
    // render of the same playlist and seed, frame for frame.
    let before = &s[..(2.1 * RATE as f64) as usize];
    let in_place = assert_frames_are_the_render(before, &render);
    assert!(in_place > 80, "{in_place} frames in place");
    // The welcome (330 Hz) first, then music; key 1 (2.2 s after the
    // UUID) brings its answer (400 Hz) in.
    louder("the welcome", amp(&s, 330.0, 0.3, 1.2), amp(&s, 330.0, 1.7, 2.1));
    louder(
        "key 1's answer",
        amp(&s, 400.0, 2.5, 3.0),
        amp(&s, 400.0, 1.6, 2.1),
    );
    let log = wait_for_log(d, "call ended", Duration::from_secs(5));
    let lines = call_log(d, CAPTURED);
    assert!(
        lines.contains("call ended: the peer closed the connection"),
        "{log}"
    );
}

#[test]
fn each_bad_input_ends_only_its_call() {
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let (_server, addr) = serve(d, &pl, &["--uuid-wait", "1s"]);
    let (keeper, keeper_seen, keeper_reader) = counted_call(addr, "00000000-0000-4000-8000-000000000000");
    let bad: [(&str, &[u8], &str); 6] = [
        ("hangup", &[0x00, 0x00, 0x00], "hangup packet"),
        ("error", &[0xff, 0x00, 0x01, 0x02], "error packet (code 0x02)"),
        (
            "badtype",
            &[0x42, 0x00, 0x02, 0xab, 0xcd],
            "unknown packet type 0x42",
        ),
        ("biglen", &[0x10, 0xff, 0xff], "cannot have length 65535"),
        ("zerolen", &[0x10, 0x00, 0x00], "cannot have length 0"),
        ("eof", &[], "closed the connection"),
    ];
    let uuid = |i: usize| format!("00000000-0000-4000-8000-00000000000{}", i + 1);
    let calls: Vec<_> = (0..bad.len()).map(|i| counted_call(addr, &uuid(i))).collect();
    // A client that never sends its UUID, and one that sends audio first.
    let (_silent, silent_reader) = connect(addr);
    let (mut early, early_reader) = connect(addr);
    let mut audio_first = vec![0x10, 0x01, 0x40];
    audio_first.extend([0u8; 320]);
    early.write_all(&audio_first).unwrap();
    // Each call streaming (ten frames) before its bad input: its own
    // stream's time, which a loaded machine's server may take long to give.
    for ((_, seen, _), (name, _, _)) in calls.iter().zip(&bad) {
        wait_packets(d, seen, 10, name);
    }
    let sent_at = Instant::now();
    for ((mut sock, _), (_, bytes, _)) in calls
        .iter()
        .map(|(s, _, r)| (s.try_clone().unwrap(), r))
        .zip(&bad)
    {
        if bytes.is_empty() {
            sock.shutdown(Shutdown::Write).unwrap();
        } else {
            sock.write_all(bytes).unwrap();
        }
    }
    for (i, (_sock, _, reader)) in calls.into_iter().enumerate() {
        // The reader ends when the server closes the connection.
        let heard = reader.join().unwrap();
        assert!(heard.closed_at.is_some());
        assert!(
            sent_at.elapsed() < Duration::from_secs(5),
            "{}: not closed in time",
            bad[i].0
        );
        assert!(
            heard.packets.len() >= 10,
            "{}: {} packets",
            bad[i].0,
            heard.packets.len()
        );
    }
    let silent = silent_reader.join().unwrap();
    assert!(silent.packets.is_empty());
    let t = silent.closed_at.unwrap();
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(6),
        "closed at {t:?}"
    );
    let early_heard = early_reader.join().unwrap();
    assert!(early_heard.packets.is_empty());
    assert!(early_heard.closed_at.unwrap() < Duration::from_secs(5));
    // The other call went on through all of it: more than ten frames
    // after every bad call was closed, and not ended (asked before this
    // test hangs it up, which ends it).
    let mark = keeper_seen.audio.load(Ordering::SeqCst);
    wait_packets(d, &keeper_seen, mark + 11, "the other call");
    assert!(!call_log(d, "00000000-0000-4000-8000-000000000000").contains("call ended"));
    let kept = hang_up(keeper, keeper_reader);
    let later = kept.packets.iter().filter(|p| p.1 == 0x10).count() - mark;
    assert!(
        later > 10,
        "the other call stopped: {} packets",
        kept.packets.len()
    );
    let log = wait_for_log(d, "no UUID within", Duration::from_secs(20));
    for (i, (name, _, why)) in bad.iter().enumerate() {
        let lines = call_log(d, &uuid(i));
        assert!(
            lines.contains("call ended") && lines.contains(why),
            "{name}:\n{log}"
        );
    }
    assert!(log.contains("the first packet was not a UUID"), "{log}");
}

#[test]
fn the_call_cap_refuses_the_next_connection() {
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let (_server, addr) = serve(d, &pl, &["--max-calls", "2"]);
    let a = counted_call(addr, "00000000-0000-4000-8000-00000000000a");
    let b = counted_call(addr, "00000000-0000-4000-8000-00000000000b");
    // Both streaming: the server has taken them, however long that took.
    wait_packets(d, &a.1, 1, "call a");
    wait_packets(d, &b.1, 1, "call b");
    let (_c, c_reader) = call(addr, "00000000-0000-4000-8000-00000000000c");
    let refused = c_reader.join().unwrap();
    assert_eq!(
        refused
            .packets
            .iter()
            .map(|p| (p.1, p.2.len()))
            .collect::<Vec<_>>(),
        [(0x00, 0)],
        "a hangup packet, then the close"
    );
    assert!(refused.closed_at.unwrap() < Duration::from_secs(5));
    wait_for_log(
        d,
        "refused an AudioSocket connection: 2 calls already",
        Duration::from_secs(20),
    );
    // A call that ends frees its place.
    wait_packets(d, &a.1, 6, "call a");
    let heard_a = hang_up(a.0, a.2);
    assert!(heard_a.packets.len() > 5);
    wait_for_log(d, "call ended", Duration::from_secs(20));
    let (c2, c2_seen, c2_reader) = counted_call(addr, "00000000-0000-4000-8000-00000000000d");
    wait_packets(d, &c2_seen, 11, "the call in the freed place");
    let heard = hang_up(c2, c2_reader);
    assert!(heard.packets.len() > 10, "{} packets", heard.packets.len());
    hang_up(b.0, b.2);
}

#[test]
fn a_reconnect_with_the_same_uuid_resumes_without_the_welcome() {
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let state = d.join("calls");
    let (_server, addr) = serve(d, &pl, &["--state-dir", state.to_str().unwrap()]);
    let uuid = "11111111-2222-4333-8444-555555555555";
    let (sock, seen, reader) = counted_call(addr, uuid);
    // 2.5 s of the call's stream (the windows below end at 2.4 s).
    wait_packets(d, &seen, 125, "the first call");
    let first = hang_up(sock, reader).samples();
    louder(
        "the first welcome",
        amp(&first, 330.0, 0.2, 1.2),
        amp(&first, 330.0, 1.9, 2.4),
    );
    wait_for_log(d, "call ended", Duration::from_secs(20));
    // Held again (another channel, the same UUID): music, no welcome.
    let (sock, seen, reader) = counted_call(addr, uuid);
    // Another call at the same time still gets its welcome.
    let (other, other_seen, other_reader) = counted_call(addr, "99999999-2222-4333-8444-555555555555");
    // 1.5 s of each stream (the windows below end at 1.2 s).
    wait_packets(d, &seen, 75, "the resumed call");
    wait_packets(d, &other_seen, 75, "the other call");
    let again = hang_up(sock, reader).samples();
    let fresh = hang_up(other, other_reader).samples();
    louder(
        "a new call's welcome",
        amp(&fresh, 330.0, 0.2, 1.2),
        amp(&again, 330.0, 0.2, 1.2),
    );
    louder(
        "music after the reconnect",
        amp(&again, 200.0, 0.2, 1.2),
        amp(&fresh, 200.0, 0.2, 1.2),
    );
    assert!(call_log(d, uuid).contains("resuming the call"), "{}", log_text(d));
}

#[test]
fn events_given_to_the_registry_reach_their_call() {
    // In process: the registry is how the control socket reaches calls.
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let cache = holdmix::audio::cache::Cache::open(Some(&d.join("cache")));
    let server = holdmix::serve::Server::bind(
        &holdmix::serve::ServeConfig {
            playlist: pl,
            listen: "127.0.0.1:0".into(),
            max_calls: 10,
            state_dir: None,
            seed: Some(7),
            language: None,
            uuid_wait: Duration::from_secs(2),
            control: None,
        },
        &cache,
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    let calls = server.calls();
    std::thread::spawn(move || server.run());
    use holdmix::engine::EventKind;
    let (queued, plain, live) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "aaaaaaaa-0000-4000-8000-000000000003",
    );
    // The position the proxy knew before the media started.
    calls.preset(queued, EventKind::Position(3));
    let q = counted_call(addr, queued);
    let p = counted_call(addr, plain);
    let l = counted_call(addr, live);
    let start = Instant::now();
    while calls.list().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", calls.list());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(calls.preset_count(), 0);
    assert!(calls.send(live, EventKind::Position(2)));
    assert!(!calls.send("bbbbbbbb-0000-4000-8000-000000000000", EventKind::Position(2)));
    // 3.5 s of each call's stream (the windows below end at 2.6 s).
    for (what, c) in [("queued", &q), ("plain", &p), ("live", &l)] {
        wait_packets(d, &c.1, 175, what);
    }
    // A hangup given to a call ends it from here: the hangup packet, then
    // the close (the reader ends without the test closing anything).
    assert!(calls.send(plain, EventKind::Hangup));
    let (_plain_sock, _, p_reader) = p;
    let p = p_reader.join().unwrap();
    let last = p.packets.last().map(|x| (x.1, x.2.len()));
    assert_eq!(last, Some((0x00, 0)), "no hangup packet at the end");
    let (q, l) = (hang_up(q.0, q.2), hang_up(l.0, l.2));
    // After the welcome (1.5 s): the position prompt (500 Hz) for the
    // calls that were given one, none for the other.
    let none = amp(&p.samples(), 500.0, 1.7, 2.6);
    louder("the preset position", amp(&q.samples(), 500.0, 1.7, 2.6), none);
    louder("the sent position", amp(&l.samples(), 500.0, 1.7, 2.6), none);
    let start = Instant::now();
    while !calls.list().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", calls.list());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_control_socket_reaches_calls_by_uuid_before_and_after_they_connect() {
    // `serve --control`: the OpenSIPS recipe's `holdmix ctl --serve PATH
    // UUID position N` runs before `AudioSocket()`, so the position waits
    // for its call; a live call takes commands at once.
    let dir = tempdir();
    let d = dir.path();
    let pl = fixtures(d);
    let socket = d.join("serve.ctl");
    let (_server, addr) = serve(d, &pl, &["--control", socket.to_str().expect("path")]);
    let ctl = |words: &[&str]| {
        let out = holdmix(d)
            .args(["ctl", "--serve"])
            .arg(&socket)
            .args(words)
            .output()
            .expect("ctl");
        let answer: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), answer)
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (queued, plain, live) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "AAAAAAAA-0000-4000-8000-000000000003",
    );
    let (code, a) = ctl(&[queued, "position", "3"]);
    assert_eq!(code, Some(0), "{a}");
    assert_eq!(
        (a["connected"].as_bool(), a["kept_for_s"].as_u64()),
        (Some(false), Some(60)),
        "{a}"
    );
    // A name that is no UUID waits for nothing: an error, exit 1.
    let (code, a) = ctl(&["1796520591.1", "position", "3"]);
    assert_eq!(code, Some(1), "{a}");
    let q = counted_call(addr, queued);
    let p = counted_call(addr, plain);
    let l = counted_call(addr, &live.to_ascii_lowercase());
    let start = Instant::now();
    loop {
        let (_, list) = ctl(&["list"]);
        let n = list["calls"].as_array().map_or(0, Vec::len);
        if n == 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{list}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Upper case is the same UUID (Asterisk's are lower case).
    let (code, a) = ctl(&[live, "position", "2"]);
    assert_eq!((code, a["connected"].as_bool()), (Some(0), Some(true)), "{a}");
    // 3.5 s of each call's stream (the windows below end at 2.6 s).
    for (what, c) in [("queued", &q), ("plain", &p), ("live", &l)] {
        wait_packets(d, &c.1, 175, what);
    }
    let (code, _) = ctl(&[plain, "stop"]);
    assert_eq!(code, Some(0));
    let p = p.2.join().expect("reader");
    let (q, l) = (hang_up(q.0, q.2), hang_up(l.0, l.2));
    // After the welcome (1.5 s): the position prompt (500 Hz) for the
    // calls given one, none for the other.
    let none = amp(&p.samples(), 500.0, 1.7, 2.6);
    louder(
        "the position given before the call",
        amp(&q.samples(), 500.0, 1.7, 2.6),
        none,
    );
    louder(
        "the position given during the call",
        amp(&l.samples(), 500.0, 1.7, 2.6),
        none,
    );
}
