//! How long a caller waits for a key's answer (issue 19: p99 ≤ 150 ms):
//! from the moment a `DTMFEnd` leaves a loopback AMI server to the first
//! sample of the spoken answer as a reader paced like Asterisk (a 20 ms
//! frame at each 20 ms deadline) takes it from `holdmix run`'s stdout,
//! placed within its frame. Twice: a generator with its own AMI session
//! (`run --ami`), and a generator following its call through a real
//! `holdmix hub`. Real processes, sockets and pipes; nothing mocked.
//!
//! `cargo bench --bench keys` runs [`KEYS`] presses per set-up and prints
//! p50, p90, p99 and the worst (`HOLDMIX_BENCH_KEYS` changes the count);
//! `cargo test --bench keys` presses 5, as a smoke test. Results and the
//! machine: `docs/benchmarks.md`.
//!
//! The playlist plays silence with a 0.3 s tone as key 6's answer, so the
//! answer's first sample is the first one above the floor after the key.

// A bench may unwrap (a panic is a failed run) and prints its figures.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use holdmix::ami::codec::{Decoder, Item};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holdmix");
/// Presses per set-up in a full run.
const KEYS: usize = 200;
/// Between presses: the answer (0.3 s), the duck back up, and a random
/// part so that presses land anywhere in a frame and in a tick.
const GAP: Duration = Duration::from_millis(700);
const CHANNEL: &str = "Local/200@bench-00000000;2";
const UNIQUEID: &str = "1795452414.1";
/// A sample above this (of 32767) is the answer's.
const FLOOR: i16 = 300;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let keys = std::env::var("HOLDMIX_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { KEYS } else { 5 });
    let dir = tempfile::tempdir().unwrap();
    let pl = fixtures(dir.path());
    for hub in [false, true] {
        let mut ms = measure(dir.path(), &pl, hub, keys);
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        println!(
            "key → answer, {}: {} presses, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, worst {:.1} ms",
            if hub { "through the hub" } else { "own AMI session" },
            ms.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            ms[ms.len() - 1]
        );
    }
}

/// The playlist and its answer (a 400 Hz tone, 0.3 s); no music.
fn fixtures(dir: &Path) -> std::path::PathBuf {
    let rate = 8000u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("answer.wav"), spec).unwrap();
    for i in 0..(rate * 3 / 10) {
        let x = (2.0 * std::f32::consts::PI * 400.0 * i as f32 / rate as f32).sin();
        w.write_sample((x * 16000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let pl = dir.join("keys.toml");
    std::fs::write(
        &pl,
        "[prompts]\nanswer = \"answer.wav\"\n\n[keys]\n6 = { action = \"say\", say = [\"answer\"] }\n",
    )
    .unwrap();
    pl
}

/// Presses key 6 `keys` times; the latencies in ms.
fn measure(dir: &Path, pl: &Path, hub: bool, keys: usize) -> Vec<f64> {
    let run_dir = dir.join(if hub { "hub" } else { "own" });
    std::fs::create_dir_all(&run_dir).unwrap();
    let (press, pressed) = mpsc::channel::<()>();
    let (sent_tx, sent) = mpsc::channel::<Instant>();
    let port = serve(pressed, sent_tx);
    let mut hub_child = None;
    let mut cmd = holdmix(&run_dir);
    cmd.arg("run").arg("--playlist").arg(pl);
    if hub {
        let socket = run_dir.join("hub.sock");
        hub_child = Some(
            holdmix(&run_dir)
                .args(["hub", "--ami", &format!("127.0.0.1:{port}"), "--socket"])
                .arg(&socket)
                .env("HOLDMIX_AMI_SECRET", "pw")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "no hub");
            std::thread::sleep(Duration::from_millis(10));
        }
        let token = holdmix::hub::token::Key::load_or_create(&run_dir.join("hub.key"))
            .unwrap()
            .token(UNIQUEID);
        cmd.arg("--hub")
            .arg(&socket)
            .args(["--uniqueid", UNIQUEID, "--hub-token", &token]);
    } else {
        cmd.args(["--ami", &format!("127.0.0.1:{port}"), "--channel", CHANNEL])
            .env("HOLDMIX_AMI_SECRET", "pw");
    }
    let mut run = cmd
        .env_remove("PHONE")
        .env_remove("CHANNEL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (arm, heard) = listen(&mut run);
    // Logged in (or subscribed) and playing.
    std::thread::sleep(Duration::from_secs(3));
    let mut rng = fastrand::Rng::with_seed(19);
    let mut out = Vec::with_capacity(keys);
    for _ in 0..keys {
        press.send(()).unwrap();
        let at = sent.recv_timeout(Duration::from_secs(5)).unwrap();
        arm.send(at).unwrap();
        let first = heard.recv_timeout(Duration::from_secs(5)).expect("an answer");
        out.push(first.duration_since(at).as_secs_f64() * 1000.0);
        std::thread::sleep(GAP + Duration::from_millis(rng.u64(0..60)));
    }
    // SAFETY: kill(2) on our own children.
    unsafe { libc::kill(run.id() as i32, libc::SIGHUP) };
    run.wait().ok();
    if let Some(mut h) = hub_child {
        // SAFETY: as above.
        unsafe { libc::kill(h.id() as i32, libc::SIGTERM) };
        h.wait().ok();
    }
    out
}

fn holdmix(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--cache-dir").arg(dir.join("cache"));
    c.env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"));
    c
}

/// Reads the stream as Asterisk does, a frame at each 20 ms deadline;
/// once armed with a key's time, reports when the first sample above the
/// floor after it is heard (its frame's read, plus its place in the frame).
fn listen(run: &mut Child) -> (mpsc::Sender<Instant>, mpsc::Receiver<Instant>) {
    let mut pipe = run.stdout.take().unwrap();
    let (arm, armed) = mpsc::channel::<Instant>();
    let (tell, heard) = mpsc::channel::<Instant>();
    std::thread::spawn(move || {
        let mut frame = [0u8; 320];
        let mut next = Instant::now();
        let mut waiting: Option<Instant> = None;
        loop {
            if pipe.read_exact(&mut frame).is_err() {
                return;
            }
            let read = Instant::now();
            if let Ok(at) = armed.try_recv() {
                waiting = Some(at);
            }
            if waiting.is_some_and(|at| read >= at) {
                let loud = frame
                    .chunks_exact(2)
                    .position(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > FLOOR as u16);
                if let Some(i) = loud {
                    tell.send(read + Duration::from_micros(i as u64 * 125)).ok();
                    waiting = None;
                }
            }
            next += Duration::from_millis(20);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });
    (arm, heard)
}

/// A loopback AMI server: answers every action (one live call for
/// `CoreShowChannels`, an empty `QueueStatus`), and at each `press` sends
/// `DTMFEnd` for key 6 on the call's channel, telling when it left.
fn serve(press: mpsc::Receiver<()>, sent: mpsc::Sender<Instant>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        sock.set_nodelay(true).ok();
        sock.write_all(b"Asterisk Call Manager/11.0.0\r\n").unwrap();
        let mut decoder = Decoder::new();
        loop {
            let mut buf = [0u8; 4096];
            let mut items = Vec::new();
            match sock.read(&mut buf) {
                Ok(0) => return,
                Ok(k) => decoder.feed(&buf[..k], &mut items),
                Err(_) => {}
            }
            for item in items {
                let Item::Message(m) = item else { continue };
                let action = m.get("Action").unwrap_or("").to_string();
                let id = m.get("ActionID").unwrap_or("").to_string();
                let mut reply = format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n");
                if action == "CoreShowChannels" {
                    reply += &format!(
                        "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: {CHANNEL}\r\nUniqueid: {UNIQUEID}\r\n\r\n\
                         Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
                    );
                }
                if action == "QueueStatus" {
                    reply += &format!(
                        "Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                    );
                }
                if sock.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            if press.try_recv().is_ok() {
                let dtmf = format!(
                    "Event: DTMFEnd\r\nPrivilege: dtmf,all\r\nChannel: {CHANNEL}\r\nUniqueid: {UNIQUEID}\r\nDigit: 6\r\nDurationMs: 120\r\nDirection: Received\r\n\r\n"
                );
                if sock.write_all(dtmf.as_bytes()).is_err() {
                    return;
                }
                sent.send(Instant::now()).ok();
            }
        }
    });
    port
}
