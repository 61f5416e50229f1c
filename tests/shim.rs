//! `holdmix-shim`, hub-mode audio's per-call process (docs/shim.md), against
//! a stand-in hub speaking the hand-over protocol on a real Unix socket: the
//! pipe really arrives, the hub's `END` is the exit code, a stop signal is
//! passed on, and every refusal or failure of the hub (NO, absent, closed,
//! a dry pipe) ends with the full `holdmix run --standalone` streaming the
//! playlist on the same stdout, or first with the standby hub (`-S`)
//! taking the same pipe.

mod peer;

use crate::common::*;
use peer::Peer;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SHIM: &str = env!("CARGO_BIN_EXE_holdmix-shim");
/// Generous: a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(20);

/// A 440 Hz tone playlist, its cache warmed (so the full binary's first
/// frames are the tone, not the lead-in's silence).
fn tone_playlist(dir: &Path) -> String {
    write_wav(&dir.join("tone.wav"), 8000, 1, &sine(440.0, 0.5, 30.0, 8000));
    let pl = playlist(dir, "tone.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    warm_cache(dir, &pl);
    pl.to_str().expect("path").to_string()
}

/// `holdmix-shim <run's args>` with the test's cache, log and state, its
/// stdout a pipe (as Asterisk's), and none of the identity variables.
fn shim(dir: &Path, args: &[&str]) -> Child {
    spawn_with(Command::new(SHIM), dir, args)
}

/// `holdmix run <args>` as [`shim`] starts the shim.
fn full_run(dir: &Path, args: &[&str]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_holdmix"));
    c.arg("run");
    spawn_with(c, dir, args)
}

fn spawn_with(mut c: Command, dir: &Path, args: &[&str]) -> Child {
    c.arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(args)
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"));
    for v in ["UNIQUEID", "PHONE", "CHANNEL", "HOLDMIX_AMI_SECRET"] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// A shim playing a tone that handed its call over to a stand-in hub,
/// which has not answered yet.
fn handed_over(dir: &Path) -> (Peer, Child, peer::Handover) {
    let pl = tone_playlist(dir);
    let hub = Peer::bind(dir);
    let child = shim(dir, &["--hub", hub.path.to_str().unwrap(), "--playlist", &pl]);
    let h = hub.accept(LIMIT);
    (hub, child, h)
}

/// Reads `bytes` from the pipe within `limit` (in a thread: a read that
/// never returns fails the test instead of hanging it).
fn read_exact(out: ChildStdout, bytes: usize, limit: Duration) -> (Vec<u8>, ChildStdout) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = out;
        let mut buf = vec![0u8; bytes];
        let r = out.read_exact(&mut buf).map(|_| buf);
        tx.send((r, out)).ok();
    });
    let (r, out) = rx.recv_timeout(limit).expect("the pipe's bytes in time");
    (r.expect("read the pipe"), out)
}

/// Two seconds of slin from the pipe: the tone, not silence.
fn hears_the_playlist(out: ChildStdout) -> ChildStdout {
    let (bytes, out) = read_exact(out, 32_000, LIMIT);
    let samples: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let last = &samples[8000..];
    assert!(db(rms(last)) > -30.0, "silence: {} dB", db(rms(last)));
    assert!(
        tone_amplitude(last, 440.0, 8000) > 0.05,
        "not the playlist's tone"
    );
    out
}

/// The process's command line once it is the full binary (the same pid:
/// `execv`).
fn full_binary_args(child: &Child) -> Vec<String> {
    let start = Instant::now();
    loop {
        let raw = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("/holdmix")) {
            return args;
        }
        assert!(start.elapsed() < LIMIT, "still not the full binary: {args:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded) until the shim has read every line the stand-in hub
/// said (none left unread on the socket: `SIOCOUTQ`) and sleeps again:
/// where a test's count of its wakes starts, however long a loaded machine
/// takes to run it.
fn wait_read_and_asleep(child: &Child, h: &peer::Handover) {
    let start = Instant::now();
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (TIOCOUTQ) on our own socket writes one int.
        let r = unsafe { libc::ioctl(h.conn.as_raw_fd(), libc::TIOCOUTQ, &mut unread) };
        assert_eq!(r, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if unread == 0 && state == Some('S') {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the shim left {unread} bytes unread, its state {state:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut child: Child) {
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_pipe_arrives_at_the_hub_and_carries_its_frames() {
    let dir = tempdir();
    let hub = Peer::bind(dir.path());
    let sock = hub.path.to_str().unwrap();
    let mut c = Command::new(SHIM);
    c.args(["--hub", sock, "--playlist", "a b.toml", "--caller", "79001112233"])
        .current_dir(dir.path())
        .env("UNIQUEID", "1700000000.7")
        .env("CHANNEL", "PJSIP/alice-0001")
        .env("HOLDMIX_AMI_SECRET", "s3cret")
        .env("HOLDMIX_NOT_FOR_THE_HUB", "x")
        .env("XDG_RUNTIME_DIR", "/run/user/1001")
        .env_remove("PHONE")
        .stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut h = hub.accept(LIMIT);
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(h.entries[0], "v1");
    assert_eq!(h.entries[1], format!("cwd={}", cwd.display()));
    assert_eq!(
        h.args(),
        ["--hub", sock, "--playlist", "a b.toml", "--caller", "79001112233"]
    );
    let env: Vec<&str> = h.entries.iter().filter_map(|e| e.strip_prefix("env=")).collect();
    assert_eq!(
        env,
        [
            "UNIQUEID=1700000000.7",
            "CHANNEL=PJSIP/alice-0001",
            "HOLDMIX_AMI_SECRET=s3cret",
            "XDG_RUNTIME_DIR=/run/user/1001"
        ]
    );
    h.say("OK");
    // The hub writes the call's frames through the pipe it was handed; the
    // reader gets them from the shim's stdout. 800 bytes stay queued, so
    // the pipe never looks dry.
    let frames: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    h.write_audio(&frames);
    let (got, _out) = read_exact(child.stdout.take().unwrap(), 3200, LIMIT);
    assert_eq!(got, frames[..3200]);
    h.say("END 0");
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(0));
    assert_eq!(h.rest(), "", "nothing after the hand-over: no TAKEN, no STOP");
}

#[test]
fn the_hubs_end_is_the_exit_code() {
    let dir = tempdir();
    let hub = Peer::bind(dir.path());
    let mut child = shim(dir.path(), &["--hub", hub.path.to_str().unwrap()]);
    let mut h = hub.accept(LIMIT);
    h.say("OK");
    h.write_audio(&[0; 8000]);
    std::thread::sleep(Duration::from_millis(300));
    h.say("END 3");
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(3));
}

#[test]
fn a_refusal_streams_standalone_with_the_full_binary() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let hub = Peer::bind(dir.path());
    let sock = hub.path.to_str().unwrap().to_string();
    let mut child = shim(dir.path(), &["--hub", &sock, "--playlist", &pl]);
    let mut h = hub.accept(LIMIT);
    h.say("NO audio off");
    drop(h);
    let args = full_binary_args(&child);
    assert_eq!(args[1..3], ["run", "--standalone"], "{args:?}");
    assert!(
        args.ends_with(&["--hub".into(), sock, "--playlist".into(), pl]),
        "{args:?}"
    );
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

#[test]
fn an_absent_hub_means_standalone_at_once() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let gone = dir.path().join("no-hub.sock");
    let mut child = shim(dir.path(), &["-H", gone.to_str().unwrap(), "--playlist", &pl]);
    let args = full_binary_args(&child);
    assert_eq!(args[1..3], ["run", "--standalone"], "{args:?}");
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

#[test]
fn without_a_hub_it_is_the_full_run_unchanged() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let mut child = shim(dir.path(), &["--playlist", &pl]);
    let args = full_binary_args(&child);
    assert_eq!(args[1], "run");
    assert!(!args.contains(&"--standalone".to_string()), "{args:?}");
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

#[test]
fn the_hub_closing_without_end_hands_the_call_back() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let hub = Peer::bind(dir.path());
    let sock = format!("--hub={}", hub.path.display());
    let mut child = shim(dir.path(), &[&sock, "--playlist", &pl]);
    let mut h = hub.accept(LIMIT);
    h.say("OK");
    h.write_audio(&[0; 3200]);
    std::thread::sleep(Duration::from_millis(200));
    // The hub dies: its connection and its socket go.
    drop(h);
    drop(hub);
    let args = full_binary_args(&child);
    assert_eq!(args[1..3], ["run", "--standalone"], "{args:?}");
    // A hub that is gone is not hung: a restarted one's greeting is waited for.
    assert!(!args.iter().any(|a| a == "--hub-hung"), "{args:?}");
    // The reader first gets what the hub wrote, then the full binary's tone.
    let (hub_bytes, out) = read_exact(child.stdout.take().unwrap(), 3200, LIMIT);
    assert!(hub_bytes.iter().all(|&b| b == 0));
    hears_the_playlist(out);
    let log = log_text(dir.path());
    assert!(
        log.contains("streaming") || log.contains("resuming the call"),
        "the full binary started or resumed:\n{log}"
    );
    stop(child);
}

/// `OK`, then never a frame: a hung hub (the dry check's looks find it: 3 s
/// after `OK`, then five looks).
#[test]
fn a_dry_pipe_is_taken_over() {
    let dir = tempdir();
    let (_hub, mut child, mut h) = handed_over(dir.path());
    h.say("OK");
    assert_eq!(
        h.rest(),
        "TAKEN\n",
        "the shim says it takes the call, then closes"
    );
    let args = full_binary_args(&child);
    // Hung, its socket open: the full binary does not wait for its greeting.
    assert_eq!(args[1..4], ["run", "--standalone", "--hub-hung"], "{args:?}");
    // The wait's timer slack is not left to the full binary's pacing.
    let slack = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/timerslack_ns")).unwrap();
    assert_eq!(slack(&child.id().to_string()), slack("self"));
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

/// A shim told `OK` and `WATCHED` by a stand-in hub that never writes a
/// frame: not one wake in `asleep` (counted by the kernel), still the shim.
fn watched_and_asleep(dir: &Path, asleep: Duration) -> (Peer, Child, peer::Handover) {
    let (hub, child, mut h) = handed_over(dir);
    h.say("OK");
    h.say("WATCHED");
    wait_read_and_asleep(&child, &h);
    let before = voluntary_sleeps(child.id());
    std::thread::sleep(asleep);
    let woke = voluntary_sleeps(child.id()) - before;
    still_the_shim(&child);
    assert_eq!(woke, 0, "a watched shim woke {woke} times in {asleep:?}");
    (hub, child, h)
}

/// `OK` and `WATCHED`, then never a frame: the shim does not look at its
/// pipe, so it never wakes (the watchdog of a watched hub kills it when it
/// hangs, which closes the socket), and the pipe that an unwatched shim
/// would find dry after 3 s leaves it asleep; the socket's close, then,
/// is taken over at once.
#[test]
fn a_watched_shim_never_wakes_and_takes_over_when_the_hub_closes() {
    let dir = tempdir();
    // Past the dry check's 3 s and its five looks.
    let (hub, mut child, h) = watched_and_asleep(dir.path(), Duration::from_millis(3700));
    drop(h);
    drop(hub);
    let args = full_binary_args(&child);
    assert_eq!(args[1..3], ["run", "--standalone"], "{args:?}");
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

/// `OK` and `WATCHED`, never a frame, and later `UNWATCHED` (the hub's
/// watchdog gone for good): asleep until then, the shim looks at its pipe
/// again, finds it dry and takes the call over, with the socket still
/// open (a watched shim would have slept on: the test above).
#[test]
fn an_unwatched_shim_looks_again_and_takes_a_dry_pipe_over() {
    let dir = tempdir();
    // Past the 3 s a pipe's first write may take.
    let (_hub, mut child, mut h) = watched_and_asleep(dir.path(), Duration::from_secs(3));
    h.say("UNWATCHED");
    assert_eq!(h.rest(), "TAKEN\n", "the dry pipe is taken over");
    let args = full_binary_args(&child);
    assert_eq!(args[1..3], ["run", "--standalone"], "{args:?}");
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

#[test]
fn a_stop_signal_is_passed_on_and_exits_as_run_does() {
    let dir = tempdir();
    let (_hub, mut child, mut h) = held_full(dir.path());
    // Holding the call: its `OK` read.
    wait_read_and_asleep(&child, &h);
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, LIMIT);
    // `holdmix run` exits 0 on SIGHUP, SIGTERM and SIGINT (tests/lifecycle.rs).
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(h.rest(), "STOP 1\n");
}

#[test]
fn a_stop_signal_before_the_answer_ends_the_call_there() {
    let dir = tempdir();
    let hub = Peer::bind(dir.path());
    let mut child = shim(dir.path(), &["--hub", hub.path.to_str().unwrap()]);
    // The hub has the hand-over and has not answered yet (it has up to 1 s).
    let mut h = hub.accept(LIMIT);
    signal(&child, libc::SIGTERM);
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(h.rest(), "STOP 15\n", "the hub is told, whatever it answers");
}

/// A shim holding a call for a stand-in hub that said `OK` and filled the
/// pipe, which nobody reads (so it never looks dry).
fn held_full(dir: &Path) -> (Peer, Child, peer::Handover) {
    let hub = Peer::bind(dir);
    let child = shim(dir, &["--hub", hub.path.to_str().unwrap()]);
    let mut h = hub.accept(LIMIT);
    h.say("OK");
    h.write_audio(&[0; 16_000]);
    (hub, child, h)
}

#[test]
fn an_old_style_ok_keeps_the_40_ms_dry_check() {
    let dir = tempdir();
    // A hub from before `WATCHED`.
    let (_hub, mut child, mut h) = held_full(dir.path());
    // 50 looks in 2 s; fewer when the machine is loaded, never a handful.
    // Counted from its `OK` read.
    wait_read_and_asleep(&child, &h);
    let before = voluntary_sleeps(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let woke = voluntary_sleeps(child.id()) - before;
    assert!(woke >= 20, "{woke} wakes in 2 s");
    h.say("END 0");
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(0));
}

/// The shim's own executable still runs the call (no `execv` yet).
fn still_the_shim(child: &Child) {
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).expect("exe");
    assert!(exe.ends_with("holdmix-shim"), "{exe:?}");
}

#[test]
fn the_standby_hub_takes_the_same_pipe_when_the_hub_dies() {
    let dir = tempdir();
    let hub = Peer::bind(dir.path());
    let standby = Peer::bind_as(dir.path(), "standby.sock");
    let (a, b) = (hub.path.to_str().unwrap(), standby.path.to_str().unwrap());
    let mut child = shim(dir.path(), &["--hub", a, "-S", b, "--playlist", "p.toml"]);
    let mut h = hub.accept(LIMIT);
    h.say("OK");
    h.say("WATCHED");
    h.write_audio(&[0; 3200]);
    let first = h.args().iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The hub dies: its connection and its socket go.
    drop(h);
    drop(hub);
    let mut s = standby.accept(LIMIT);
    assert_eq!(s.args(), first, "the same words to the standby");
    s.say("OK");
    s.write_audio(&[0x11; 3200]);
    still_the_shim(&child);
    // The reader gets the hub's frames, then the standby's, on one pipe.
    let (bytes, _out) = read_exact(child.stdout.take().unwrap(), 6400, LIMIT);
    assert!(bytes[..3200].iter().all(|&b| b == 0));
    assert!(bytes[3200..].iter().all(|&b| b == 0x11));
    s.say("END 4");
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(4), "the standby's END is the exit code");
}

#[test]
fn an_absent_hub_hands_the_call_to_the_standby() {
    let dir = tempdir();
    let standby = Peer::bind_as(dir.path(), "standby.sock");
    let gone = dir.path().join("no-hub.sock");
    let b = format!("--standby-hub={}", standby.path.display());
    let mut child = shim(dir.path(), &["-H", gone.to_str().unwrap(), &b]);
    let mut s = standby.accept(LIMIT);
    s.say("OK");
    s.write_audio(&[0; 8000]);
    still_the_shim(&child);
    signal(&child, libc::SIGTERM);
    let (status, _) = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(s.rest(), "STOP 15\n", "the standby is told the stop");
}

#[test]
fn a_dry_pipe_then_a_refusing_standby_means_standalone() {
    let dir = tempdir();
    let pl = tone_playlist(dir.path());
    let hub = Peer::bind(dir.path());
    let standby = Peer::bind_as(dir.path(), "standby.sock");
    let b = format!("-S{}", standby.path.display());
    let mut child = shim(
        dir.path(),
        &["--hub", hub.path.to_str().unwrap(), &b, "--playlist", &pl],
    );
    let mut h = hub.accept(LIMIT);
    h.say("OK");
    // Never a frame: the shim gives the call up, and says so.
    assert_eq!(h.rest(), "TAKEN\n");
    let mut s = standby.accept(LIMIT);
    s.say("NO full");
    drop(s);
    let args = full_binary_args(&child);
    // The hub whose events the call follows is the one that hung.
    assert_eq!(args[1..4], ["run", "--standalone", "--hub-hung"], "{args:?}");
    hears_the_playlist(child.stdout.take().unwrap());
    stop(child);
}

/// A call of a known Uniqueid taken back from a hub that hung with its
/// socket open (`OK`, then never a frame), by the shim and by `holdmix run`
/// itself: the stream that resumes it does not ask that hub for a greeting
/// (which would hold its start, in silence, for the greeting's wait), and
/// says it follows the hub once it answers.
#[test]
fn a_hung_hubs_call_resumes_without_waiting_for_its_greeting() {
    for (name, spawn) in [("shim", shim as fn(&Path, &[&str]) -> Child), ("run", full_run)] {
        let dir = tempdir();
        let pl = tone_playlist(dir.path());
        let hub = Peer::bind(dir.path());
        let sock = hub.path.to_str().unwrap().to_string();
        let mut child = spawn(
            dir.path(),
            &["--hub", &sock, "--uniqueid", "1795452414.1", "--playlist", &pl],
        );
        let mut h = hub.accept(LIMIT);
        h.say("OK");
        assert_eq!(h.rest(), "TAKEN\n", "{name}");
        hears_the_playlist(child.stdout.take().unwrap());
        let log = log_text(dir.path());
        assert!(log.contains("the hub stopped writing the call"), "{name}:\n{log}");
        assert!(!log.contains("no hub answers yet"), "{name}:\n{log}");
        stop(child);
    }
}

/// The hub says what the call's checkpoints go by (`CHECKPOINTS`, a digest
/// of the call's key) and dies: the standby is offered the call with that
/// name, and when it refuses, the call's own stream resumes from those
/// checkpoints though its Uniqueid is another and no hub tells it the key
/// (by the shim and by `holdmix run` itself). A line that is no such name
/// is ignored.
#[test]
fn the_checkpoints_a_hub_named_are_resumed_after_it_dies() {
    for (name, spawn) in [("shim", shim as fn(&Path, &[&str]) -> Child), ("run", full_run)] {
        let dir = tempdir();
        let pl = tone_playlist(dir.path());
        let state = dir.path().join("state");
        let state = state.to_str().unwrap();
        // An earlier channel of the call, keyed by the call: its checkpoints.
        let mut earlier = full_run(
            dir.path(),
            &[
                "--call-key",
                "k@10.0.0.5",
                "--uniqueid",
                "1795452414.1",
                "--playlist",
                &pl,
                "--state-dir",
                state,
            ],
        );
        hears_the_playlist(earlier.stdout.take().unwrap());
        stop(earlier);
        let kept = checkpoint_files(Path::new(state), None);
        let call = kept[0].split('/').next().unwrap().to_string();
        assert!(call.starts_with("call-"), "{kept:?}");
        std::fs::remove_file(dir.path().join("run.log")).ok();

        let hub = Peer::bind(dir.path());
        let standby = Peer::bind_as(dir.path(), "standby.sock");
        let (a, b) = (hub.path.to_str().unwrap(), standby.path.to_str().unwrap());
        let mut child = spawn(
            dir.path(),
            &[
                "--hub",
                a,
                "-S",
                b,
                "--uniqueid",
                "1795452414.2",
                "--playlist",
                &pl,
                "--state-dir",
                state,
            ],
        );
        let mut h = hub.accept(LIMIT);
        h.say("OK");
        h.say("CHECKPOINTS ../../etc/passwd");
        h.say(&format!("CHECKPOINTS {call}"));
        h.write_audio(&[0; 3200]);
        std::thread::sleep(Duration::from_millis(200));
        drop(h);
        drop(hub);
        let mut s = standby.accept(LIMIT);
        assert_eq!(s.args()[..2], ["--hub-checkpoints", call.as_str()], "{name}");
        s.say("NO full");
        drop(s);
        let (_, out) = read_exact(child.stdout.take().unwrap(), 3200, LIMIT);
        hears_the_playlist(out);
        if name == "shim" {
            let args = full_binary_args(&child);
            assert_eq!(
                args[1..5],
                ["run", "--standalone", "--hub-checkpoints", call.as_str()],
                "{args:?}"
            );
        }
        let log = log_text(dir.path());
        assert!(log.contains("keyed by the call"), "{name}:\n{log}");
        assert!(log.contains("resuming the call"), "{name}:\n{log}");
        stop(child);
    }
}
