//! Issue 18's hub findings: `--socket` replaces only a stale socket of its
//! own (finding 9), clients are authorised per call (finding 8), a hub
//! restart is invisible to the calls it served (finding 14).

use super::server::transcript_events;
use super::*;
use std::path::Path;
use std::process::Stdio;

/// A hub on `socket` whose AMI is nowhere; returns its exit status and log
/// once it has ended (bounded wait; killed if it does not end).
fn hub_alone(dir: &Path, socket: &Path) -> (std::process::ExitStatus, String) {
    let log = dir.join("hub.log");
    let mut hub = crate::common::holdmix(dir)
        .arg("--log")
        .arg(&log)
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(socket)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let (status, _) = crate::common::wait_exit(&mut hub, Duration::from_secs(10));
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_hub_never_replaces_a_file_or_a_symlink_at_its_socket_path() {
    let dir = crate::common::tempdir();
    // A regular file where the socket would go.
    let file = dir.path().join("hub.sock");
    std::fs::write(&file, "precious\n").expect("write");
    let (status, log) = hub_alone(dir.path(), &file);
    assert!(!status.success(), "{status:?}");
    assert!(
        log.contains(&file.display().to_string()) && log.contains("regular file"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("still there"), "precious\n");

    // A symlink to something of value: the link and its target stay.
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "also precious\n").expect("write");
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let (status, log) = hub_alone(dir.path(), &link);
    assert!(!status.success(), "{status:?}");
    assert!(
        log.contains(&link.display().to_string()) && log.contains("symlink"),
        "{log}"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("target"),
        "also precious\n"
    );

    // A directory.
    let sub = dir.path().join("dir.sock");
    std::fs::create_dir(&sub).expect("mkdir");
    let (status, log) = hub_alone(dir.path(), &sub);
    assert!(!status.success() && log.contains("directory"), "{log}");
    assert!(sub.is_dir());
}

#[test]
fn the_hub_replaces_a_stale_socket_of_its_own() {
    let dir = crate::common::tempdir();
    let socket = dir.path().join("hub.sock");
    // A socket nobody listens on any more (its hub was killed).
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let mut hub = crate::common::holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("hub.log"))
        .args(["hub", "--ami", "127.0.0.1:1", "--socket"])
        .arg(&socket)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err()
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        "the new hub listens there"
    );
    crate::common::signal(&hub, libc::SIGKILL);
    hub.wait().ok();
}

/// Alice's call in session-filtered.raw: the capture's channel list has it.
const FILTERED_UID: &str = "1795452386.5";
const FILTERED_CHANNEL: &str = "Local/200@test-00000002;2";
/// The other held call in that capture (its list has it; its events were
/// filtered out).
const OTHER_UID: &str = "1795452387.7";

/// A raw client of the hub: connects, sends `line`, and reads what comes
/// for `for_at_most` or until the hub closes; returns the bytes and
/// whether the hub closed the connection.
fn raw_client(socket: &Path, line: &str, for_at_most: Duration) -> (String, bool) {
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    // A hub that closes at once may do so before the line is written.
    s.write_all(line.as_bytes()).ok();
    read_for(&mut s, for_at_most)
}

fn read_for(s: &mut std::os::unix::net::UnixStream, for_at_most: Duration) -> (String, bool) {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    while started.elapsed() < for_at_most {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

fn subscribe_line(uid: &str, token: &str) -> String {
    format!("SUBSCRIBE uniqueid={uid} token={token}\n")
}

/// An AMI server that lists session-filtered.raw's channels, then after
/// `quiet` chunks (10 ms each) sends that capture's events.
fn filtered_server(quiet: usize) -> (u16, std::thread::JoinHandle<Vec<Message>>) {
    let mut chunks = vec![Vec::new(); quiet];
    chunks.extend(transcript_events("session-filtered.raw"));
    server::serve_script_vars(
        "pw",
        vec![chunks],
        vec![("!channels", "session-filtered.raw".to_string())],
    )
}

#[test]
fn only_the_calls_own_generator_gets_its_events_and_redirects_only_its_channel() {
    let dir = crate::common::tempdir();
    let (port, server) = filtered_server(150);
    let (mut hub, socket) = hub::spawn_hub(dir.path(), port);
    let alice = hub::token(dir.path(), FILTERED_UID);
    let other = hub::token(dir.path(), OTHER_UID);
    // The call's own generator, and another call's, both subscribed before
    // Alice's events flow.
    let mut own = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    std::io::Write::write_all(&mut own, subscribe_line(FILTERED_UID, &alice).as_bytes()).expect("write");
    let mut bob = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    std::io::Write::write_all(&mut bob, subscribe_line(OTHER_UID, &other).as_bytes()).expect("write");
    // The other call's generator asks to redirect Alice's channel (named),
    // then its own call.
    std::io::Write::write_all(
        &mut bob,
        format!("REDIRECT callback s 1 {FILTERED_CHANNEL}\nREDIRECT callback s 1\n").as_bytes(),
    )
    .expect("write");
    // No token, another call's token, a channel alone, garbage: a refusal
    // and the end, nothing of the call.
    let refused = [
        subscribe_line(FILTERED_UID, ""),
        subscribe_line(FILTERED_UID, &other),
        subscribe_line(FILTERED_UID, &alice[..30]),
        format!("SUBSCRIBE channel={FILTERED_CHANNEL}\n"),
        "HELLO\n".to_string(),
    ];
    for line in &refused {
        let (got, closed) = raw_client(&socket, line, Duration::from_secs(5));
        assert!(closed, "{line:?}: the hub ends it");
        assert!(got.starts_with("Response: Error\r\n"), "{line:?}: {got:?}");
        assert!(
            !got.contains("Event:") && !got.contains("79001112233") && !got.contains(FILTERED_CHANNEL),
            "{line:?}: {got:?}"
        );
    }
    let (own_got, _) = read_for(&mut own, Duration::from_secs(6));
    let (bob_got, _) = read_for(&mut bob, Duration::from_millis(200));
    drop((own, bob));
    signal_hub_kill(&mut hub);
    let actions = server.join().expect("server");
    // The call's own generator: greeted with its channel and number (from
    // the channel list), then its keys.
    let own_msgs = messages(own_got.as_bytes());
    assert_eq!(own_msgs[0].get("Event"), Some("HoldmixCall"), "{own_got}");
    assert_eq!(own_msgs[0].get("Channel"), Some(FILTERED_CHANNEL));
    assert_eq!(own_msgs[0].get("CallerIDNum"), Some("79001112233"));
    let digits: Vec<&str> = own_msgs
        .iter()
        .filter(|m| m.is("DTMFEnd"))
        .filter_map(|m| m.get("Digit"))
        .collect();
    assert_eq!(digits, ["1", "2", "#"]);
    // The other call's generator: its greeting, nothing of Alice's.
    let bob_msgs = messages(bob_got.as_bytes());
    assert_eq!(bob_msgs[0].get("Uniqueid"), Some(OTHER_UID), "{bob_got}");
    assert!(
        !bob_got.contains("79001112233") && !bob_got.contains("DTMF"),
        "{bob_got}"
    );
    // Its redirects: its own channel only, never Alice's.
    let redirects: Vec<&str> = actions
        .iter()
        .filter(|m| m.get("Action") == Some("Redirect"))
        .filter_map(|m| m.get("Channel"))
        .collect();
    assert!(!redirects.is_empty(), "its own call's redirect went out");
    assert!(redirects.iter().all(|c| *c != FILTERED_CHANNEL), "{redirects:?}");
    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default();
    assert!(log.contains("a client refused"), "{log}");
    assert!(!log.contains(&alice), "no token in the log");
}

fn signal_hub_kill(hub: &mut std::process::Child) {
    crate::common::signal(hub, libc::SIGKILL);
    hub.wait().ok();
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    let dir = crate::common::tempdir();
    let (port, server) = filtered_server(600);
    let (mut hub, socket) = hub::spawn_hub_args(dir.path(), port, &["--max-clients", "2"]);
    let first = raw_client_kept(&socket, FILTERED_UID, &hub::token(dir.path(), FILTERED_UID));
    let second = raw_client_kept(&socket, OTHER_UID, &hub::token(dir.path(), OTHER_UID));
    // Beyond the cap: closed at once, nothing said, even with a valid token.
    for _ in 0..5 {
        let (got, closed) = raw_client(
            &socket,
            &subscribe_line(FILTERED_UID, &hub::token(dir.path(), FILTERED_UID)),
            Duration::from_secs(5),
        );
        assert!(closed && got.is_empty(), "{got:?}");
    }
    // A place given back is taken again.
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let third = raw_client_kept(&socket, FILTERED_UID, &hub::token(dir.path(), FILTERED_UID));
    drop((second, third));
    signal_hub_kill(&mut hub);
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default();
    assert_eq!(
        log.matches("connections at the cap").count(),
        1,
        "one line: {log}"
    );
}

/// A subscribed client, greeted; kept open until dropped.
fn raw_client_kept(socket: &Path, uid: &str, token: &str) -> std::os::unix::net::UnixStream {
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    std::io::Write::write_all(&mut s, subscribe_line(uid, token).as_bytes()).expect("write");
    let started = std::time::Instant::now();
    let mut got = String::new();
    while !got.contains("\r\n\r\n") && started.elapsed() < Duration::from_secs(5) {
        let (more, closed) = read_for(&mut s, Duration::from_millis(100));
        got.push_str(&more);
        assert!(!closed, "{uid}: closed: {got:?}");
    }
    assert!(got.starts_with("Event: HoldmixCall\r\n"), "{uid}: {got:?}");
    s
}

#[test]
fn a_generator_running_as_another_user_is_refused() {
    // The peer-uid half of the check needs a second uid: only as root.
    // SAFETY: geteuid(2) touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run a generator as another uid");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = crate::common::tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (port, server) = filtered_server(300);
    let (mut hub, socket) = hub::spawn_hub(dir.path(), port);
    // Let the other user reach the socket: only the peer check stands.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let sub = dir.path().join("nobody");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut generator = std::process::Command::new(crate::common::BIN)
        .arg("--cache-dir")
        .arg(sub.join("cache"))
        .arg("--log")
        .arg(sub.join("run.log"))
        .args(["run", "--hub"])
        .arg(&socket)
        .args([
            "--uniqueid",
            FILTERED_UID,
            "--hub-token",
            &hub::token(dir.path(), FILTERED_UID),
            "--state-dir",
        ])
        .arg(sub.join("state"))
        .args(["--store", "none"])
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn as nobody");
    let reader = crate::common::drain(&mut generator);
    crate::common::wait_for_text(&sub.join("run.log"), "the hub refused", Duration::from_secs(30));
    crate::common::signal(&generator, libc::SIGHUP);
    crate::common::wait_exit(&mut generator, Duration::from_secs(20));
    reader.join().ok();
    signal_hub_kill(&mut hub);
    drop(server);
    let log = std::fs::read_to_string(sub.join("run.log")).unwrap_or_default();
    assert!(
        log.contains("the hub refused this generator: this user may not subscribe"),
        "{log}"
    );
}

#[test]
fn a_hub_killed_and_restarted_under_a_call_is_invisible_to_it() {
    use std::sync::atomic::Ordering;
    // slin: 8 kHz, 16 bits.
    const BYTES_PER_S: f64 = 16_000.0;
    let dir = crate::common::tempdir();
    let events = transcript_events("session-filtered.raw");
    let alices = |name: &str| -> Vec<Vec<u8>> {
        events
            .iter()
            .filter(|e| {
                let t = String::from_utf8_lossy(e);
                t.starts_with(&format!("Event: {name}\r\n"))
                    && t.contains(&format!("Uniqueid: {FILTERED_UID}\r\n"))
            })
            .cloned()
            .collect()
    };
    // The first hub's session: nothing but the lists. The second's (after
    // the restart): two seconds of quiet, then Alice's queue position, her
    // keys and the end of her hold.
    let mut after = vec![Vec::new(); 200];
    after.extend(alices("QueueCallerJoin"));
    after.extend(
        alices("DTMFBegin")
            .into_iter()
            .zip(alices("DTMFEnd"))
            .flat_map(|(b, e)| [b, e]),
    );
    after.extend(vec![Vec::new(); 50]);
    after.extend(alices("MusicOnHoldStop"));
    assert_eq!(after.len(), 200 + 1 + 6 + 50 + 1, "the capture's events");
    let (port, server) = server::serve_script_vars(
        "pw",
        vec![vec![Vec::new(); 3000], after],
        vec![("!channels", "session-filtered.raw".to_string())],
    );
    let (mut first_hub, socket) = hub::spawn_hub(dir.path(), port);
    std::thread::sleep(Duration::from_millis(500));
    let mut cmd = crate::common::holdmix(dir.path());
    cmd.arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["-v", "run", "--hub"])
        .arg(&socket)
        .args([
            "--uniqueid",
            FILTERED_UID,
            "--hub-token",
            &hub::token(dir.path(), FILTERED_UID),
            "--timeline",
        ])
        .arg(dir.path().join("tl.jsonl"))
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut generator = cmd.spawn().expect("spawn run");
    let (bytes, reader) = crate::common::counted_drain(&mut generator);
    // A second of the call's stream (the wall clock's second on an idle
    // machine; longer on a loaded one).
    crate::common::wait_for_stream(&mut generator, &bytes, 16_000, Duration::from_secs(30));
    // The hub dies at once (no goodbye to anyone).
    signal_hub_kill(&mut first_hub);
    let at_kill = bytes.load(Ordering::SeqCst);
    // The stream goes on without a hub: a quarter second of it (a stall
    // fails below, after 30 s).
    let at_restart =
        crate::common::wait_for_stream(&mut generator, &bytes, at_kill + 4_000, Duration::from_secs(30));
    let (mut second_hub, _) = hub::spawn_hub(dir.path(), port);
    let (status, _) = crate::common::wait_exit(&mut generator, Duration::from_secs(30));
    reader.join().expect("reader");
    signal_hub_kill(&mut second_hub);
    server.join().ok();
    assert!(status.success(), "{status:?}");
    // Audio went on while no hub was there.
    assert!(
        at_restart - at_kill >= 4_000,
        "{} bytes of audio in the second without a hub",
        at_restart - at_kill
    );
    let log = crate::common::log_text(dir.path());
    assert!(log.contains("identity from Asterisk through the hub"), "{log}");
    assert!(log.contains("hub back: following the call again"), "{log}");
    // What the new hub sent reached the call, on the stream's own clock
    // after the hub died.
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    assert_eq!(digits_of(&tl), ["1", "2", "#"], "{tl:?}");
    let positions = crate::common::events(&tl, "position");
    assert_eq!(positions.len(), 1, "{tl:?}");
    assert_eq!(positions[0]["value"], 1);
    let killed_at = at_kill as f64 / BYTES_PER_S;
    for e in crate::common::events(&tl, "dtmf").iter().chain(&positions) {
        let t = e["t"].as_f64().expect("t");
        assert!(t > killed_at, "{e} before the kill at {killed_at}s");
    }
    assert_eq!(
        crate::common::events(&tl, "exit")[0]["reason"],
        "music-stopped",
        "{tl:?}"
    );
}

#[test]
fn a_hub_with_a_full_backlog_does_not_hold_up_the_first_frame() {
    use std::io::Read;
    let dir = crate::common::tempdir();
    let socket = dir.path().join("busy.sock");
    // A "hub" that never accepts, its backlog filled: a blocking connect
    // there waits for ever.
    let listener = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).expect("socket");
    listener
        .bind(&socket2::SockAddr::unix(&socket).expect("addr"))
        .expect("bind");
    listener.listen(1).expect("listen");
    let mut pending = Vec::new();
    loop {
        let c = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).expect("socket");
        c.set_nonblocking(true).expect("nonblocking");
        match c.connect(&socket2::SockAddr::unix(&socket).expect("addr")) {
            Ok(()) => pending.push(c),
            Err(_) => break,
        }
        assert!(pending.len() < 10_000, "the backlog never fills");
    }
    let mut generator = crate::common::holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args(["run", "--hub"])
        .arg(&socket)
        .args(["--uniqueid", FILTERED_UID, "--hub-token", "00"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let mut out = generator.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 320];
        tx.send(out.read_exact(&mut first).is_ok()).ok();
    });
    // Generous: the first frame comes in milliseconds; a blocked connect
    // never gives one.
    let got = rx.recv_timeout(Duration::from_secs(10));
    crate::common::signal(&generator, libc::SIGKILL);
    generator.wait().ok();
    assert_eq!(got, Ok(true), "no first frame with the hub's backlog full");
    drop((pending, listener));
}
