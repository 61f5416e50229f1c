//! A loopback AMI server that speaks what Asterisk 22 speaks, fed from the
//! transcripts: what `run --ami` and the hub are tested against.

use super::*;

/// The events of a transcript, each as it goes on the wire.
pub(super) fn transcript_events(name: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(&transcript(name)).into_owned();
    text.split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .map(|m| format!("{m}\r\n\r\n").into_bytes())
        .collect()
}

/// A loopback AMI server that speaks what Asterisk 22 speaks: the banner,
/// an answer to each action the client sends (`Response: Success`, or for
/// a wrong secret `Response: Error` / `Authentication failed` and a closed
/// connection, as in session-badlogin.raw), then the transcript's events,
/// one every 10 ms. Returns its port and the actions it received.
/// The longest a gate holds its script (see [`serve_script`]).
const GATE_LIMIT: Duration = Duration::from_secs(60);

pub(super) fn serve(
    name: &'static str,
    secret: &'static str,
) -> (u16, std::thread::JoinHandle<Vec<Message>>) {
    serve_script(secret, vec![transcript_events(name)])
}

/// Like [`serve`], for a scripted server: each connection, once logged in,
/// gets its chunks (10 ms apart; a chunk `!gate:<path>` holds the rest
/// until the test creates that file, up to [`GATE_LIMIT`], and makes `<path>.reached` when it
/// gets there); all but the last connection are then
/// closed by the server, which accepts the client's next one.
pub(crate) fn serve_script(
    secret: &'static str,
    connections: Vec<Vec<Vec<u8>>>,
) -> (u16, std::thread::JoinHandle<Vec<Message>>) {
    serve_script_vars(secret, connections, Vec::new())
}

/// Like [`serve_script`], with channel variables that `Getvar` reads and
/// `Setvar` writes (`CALLERID(num)` is always Alice's number).
pub(super) fn serve_script_vars(
    secret: &'static str,
    connections: Vec<Vec<Vec<u8>>>,
    vars: Vec<(&'static str, String)>,
) -> (u16, std::thread::JoinHandle<Vec<Message>>) {
    let mut vars: std::collections::HashMap<String, String> =
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let mut actions = Vec::new();
        let count = connections.len();
        for (n, chunks) in connections.into_iter().enumerate() {
            let (mut sock, _) = listener.accept().expect("accept");
            sock.set_read_timeout(Some(Duration::from_millis(10)))
                .expect("timeout");
            sock.write_all(b"Asterisk Call Manager/11.0.0\r\n")
                .expect("banner");
            let mut decoder = Decoder::new();
            let mut chunks = chunks.into_iter().peekable();
            let mut logged_in = false;
            let mut replies: Vec<u8> = Vec::new();
            // The last bytes sent: at a message boundary when they end a message.
            let mut tail: Vec<u8> = b"\r\n\r\n".to_vec();
            let mut at_boundary = true;
            let mut started = std::time::Instant::now();
            // When the script reached the gate it waits at (see below).
            let mut gated_since: Option<std::time::Instant> = None;
            while started.elapsed() < Duration::from_secs(20) {
                let mut buf = [0u8; 4096];
                let mut items = Vec::new();
                match sock.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => decoder.feed(&buf[..k], &mut items),
                    Err(_) => {}
                }
                for item in items {
                    let Item::Message(m) = item else { continue };
                    let action = m.get("Action").unwrap_or("").to_string();
                    let id = m.get("ActionID").unwrap_or("").to_string();
                    actions.push(m.clone());
                    let (response, message) = match action.as_str() {
                        "Login" if m.get("Secret") != Some(secret) => ("Error", "Authentication failed"),
                        "Login" => ("Success", "Authentication accepted"),
                        "Filter" => ("Success", "Filter Added Successfully"),
                        "Getvar" if m.get("Channel") != Some(ALICE) => ("Error", "No such channel"),
                        _ => ("Success", "Queue status will follow"),
                    };
                    if action == "Setvar" {
                        vars.insert(
                            m.get("Variable").unwrap_or("").to_string(),
                            m.get("Value").unwrap_or("").to_string(),
                        );
                    }
                    if action == "CoreShowChannels"
                        && let Some(capture) = vars.get("!channels")
                    {
                        // The capture's own channel list, for this ActionID.
                        replies.extend_from_slice(&channels_answer(capture, &id));
                        continue;
                    }
                    if action == "QueueStatus" {
                        // The capture's own answer, for this ActionID (with
                        // "!queue" = "empty": its entries left out, as for a
                        // channel in no queue).
                        let empty = vars.get("!queue").is_some_and(|v| v == "empty");
                        replies.extend_from_slice(&queue_status_answer(&id, empty));
                        continue;
                    }
                    // Getvar answers as in session-queue-dtmf.raw: Variable and Value.
                    let reply = if action == "Getvar" && response == "Success" {
                        let var = m.get("Variable").unwrap_or("");
                        let value = match var {
                            "CALLERID(num)" => "79001112233".to_string(),
                            other => vars.get(other).cloned().unwrap_or_default(),
                        };
                        format!(
                            "Response: Success\r\nActionID: {id}\r\nVariable: {var}\r\nValue: {value}\r\n\r\n"
                        )
                    } else {
                        format!("Response: {response}\r\nActionID: {id}\r\nMessage: {message}\r\n\r\n")
                    };
                    // Asterisk writes whole messages: a reply never lands in
                    // the middle of an event being dripped.
                    replies.extend_from_slice(reply.as_bytes());
                    if response == "Error" && action == "Login" {
                        sock.write_all(&replies).ok();
                        return actions;
                    }
                    logged_in |= action == "Login";
                }
                if at_boundary && !replies.is_empty() {
                    sock.write_all(&replies).ok();
                    replies.clear();
                }
                // A gate (`!gate:<path>`): the script waits there, answering
                // actions, until the test creates that file. What a test
                // waits for before opening it is the call's own progress,
                // which a loaded machine slows: a gate holds up to
                // `GATE_LIMIT`, and opening it starts the server's 20 s over.
                let gated = chunks.peek().and_then(|c| c.strip_prefix(b"!gate:".as_slice()));
                if let Some(path) = gated {
                    let path = std::path::PathBuf::from(String::from_utf8_lossy(path).into_owned());
                    // Tells the test that everything before the gate is sent.
                    std::fs::write(path.with_extension("reached"), "").ok();
                    let since = *gated_since.get_or_insert_with(std::time::Instant::now);
                    if path.exists() {
                        chunks.next();
                        gated_since = None;
                        started = std::time::Instant::now();
                    } else if since.elapsed() < GATE_LIMIT {
                        started = std::time::Instant::now();
                    }
                    continue;
                }
                if logged_in {
                    match chunks.next() {
                        Some(c) => {
                            sock.write_all(&c).ok();
                            tail.extend_from_slice(&c);
                            let keep = tail.len().saturating_sub(4);
                            tail.drain(..keep);
                            at_boundary = tail.ends_with(b"\r\n\r\n");
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        // Drop the client; it must come back.
                        None if n + 1 < count => break,
                        None => {}
                    }
                }
            }
        }
        actions
    });
    (port, handle)
}

/// A capture's answer to its `CoreShowChannels` (ActionID 6 in
/// session-all.raw and session-filtered.raw): the response, each
/// CoreShowChannel and CoreShowChannelsComplete, byte for byte but for the
/// ActionID.
pub(super) fn channels_answer(capture: &str, id: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(&transcript(capture)).into_owned();
    let start = text
        .find("Response: Success\r\nActionID: 6\r\nEventList: start\r\nMessage: Channels will follow")
        .expect("the CoreShowChannels answer");
    let end_marker = "Event: CoreShowChannelsComplete\r\nActionID: 6\r\n";
    let end = text[start..].find(end_marker).expect("its end") + start;
    let end = text[end..].find("\r\n\r\n").expect("message end") + end + 4;
    text[start..end]
        .replace("ActionID: 6\r\n", &format!("ActionID: {id}\r\n"))
        .into_bytes()
}

/// session-queue-dtmf.raw's answer to its first `QueueStatus` (ActionID 4):
/// the response, QueueParams, both QueueEntry events and
/// QueueStatusComplete, byte for byte but for the ActionID.
fn queue_status_answer(id: &str, without_entries: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(&transcript("session-queue-dtmf.raw")).into_owned();
    let start = text
        .find("Response: Success\r\nActionID: 4\r\nEventList: start")
        .expect("the QueueStatus answer");
    let end_marker = "Event: QueueStatusComplete\r\nActionID: 4\r\n";
    let end = text[start..].find(end_marker).expect("its end") + start;
    let end = text[end..].find("\r\n\r\n").expect("message end") + end + 4;
    text[start..end]
        .split_inclusive("\r\n\r\n")
        .filter(|m| {
            !(without_entries && (m.starts_with("Event: QueueEntry") || m.starts_with("Event: QueueParams")))
        })
        .collect::<String>()
        .replace("ActionID: 4\r\n", &format!("ActionID: {id}\r\n"))
        .into_bytes()
}
