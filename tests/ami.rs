//! The AMI codec and one call's view of the event stream, against byte-exact
//! Asterisk 22.10.1 transcripts (tests/ami/, copied from shared/ami; see its
//! README.md for what was done to produce each). The transcript helpers here
//! serve the submodules too: `server` (a loopback Asterisk), `run` (`run
//! --ami` against it) and `hub` (`holdmix hub` and its generators).

use crate::common::root;
use holdmix::ami::channel_watch::ChannelWatch;
use holdmix::ami::codec::{Decoder, Item, Message};
use holdmix::engine::EventKind;
use std::time::Duration;

mod callkey;
mod hosted;
mod hub;
mod hub_trust;
mod positions;
mod run;
pub(crate) mod server;

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

/// The digits of the timeline's `dtmf` entries, in order.
fn digits_of(tl: &[serde_json::Value]) -> Vec<String> {
    crate::common::events(tl, "dtmf")
        .iter()
        .map(|e| e["digit"].as_str().expect("digit").to_string())
        .collect()
}

/// Starts a `run` with its audio drained like Asterisk reads it.
pub(crate) fn start(
    cmd: &mut std::process::Command,
) -> (std::process::Child, std::thread::JoinHandle<Vec<u8>>) {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let reader = crate::common::drain(&mut child);
    (child, reader)
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
            // The channel's language, from her MusicOnHoldStart (issue 19).
            EventKind::Language("en".into()),
            EventKind::Dtmf('1'),
            EventKind::Dtmf('2'),
            EventKind::Dtmf('#'),
            // Her hold music stops (the generator's part is over), then her
            // channel hangs up (the call is over).
            EventKind::MusicStopped,
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
        [
            EventKind::Position(2),
            EventKind::Language("en".into()),
            EventKind::Position(1),
            EventKind::MusicStopped,
            EventKind::Hangup
        ]
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

/// The queue's size (a plan's `queue_size`) follows the `Count` of every
/// join and leave in the caller's queue, and `QueueParams`' `Calls`, once
/// the caller's own join named the queue; each change is told once.
#[test]
fn the_queue_size_follows_joins_leaves_and_params_of_the_callers_queue() {
    let mut w = ChannelWatch::new(Some(BOB), None);
    let mut got = Vec::new();
    for m in messages(&transcript("session-queue-dtmf.raw")) {
        got.extend(w.events(&m));
    }
    assert_eq!(
        got,
        [
            // Alice's join came before Bob's: not his queue yet.
            // The size first: a position change may ask the plan again.
            EventKind::QueueSize(2),
            EventKind::Position(2),
            EventKind::Language("en".into()),
            // QueueParams `Calls: 2`: no change, nothing told.
            // Alice leaves: Bob moves up, one caller fewer.
            EventKind::QueueSize(1),
            EventKind::Position(1),
            EventKind::MusicStopped,
            // Bob's own leave.
            EventKind::QueueSize(0),
            EventKind::Hangup,
        ]
    );
}
