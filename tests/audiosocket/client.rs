//! The test client and server of `tests/audiosocket.rs`: a `holdmix
//! serve` child, a loopback client that reads every packet with its
//! arrival time, and the replay of a call a real Asterisk 22 made.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A `holdmix serve` child on a free loopback port, logging to
/// `dir/run.log`, with its address (read from its log); killed when dropped.
pub fn serve(dir: &Path, playlist: &Path, extra: &[&str]) -> (Server, SocketAddr) {
    let server = Server(
        holdmix(dir)
            .arg("--log")
            .arg(dir.join("run.log"))
            .arg("serve")
            .arg(playlist)
            .args(["--audiosocket", "127.0.0.1:0", "--seed", "7"])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn holdmix serve"),
    );
    let start = Instant::now();
    loop {
        let log = log_text(dir);
        if let Some(addr) = log
            .lines()
            .find(|l| l.contains("listening for AudioSocket calls"))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
        {
            return (server, addr.parse().expect("addr"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no listening line:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

pub fn uuid_packet(uuid: &str) -> Vec<u8> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let mut p = vec![0x01, 0x00, 0x10];
    p.extend((0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")));
    p
}

/// What a client read: each packet's type, payload and arrival (since
/// the connect), and how the connection ended.
#[derive(Debug, Default)]
pub struct Heard {
    pub packets: Vec<(Duration, u8, Vec<u8>)>,
    pub closed_at: Option<Duration>,
}

impl Heard {
    /// The audio, as samples in -1..1.
    pub fn samples(&self) -> Vec<f32> {
        self.packets
            .iter()
            .filter(|p| p.1 == 0x10)
            .flat_map(|p| {
                p.2.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
            })
            .collect()
    }
}

/// Connects and reads every packet on a thread until the server closes
/// (or the test shuts the socket).
pub fn connect(addr: SocketAddr) -> (TcpStream, JoinHandle<Heard>) {
    let (sock, _, reader) = connect_counted(addr);
    (sock, reader)
}

/// What a call's reading thread has seen so far, for a test to wait on.
#[derive(Default)]
pub struct Progress {
    pub audio: AtomicUsize,
    pub closed: AtomicBool,
}

/// [`connect`], with the reader's [`Progress`] beside it: a test waits for
/// the call's own stream, not for a wall-clock time that a loaded
/// machine's server may not keep.
pub fn connect_counted(addr: SocketAddr) -> (TcpStream, Arc<Progress>, JoinHandle<Heard>) {
    let sock = TcpStream::connect(addr).expect("connect");
    let t0 = Instant::now();
    let mut r = sock.try_clone().expect("clone");
    let progress = Arc::new(Progress::default());
    let seen = progress.clone();
    let reader = std::thread::spawn(move || {
        let mut heard = Heard::default();
        loop {
            let mut h = [0u8; 3];
            if r.read_exact(&mut h).is_err() {
                break;
            }
            let at = t0.elapsed();
            let mut p = vec![0; usize::from(u16::from_be_bytes([h[1], h[2]]))];
            if r.read_exact(&mut p).is_err() {
                break;
            }
            heard.packets.push((at, h[0], p));
            if h[0] == 0x10 {
                seen.audio.fetch_add(1, Ordering::SeqCst);
            }
        }
        heard.closed_at = Some(t0.elapsed());
        seen.closed.store(true, Ordering::SeqCst);
        heard
    });
    (sock, progress, reader)
}

/// A call: connected, its UUID sent.
pub fn call(addr: SocketAddr, uuid: &str) -> (TcpStream, JoinHandle<Heard>) {
    let (mut sock, reader) = connect(addr);
    sock.write_all(&uuid_packet(uuid)).expect("uuid");
    (sock, reader)
}

pub fn hang_up(sock: TcpStream, reader: JoinHandle<Heard>) -> Heard {
    sock.shutdown(Shutdown::Both).ok();
    reader.join().expect("reader")
}

/// The captured call replayed as Asterisk sent it: its bytes in its
/// reads' chunks, at their times (UUID, audio, keys `123#`, audio), then
/// the close that was its hangup.
pub fn replay_capture(mut sock: TcpStream) {
    let bytes = std::fs::read(root().join("tests/audiosocket/uuid-app-audio-dtmf-hangup.bin")).unwrap();
    let timing =
        std::fs::read_to_string(root().join("tests/audiosocket/uuid-app-audio-dtmf-hangup.timing.txt"))
            .unwrap();
    let chunks: Vec<(f64, usize, usize)> = timing
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let t: f64 = w.next()?.parse().ok()?;
            (w.next()? == "RX").then_some(())?;
            let off = w.next()?.strip_prefix("off=")?.parse().ok()?;
            let len = w.next()?.strip_prefix("len=")?.parse().ok()?;
            Some((t, off, len))
        })
        .collect();
    let eof: f64 = timing
        .lines()
        .find(|l| l.contains("RX EOF"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("EOF time");
    let t0 = chunks[0].0;
    let start = Instant::now();
    let at = |t: f64| start + Duration::from_secs_f64(t - t0);
    for (t, off, len) in chunks {
        std::thread::sleep(at(t).saturating_duration_since(Instant::now()));
        sock.write_all(&bytes[off..off + len]).expect("replay");
    }
    std::thread::sleep(at(eof).saturating_duration_since(Instant::now()));
    sock.shutdown(Shutdown::Write).ok();
}
