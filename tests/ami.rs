//! The AMI codec and one call's view of the event stream, against byte-exact
//! Asterisk 22.10.1 transcripts (tests/ami/, copied from shared/ami; see its
//! README.md for what was done to produce each).

use crate::common::root;
use holdmix::ami::codec::{Decoder, Item, Message};
use holdmix::ami::watch::ChannelWatch;
use holdmix::engine::EventKind;

const ALICE: &str = "Local/200@test-00000000;2";
const BOB: &str = "Local/200@test-00000001;2";

fn transcript(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/ami").join(name)).expect("transcript")
}

fn decode(bytes: &[u8], chunk: usize) -> Vec<Item> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for c in bytes.chunks(chunk) {
        d.feed(c, &mut out);
    }
    out
}

fn messages(bytes: &[u8]) -> Vec<Message> {
    decode(bytes, 4096)
        .into_iter()
        .filter_map(|i| match i {
            Item::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// What a call's watcher makes of a whole session, up to its end.
fn watch(bytes: &[u8], channel: &str) -> Vec<EventKind> {
    let mut w = ChannelWatch::new(Some(channel), None);
    let mut out = Vec::new();
    for m in messages(bytes) {
        if let Some(e) = w.on_message(&m) {
            let end = e == EventKind::Hangup;
            out.push(e);
            if end {
                break;
            }
        }
    }
    out
}

#[test]
fn every_transcript_frames_cleanly_in_any_split() {
    for name in [
        "session-all.raw",
        "session-badlogin.raw",
        "session-filtered.raw",
        "session-queue-announce.raw",
        "session-queue-dtmf.raw",
        "session-redirect.raw",
    ] {
        let bytes = transcript(name);
        let whole = decode(&bytes, bytes.len());
        assert!(
            matches!(&whole[0], Item::Banner(b) if b.starts_with("Asterisk Call Manager/")),
            "{name}"
        );
        assert!(
            !whole.iter().any(|i| matches!(i, Item::Garbage(_))),
            "{name}: garbage"
        );
        // A slow drip (1 byte at a time) and odd splits give the same messages.
        for chunk in [1, 3, 1000] {
            assert_eq!(decode(&bytes, chunk), whole, "{name} in chunks of {chunk}");
        }
        let text = String::from_utf8_lossy(&bytes);
        let events = text.matches("\r\nEvent: ").count() + usize::from(text.starts_with("Event: "));
        let decoded = whole
            .iter()
            .filter(|i| matches!(i, Item::Message(m) if m.event().is_some()))
            .count();
        assert_eq!(decoded, events, "{name}");
    }
}

#[test]
fn login_answers_success_or_failure() {
    let ok = messages(&transcript("session-queue-dtmf.raw"));
    assert_eq!(ok[0].get("Response"), Some("Success"));
    assert_eq!(ok[0].get("Message"), Some("Authentication accepted"));
    let bad = messages(&transcript("session-badlogin.raw"));
    assert_eq!(bad[0].get("Response"), Some("Error"));
    assert_eq!(bad[0].get("Message"), Some("Authentication failed"));
}

#[test]
fn the_callers_own_keys_and_end() {
    let alice = watch(&transcript("session-queue-dtmf.raw"), ALICE);
    assert_eq!(
        alice,
        [
            EventKind::Position(1),
            EventKind::Dtmf('1'),
            EventKind::Dtmf('2'),
            EventKind::Dtmf('#'),
            EventKind::Hangup
        ]
    );
}

#[test]
fn position_moves_up_as_callers_ahead_leave() {
    // Bob joins second; when Alice hangs up no event names Bob, but her
    // QueueCallerLeave (position 1, ahead of him) moves him to 1.
    let bob = watch(&transcript("session-queue-dtmf.raw"), BOB);
    assert_eq!(
        bob,
        [EventKind::Position(2), EventKind::Position(1), EventKind::Hangup]
    );
}

#[test]
fn a_filtered_session_still_tells_its_call_everything() {
    let bytes = transcript("session-filtered.raw");
    let first = watch(&bytes, "Local/200@test-00000002;2");
    assert!(first.contains(&EventKind::Hangup), "{first:?}");
    assert!(
        first.iter().any(|e| matches!(e, EventKind::Position(_))),
        "{first:?}"
    );
    // The filter holds back the other caller's events; only action
    // responses (here its QueueStatus entry) still name it.
    let other = watch(&bytes, "Local/200@test-00000003;2");
    assert_eq!(
        other,
        [EventKind::Position(2)],
        "the other caller's events were filtered out"
    );
}

#[test]
fn legacy_dtmf_acts_once_per_press_and_only_for_received_digits() {
    // Asterisk 1.8/11 send one `Event: DTMF` at the start and one at the end
    // of each press (manager.c / channel.c of those versions: Channel,
    // Uniqueid, Digit, Direction, Begin, End). No capture of it exists, so
    // this follows that documented format.
    let press = |digit: &str, dir: &str, begin: &str, end: &str| {
        format!(
            "Event: DTMF\r\nPrivilege: dtmf,all\r\nChannel: SIP/100-00000001\r\nUniqueid: 1400000000.1\r\n\
             Digit: {digit}\r\nDirection: {dir}\r\nBegin: {begin}\r\nEnd: {end}\r\n\r\n"
        )
    };
    let mut wire = String::from("Asterisk Call Manager/1.3\r\n");
    wire += &press("5", "Received", "Yes", "No");
    wire += &press("5", "Received", "No", "Yes");
    wire += &press("7", "Sent", "Yes", "No");
    wire += &press("7", "Sent", "No", "Yes");
    wire += &press("*", "Received", "Yes", "No");
    wire += &press("*", "Received", "No", "Yes");
    let mut w = ChannelWatch::new(None, Some("1400000000.1"));
    let got: Vec<EventKind> = messages(wire.as_bytes())
        .iter()
        .filter_map(|m| w.on_message(m))
        .collect();
    assert_eq!(got, [EventKind::Dtmf('5'), EventKind::Dtmf('*')]);
}

/// A loopback AMI server that speaks what Asterisk 22 speaks: the banner
/// and framing of the transcript, an answer to each action the client
/// sends (`Response: Success` or, for a wrong secret, `Response: Error` /
/// `Authentication failed` and a closed connection, as in
/// session-badlogin.raw), then the transcript's events, one every 10 ms.
/// Returns its port and a handle yielding the actions it received.
fn serve(name: &'static str, secret: &'static str) -> (u16, std::thread::JoinHandle<Vec<Message>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let bytes = transcript(name);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (banner, rest) = text.split_once("\r\n").expect("banner");
        let events: Vec<&str> = rest
            .split("\r\n\r\n")
            .filter(|m| m.starts_with("Event: "))
            .collect();
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        sock.write_all(format!("{banner}\r\n").as_bytes())
            .expect("banner");
        let mut actions = Vec::new();
        let mut decoder = Decoder::new();
        let mut next_event = 0;
        let mut logged_in = false;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let mut buf = [0u8; 4096];
            let mut items = Vec::new();
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => decoder.feed(&buf[..n], &mut items),
                Err(_) => {}
            }
            for item in items {
                let Item::Message(m) = item else { continue };
                let action = m.get("Action").unwrap_or("").to_string();
                let id = m.get("ActionID").unwrap_or("").to_string();
                actions.push(m.clone());
                let reply = if action == "Login" && m.get("Secret") != Some(secret) {
                    "Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"
                } else if action == "Login" {
                    logged_in = true;
                    "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
                } else if action == "Filter" {
                    "Response: Success\r\nActionID: {id}\r\nMessage: Filter Added Successfully\r\n\r\n"
                } else {
                    "Response: Success\r\nActionID: {id}\r\nMessage: Queue status will follow\r\n\r\n"
                };
                sock.write_all(reply.replace("{id}", &id).as_bytes()).ok();
                if !logged_in {
                    return actions;
                }
            }
            if logged_in && next_event < events.len() {
                sock.write_all(format!("{}\r\n\r\n", events[next_event]).as_bytes())
                    .ok();
                next_event += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        actions
    });
    (port, handle)
}

fn names(actions: &[Message]) -> Vec<&str> {
    actions.iter().map(|m| m.get("Action").unwrap_or("")).collect()
}

fn run_with_ami(dir: &std::path::Path, port: u16, secret: &str, channel: &str) -> std::process::Child {
    run_with_ami_args(dir, port, secret, channel, &[])
}

fn run_with_ami_args(
    dir: &std::path::Path,
    port: u16,
    secret: &str,
    channel: &str,
    extra: &[&str],
) -> std::process::Child {
    crate::common::holdmix(dir)
        .arg("--log")
        .arg(dir.join("run.log"))
        .args(["run", "--ami", &format!("127.0.0.1:{port}"), "--channel", channel])
        .args(extra)
        .arg("--timeline")
        .arg(dir.join("tl.jsonl"))
        .env("HOLDMIX_AMI_SECRET", secret)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run")
}

use std::time::Duration;

#[test]
fn run_follows_its_call_over_ami_until_music_on_hold_stops() {
    let dir = crate::common::tempdir();
    let (port, server) = serve("session-queue-dtmf.raw", "hunter2");
    let mut child = run_with_ami(dir.path(), port, "hunter2", ALICE);
    let reader = crate::common::drain(&mut child);
    // Alice's MusicOnHoldStop ends the run by itself.
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(!reader.join().expect("reader").is_empty(), "audio flowed");
    let received = server.join().expect("server");
    let actions = names(&received);
    assert_eq!(&actions[..2], ["Login", "Filter"], "{actions:?}");
    assert!(actions.contains(&"QueueStatus"), "{actions:?}");
    let tl = crate::common::timeline(&dir.path().join("tl.jsonl"));
    let digits: Vec<&str> = crate::common::events(&tl, "dtmf")
        .iter()
        .map(|e| e["digit"].as_str().expect("digit"))
        .collect();
    assert_eq!(digits, ["1", "2", "#"]);
    assert_eq!(crate::common::events(&tl, "position")[0]["value"], 1);
    assert_eq!(crate::common::events(&tl, "exit")[0]["reason"], "hangup");
}

#[test]
fn a_refused_login_keeps_the_music_and_never_logs_the_secret() {
    let dir = crate::common::tempdir();
    let (port, server) = serve("session-badlogin.raw", "right-secret");
    let mut child = run_with_ami(dir.path(), port, "wrong-secret-xyz", ALICE);
    let reader = crate::common::drain(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success());
    assert!(
        reader.join().expect("reader").len() >= 320 * 50,
        "the stream went on"
    );
    assert_eq!(names(&server.join().expect("server")), ["Login"]);
    let log = crate::common::log_text(dir.path());
    assert!(log.contains("login refused: Authentication failed"), "{log}");
    assert!(
        !log.contains("wrong-secret-xyz"),
        "the secret is in the log:\n{log}"
    );
}

#[test]
fn a_redirect_key_sends_the_caller_to_the_dialplan() {
    let dir = crate::common::tempdir();
    let pl = crate::common::playlist(
        dir.path(),
        "callback.toml",
        "[keys]\n1 = { action = \"redirect\", to = \"callback,s,1\" }\n",
    );
    let (port, server) = serve("session-queue-dtmf.raw", "pw");
    let mut child = run_with_ami_args(
        dir.path(),
        port,
        "pw",
        ALICE,
        &["--playlist", pl.to_str().expect("path")],
    );
    let reader = crate::common::drain(&mut child);
    let (status, _) = crate::common::wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success());
    reader.join().expect("reader");
    let actions = server.join().expect("server");
    let redirect = actions
        .iter()
        .find(|m| m.get("Action") == Some("Redirect"))
        .unwrap_or_else(|| panic!("no Redirect in {:?}", names(&actions)));
    assert_eq!(redirect.get("Channel"), Some(ALICE));
    assert_eq!(redirect.get("Context"), Some("callback"));
    assert_eq!(redirect.get("Exten"), Some("s"));
    assert_eq!(redirect.get("Priority"), Some("1"));
}
