//! The hub's realtime rows carry `--timeline-dir`, and the generator the
//! row starts (run as Asterisk runs it: execv, no shell) writes its call's
//! file there; a directory others could write is refused at the hub's start.

use super::{call_id, lines, wait_for};
use crate::common::*;
use crate::realtime::{argv, ask, lookup, parse_row};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A hub serving one playlist; short paths, so that the row with its
/// timeline directory fits Asterisk's 255 bytes.
fn hub_command(dir: &Path, port: u16, timelines: &Path) -> Command {
    let music = dir.join("m.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 30.0, 8000));
    playlist(
        dir,
        "p.toml",
        &format!("[music]\ntracks = [\"{}\"]\n", music.display()),
    );
    let mut c = Command::new(BIN);
    // The cache through the environment: the row must fit 255 bytes.
    c.env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("HOLDMIX_AMI_SECRET", "pw")
        .arg("--log")
        .arg(dir.join("hub.log"))
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(dir.join("s"))
        .args(["--realtime", &format!("127.0.0.1:{port}"), "--playlist"])
        .arg(dir.join("p.toml"))
        .arg("--timeline-dir")
        .arg(timelines)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn a_realtime_rows_generator_writes_its_calls_timeline() {
    // A short directory: the row names it three times, and Asterisk keeps
    // 255 bytes of it with a 64-character Uniqueid and the call's token.
    let tmp = tempfile::Builder::new()
        .prefix("h")
        .rand_bytes(3)
        .tempdir_in("/tmp")
        .expect("tempdir");
    let dir = tmp.path();
    let timelines = dir.join("t");
    let port = free_port();
    let _hub = Hub(hub_command(dir, port, &timelines).spawn().expect("spawn hub"));
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the hub never listened: {}",
            std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (uid, day) = call_id(9);
    let answers = ask(port, &[lookup(format!("name=holdmix-{uid}").as_bytes())]);
    let args = argv(&parse_row(&answers[0].1));
    let at = args
        .iter()
        .position(|a| a == "-T")
        .expect("the row has -T (--timeline-dir)");
    assert_eq!(
        Path::new(&args[at + 1]),
        std::path::absolute(&timelines).expect("absolute")
    );

    let mut generator = Command::new(&args[0])
        .args(&args[1..])
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("exec the row's application");
    let reader = drain(&mut generator);
    let file = timelines.join(&day).join(format!("{uid}.jsonl"));
    wait_for(&file, "music_start");
    signal(&generator, libc::SIGHUP);
    let (status, _) = wait_exit(&mut generator, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(!reader.join().expect("reader").is_empty());
    let tl = lines(&file);
    assert_eq!(tl.last().expect("lines")["event"], "exit", "{tl:?}");
}

#[test]
fn a_hub_with_a_world_writable_timeline_dir_does_not_start() {
    let tmp = tempdir();
    let dir = tmp.path();
    let timelines = dir.join("t");
    std::fs::create_dir(&timelines).expect("mkdir");
    std::fs::set_permissions(&timelines, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let out = hub_command(dir, free_port(), &timelines)
        .output()
        .expect("run hub");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned()
        + &std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default();
    assert!(
        err.contains(&format!("{}: refused: world-writable", timelines.display())),
        "{err}"
    );
}
