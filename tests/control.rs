//! The control socket (issue 22): a real `run --control` whose PCM the
//! test reads as Asterisk does, driven by `holdmix ctl`. What each command
//! does is measured in the audio (a prompt's tone over the ducked music
//! where the timeline puts it, the music's tone after `music next`),
//! hostile clients meet the bounds while the audio keeps its pace, another
//! uid is refused, and a real hub relays `list` and commands.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

const RATE: u32 = 8000;
const UID: &str = "1795452414.1";
const CHANNEL: &str = "Local/200@test-00000000;2";

/// Two music tracks (200 Hz, 300 Hz), the position word (500 Hz), a key's
/// answer (400 Hz) and a file to `play` (700 Hz).
fn fixtures(dir: &Path) -> PathBuf {
    write_wav(&dir.join("m1.wav"), 16_000, 1, &sine(200.0, 0.25, 60.0, 16_000));
    write_wav(&dir.join("m2.wav"), 16_000, 1, &sine(300.0, 0.25, 60.0, 16_000));
    write_wav(&dir.join("pos.wav"), 16_000, 1, &sine(500.0, 0.5, 1.0, 16_000));
    write_wav(&dir.join("answer.wav"), 16_000, 1, &sine(400.0, 0.5, 1.0, 16_000));
    write_wav(&dir.join("beep.wav"), 16_000, 1, &sine(700.0, 0.5, 1.0, 16_000));
    let pl = playlist(
        dir,
        "p.toml",
        r#"
[music]
tracks = ["m1.wav", "m2.wav"]
crossfade = "200ms"
[levels]
fade = "200ms"
[prompts]
pos = "pos.wav"
answer = "answer.wav"
[announce.position]
say = ["pos"]
on_change = false
every = "40s"
[keys]
6 = { action = "say", say = ["answer"] }
"#,
    );
    warm_cache(dir, &pl);
    // `play` reads through the cache too: warm, so its decode is quick.
    pl
}

/// A generator with its control socket at `sock` and a timeline.
fn spawn_call(dir: &Path, pl: &Path, sock: &Path) -> Child {
    let tl = dir.join("tl.jsonl");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "--playlist".into(),
        s(pl),
        "--control".into(),
        s(sock),
        "--timeline".into(),
        s(&tl),
        "--caller".into(),
        "79001112233".into(),
        "--uniqueid".into(),
        UID.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_run(dir, &args)
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the call has streamed `ms` more of its own time (past a
/// late start's silence) than it had: each command gets its time in the
/// stream, which a loaded machine's lags the wall clock. Fails if not
/// within 60 s.
fn stream_for(dir: &Path, call: &mut Child, count: &AtomicUsize, ms: usize) {
    let tl = dir.join("tl.jsonl");
    let want = wait_for_heard(call, count, &tl, 0, STREAM_LIMIT) + ms * 16;
    heard_reaches(call, count, &tl, want, || log_text(dir));
}

/// `holdmix ctl` with `socket_args`, and the answer it printed.
fn ctl(dir: &Path, socket_args: &[&str], words: &[&str]) -> (i32, Value) {
    let out = holdmix(dir)
        .arg("ctl")
        .args(socket_args)
        .args(words)
        .output()
        .expect("ctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

fn to_f32(pcm: &[u8]) -> Vec<f32> {
    pcm.chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

fn t_of(tl: &[Value], kind: &str, key: &str, contains: &str) -> f64 {
    events(tl, kind)
        .iter()
        .find(|e| e[key].as_str().is_some_and(|f| f.contains(contains)))
        .and_then(|e| e["t"].as_f64())
        .unwrap_or_else(|| panic!("no {kind} with {key} ~ {contains} in {tl:?}"))
}

#[test]
fn a_call_is_controlled_through_its_socket_and_it_is_heard() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let sock = dir.join("call.sock");
    let mut call = spawn_call(dir, &pl, &sock);
    let (count, audio) = counted_drain(&mut call);
    wait_for("the control socket", Duration::from_secs(20), || {
        UnixStream::connect(&sock).is_ok()
    });
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket's mode");
    let c = ["--control", sock.to_str().unwrap()];

    let (code, s) = ctl(dir, &c, &["status"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["ok"], true);
    assert_eq!(s["call"], UID);
    assert_eq!(s["caller"], "***233", "only the last three digits");
    assert_eq!(s["music"], "m1.wav");
    assert_eq!(s["position"], Value::Null);
    assert_eq!(s["next"], Value::Null, "nothing scheduled before a position");

    let (code, s) = ctl(dir, &c, &["position", "3"]);
    assert_eq!((code, &s["position"]), (0, &Value::from(3)), "{s}");
    let (_, s) = ctl(dir, &c, &["status"]);
    assert_eq!(s["position"], 3, "{s}");
    assert_eq!(s["next"], Value::Null, "not said yet: not due again: {s}");
    // The call's own list: one call, as the hub's list shows each.
    let (code, l) = ctl(dir, &c, &["list"]);
    assert_eq!(code, 0, "{l}");
    let calls = l["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{l}");
    assert_eq!(
        (&calls[0]["call"], &calls[0]["caller"], &calls[0]["position"]),
        (&Value::from(UID), &Value::from("***233"), &Value::from(3)),
        "{l}"
    );
    assert!(calls[0].get("route").is_some(), "{l}");

    let (code, s) = ctl(dir, &c, &["say-position", "4"]);
    assert_eq!((code, &s["position"]), (0, &Value::from(4)), "{s}");
    // Said now, so due again `every` (40 s) after.
    assert_eq!(s["next"]["what"], "position", "{s}");
    let next_in = s["next"]["in"].as_f64().unwrap();
    assert!(
        next_in > 35.0 && next_in <= 40.0,
        "the next position announcement in {next_in} s"
    );
    stream_for(dir, &mut call, &count, 1800);
    let (code, s) = ctl(dir, &c, &["play", dir.join("beep.wav").to_str().unwrap()]);
    assert_eq!(code, 0, "{s}");
    let (code, s) = ctl(dir, &c, &["play", dir.join("missing.wav").to_str().unwrap()]);
    assert_eq!(code, 1, "a missing file is an error answer: {s}");
    assert!(s["error"].as_str().unwrap().contains("missing.wav"), "{s}");
    stream_for(dir, &mut call, &count, 1800);
    let (code, s) = ctl(dir, &c, &["music", "next"]);
    assert_eq!((code, &s["music"]), (0, &Value::from("m2.wav")), "{s}");
    stream_for(dir, &mut call, &count, 1500);
    let (code, s) = ctl(dir, &c, &["debug", "on"]);
    assert_eq!(code, 0, "{s}");
    let (code, _) = ctl(dir, &c, &["dtmf", "6"]);
    assert_eq!(code, 0);
    stream_for(dir, &mut call, &count, 1800);
    let (code, s) = ctl(dir, &c, &["music", "nosuch"]);
    assert_eq!(code, 1, "{s}");
    let (code, s) = ctl(dir, &c, &["jump"]);
    assert_eq!(code, 2, "not a command: usage: {s}");
    let (code, s) = ctl(dir, &c, &["stop"]);
    assert_eq!(code, 0, "{s}");
    let (status, _) = wait_exit(&mut call, Duration::from_secs(20));
    assert!(
        status.success(),
        "stop ends the generator as the music stopping does"
    );
    assert!(!sock.exists(), "the socket is removed at exit");
    let (code, _) = ctl(dir, &c, &["status"]);
    assert_eq!(code, 2, "nothing answers: cannot connect");

    let tl = timeline(&dir.join("tl.jsonl"));
    let exit = events(&tl, "exit");
    assert_eq!(exit[0]["reason"], "music-stopped", "{tl:?}");
    assert!(events(&tl, "stall").is_empty(), "{tl:?}");
    // On the timeline's clock: after the silence of a call not ready at
    // its first frame (a loaded machine: the store, the disk).
    let audio = audio.join().unwrap();
    let pcm = to_f32(&audio[late_bytes(&tl).min(audio.len())..]);
    // Each prompt over the ducked music, where the timeline says.
    for (file, freq) in [("pos.wav", 500.0), ("beep.wav", 700.0), ("answer.wav", 400.0)] {
        let t = t_of(&tl, "prompt_start", "file", file);
        let said = window(&pcm, RATE, t + 0.3, t + 0.8);
        assert!(tone_amplitude(said, freq, RATE) > 0.1, "{file} heard at {t}");
    }
    // The music at full level (its loudest half second before the switch)
    // and under the played file.
    let t = t_of(&tl, "prompt_start", "file", "beep.wav");
    let switch = t_of(&tl, "music_switch", "to", "m2.wav");
    let full = (0..(switch * 10.0) as usize)
        .map(|i| {
            tone_amplitude(
                window(&pcm, RATE, i as f64 / 10.0, i as f64 / 10.0 + 0.5),
                200.0,
                RATE,
            )
        })
        .fold(0.0f32, f32::max);
    let under = window(&pcm, RATE, t + 0.4, t + 0.8);
    assert!(
        full > 0.05 && tone_amplitude(under, 200.0, RATE) < 0.5 * full,
        "the music ducks under a played file"
    );
    // The music changed: 300 Hz after the switch, 200 Hz gone.
    let t = t_of(&tl, "music_switch", "to", "m2.wav");
    let after = window(&pcm, RATE, t + 0.4, t + 1.0);
    assert!(tone_amplitude(after, 300.0, RATE) > 0.05 && tone_amplitude(after, 200.0, RATE) < 0.01);
    // `debug on` came after the first prompts: only later ducks are logged
    // at info (the run logs at info).
    let log = log_text(dir);
    let on = log.find("control: debug logging").expect("debug on logged");
    let duck = log
        .find("timeline: music ducks")
        .expect("a duck at info while debug is on");
    assert!(duck > on, "{log}");
}

#[test]
fn a_path_in_the_way_fails_the_start_and_a_stale_socket_is_replaced() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let file = dir.join("file.sock");
    std::fs::write(&file, "keep").unwrap();
    let mut call = spawn_call(dir, &pl, &file);
    let (status, _) = wait_exit(&mut call, Duration::from_secs(20));
    assert!(!status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    assert!(
        log_text(dir).contains("a regular file is there"),
        "{}",
        log_text(dir)
    );
    // A socket nobody listens on (a killed generator's) is replaced.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let mut call = spawn_call(dir, &pl, &stale);
    let audio = drain(&mut call);
    wait_for("the control socket", Duration::from_secs(20), || {
        UnixStream::connect(&stale).is_ok()
    });
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    audio.join().unwrap();
    assert!(!stale.exists());
}

/// One raw client: what it sends, what it gets before the socket closes.
fn raw(sock: &Path, send: &[u8]) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(send).ok();
    let mut out = String::new();
    s.read_to_string(&mut out).ok();
    out
}

#[test]
fn hostile_clients_cost_the_caller_nothing() {
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let sock = dir.join("call.sock");
    let mut call = spawn_call(dir, &pl, &sock);
    let audio = drain(&mut call);
    wait_for("the control socket", Duration::from_secs(20), || {
        UnixStream::connect(&sock).is_ok()
    });
    let start = Instant::now();
    // 100 connections at once: beyond the cap each is told and closed.
    let held: Vec<UnixStream> = (0..100).filter_map(|_| UnixStream::connect(&sock).ok()).collect();
    let mut refused = 0;
    for mut s in held.iter().skip(20) {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).ok();
        refused += usize::from(out.contains("too many"));
    }
    assert!(refused >= 50, "{refused} of the last 80 told the cap");
    drop(held);
    // Their places freed: a client is served again (not a guess at how
    // long a loaded machine takes to see 100 closes).
    let c = ["--control", sock.to_str().unwrap()];
    wait_for("a place free again", Duration::from_secs(20), || {
        ctl(dir, &c, &["status"]).0 == 0
    });
    // A huge line: answered and closed, never buffered.
    let huge = raw(&sock, &vec![b'x'; 1 << 20]);
    assert!(huge.contains("longer than"), "{huge}");
    // Garbage: each line answered, the connection goes on.
    let garbage = raw(&sock, b"\xff\xfe\n\0\0\nrm -rf /\nstatus now\n");
    assert_eq!(garbage.lines().count(), 4, "{garbage}");
    assert!(garbage.lines().all(|l| l.contains(r#""ok":false"#)), "{garbage}");
    // A slow drip: cut off once its line has taken too long.
    let mut drip = UnixStream::connect(&sock).unwrap();
    drip.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let dripping = Instant::now();
    let mut got = String::new();
    while dripping.elapsed() < Duration::from_secs(40) {
        if drip.write_all(b"s").is_err() {
            break;
        }
        let mut buf = [0u8; 256];
        match drip.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(got.contains("not finished in time"), "{got}");
    let (code, s) = ctl(dir, &["--control", sock.to_str().unwrap()], &["status"]);
    assert_eq!(code, 0, "served again once they are gone: {s}");
    let elapsed = start.elapsed().as_secs_f64();
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    let pcm = to_f32(&audio.join().unwrap());
    let tl = timeline(&dir.join("tl.jsonl"));
    assert!(events(&tl, "stall").is_empty(), "the reader never waited: {tl:?}");
    // The music went on all along: every 100 ms of the stream has its tone.
    let secs = pcm.len() as f64 / f64::from(RATE);
    assert!(secs >= elapsed - 2.0, "{secs} s of audio in {elapsed} s");
    let mut t = 1.0;
    while t + 0.1 < secs - 0.5 {
        let w = window(&pcm, RATE, t, t + 0.1);
        assert!(rms(w) > 0.05, "a gap at {t} s");
        t += 0.1;
    }
}

#[test]
fn another_user_is_refused() {
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv to run a client as nobody");
        return;
    }
    let tmp = tempdir();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let sock = dir.join("call.sock");
    let mut call = spawn_call(dir, &pl, &sock);
    let audio = drain(&mut call);
    wait_for("the control socket", Duration::from_secs(20), || {
        UnixStream::connect(&sock).is_ok()
    });
    // Past the file mode (opened on purpose): the peer's uid is checked.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(["ctl", "--control", sock.to_str().unwrap(), "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("may not control"), "{text}");
    signal(&call, libc::SIGHUP);
    wait_exit(&mut call, Duration::from_secs(20));
    audio.join().unwrap();
}

#[test]
fn the_hub_lists_its_calls_and_relays_a_command() {
    // A short directory: socket paths have a length limit.
    let tmp = tempfile::Builder::new()
        .prefix("c")
        .rand_bytes(3)
        .tempdir_in("/tmp")
        .unwrap();
    let dir = tmp.path();
    let pl = fixtures(dir);
    let join = format!(
        "Event: QueueCallerJoin\r\nChannel: {CHANNEL}\r\nCallerIDNum: 79001112233\r\nUniqueid: {UID}\r\nQueue: holdq\r\nPosition: 2\r\nCount: 2\r\n\r\n"
    );
    let (ami, _server) = crate::ami::server::serve_script("pw", vec![vec![join.into_bytes()]]);
    let (hub_sock, ctl_sock) = (dir.join("hub.sock"), dir.join("ctl.sock"));
    // Routes, so that the call's realtime lookup picks one (`sales`, by
    // its class name) and `list` and `status` say which.
    let routes = dir.join("routes.toml");
    std::fs::write(
        &routes,
        format!(
            "[[route]]\nname = \"main\"\nplaylist = {pl:?}\ndefault = true\n\n[[route]]\nname = \"sales\"\nplaylist = {pl:?}\n"
        ),
    )
    .unwrap();
    let rt_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut hub = Reaped(
        std::process::Command::new(BIN)
            .env("XDG_RUNTIME_DIR", dir.join("runtime"))
            .env("HOLDMIX_AMI_SECRET", "pw")
            .arg("--log")
            .arg(dir.join("hub.log"))
            .args(["hub", "--ami", &format!("127.0.0.1:{ami}"), "--socket"])
            .arg(&hub_sock)
            .arg("--control")
            .arg(&ctl_sock)
            .args(["--realtime", &format!("127.0.0.1:{rt_port}"), "--routes"])
            .arg(&routes)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the hub", Duration::from_secs(20), || {
        UnixStream::connect(&ctl_sock).is_ok()
    });
    assert_eq!(
        std::fs::metadata(&ctl_sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let h = ["--hub", ctl_sock.to_str().unwrap()];
    // Asterisk looks the class up before it starts the generator.
    wait_for("the realtime port", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", rt_port)).is_ok()
    });
    let lookup = crate::realtime::lookup(format!("name=holdmix-sales-{UID}").as_bytes());
    let (code, body) = crate::realtime::ask(rt_port, &[lookup])
        .into_iter()
        .next()
        .unwrap();
    assert!(code == 200 && !body.is_empty(), "{code} {body}");
    let token = holdmix::hub::token::Key::load_or_create(&dir.join("hub.key"))
        .unwrap()
        .token(UID);
    let mut call = holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--playlist"])
        .arg(&pl)
        .arg("--hub")
        .arg(&hub_sock)
        .args(["--uniqueid", UID, "--hub-token", &token])
        .arg("--control")
        .arg(dir.join("own.sock"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let audio = drain(&mut call);
    let mut list = Value::Null;
    wait_for("the call in the hub's list", Duration::from_secs(20), || {
        list = ctl(dir, &h, &["list"]).1;
        list["calls"].as_array().is_some_and(|c| !c.is_empty())
    });
    let only = &list["calls"][0];
    assert_eq!(only["call"], UID, "{list}");
    assert_eq!(only["channel"], CHANNEL, "{list}");
    assert_eq!(only["caller"], "***233", "{list}");
    assert_eq!(only["queue"], "holdq", "{list}");
    assert_eq!(only["route"], "sales", "{list}");
    // By channel name, relayed to the generator, answered by it.
    let (code, s) = ctl(dir, &h, &[CHANNEL, "position", "5"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["position"], 5, "{s}");
    assert_eq!(s["queue"], "holdq", "{s}");
    let (code, s) = ctl(dir, &h, &[UID, "status"]);
    assert_eq!((code, &s["music"]), (0, &Value::from("m1.wav")), "{s}");
    assert_eq!(s["route"], "sales", "the hub's word on the route: {s}");
    // The generator itself learned it from the hub's greeting (and its
    // hold plan's asks carry it).
    let own_sock = dir.join("own.sock");
    let (code, s) = ctl(dir, &["--control", own_sock.to_str().unwrap()], &["status"]);
    assert_eq!((code, &s["route"]), (0, &Value::from("sales")), "{s}");
    let (code, s) = ctl(dir, &h, &["1.2", "status"]);
    assert_eq!(code, 1, "no such call: {s}");
    let (code, s) = ctl(dir, &h, &[UID, "stop"]);
    assert_eq!(code, 0, "{s}");
    let (status, _) = wait_exit(&mut call, Duration::from_secs(20));
    assert!(status.success());
    audio.join().unwrap();
    hub.kill().ok();
    hub.wait().ok();
}
