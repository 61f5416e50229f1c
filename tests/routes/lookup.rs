//! Lookups as res_config_curl sends them, against a real hub with a routes
//! file: a route named in the class, an unknown name (the default), hostile
//! names (no row), and routes picked by AMI's facts from a byte-exact
//! Asterisk 22.10.1 capture.

use super::*;
use std::io::{Read, Write};

const ROUTES: &str = r#"
[[route]]
name = "main"
playlist = "m.toml"
default = true

[[route]]
name = "sales"
playlist = "s.toml"

[[route]]
name = "acme_ru"
playlist = "a.toml"
language = "ru"
"#;

#[test]
fn a_class_picks_its_route_by_name_an_unknown_name_gets_the_default_a_hostile_one_nothing() {
    let dir = tempdir();
    let d = dir.path();
    // Short names: the test's paths are long, and the row must fit
    // Asterisk's 255 bytes with a 64-character Uniqueid and the language.
    playlists(d, &["m", "s", "a"]);
    let routes = write_routes(d, ROUTES);
    let h = hub(d, &routes, "127.0.0.1:1");
    let uid = "1795734025.1";
    // The captured request itself (`holdmix-<uniqueid>`): the default.
    let answers = crate::realtime::ask(h.port, &[crate::realtime::CAPTURED.to_vec()]);
    let row = crate::realtime::parse_row(&answers[0].1);
    assert_eq!(
        crate::realtime::argv(&row),
        expected(d, &d.join("m.toml"), None, uid)
    );
    for (class, playlist, language) in [
        ("holdmix-sales-1795734025.1", "s.toml", None),
        ("holdmix-acme_ru-1795734025.1", "a.toml", Some("ru")),
        ("holdmix-main-1795734025.1", "m.toml", None),
        // Unknown: the default, for that call.
        ("holdmix-nosuch-1795734025.1", "m.toml", None),
        ("holdmix-x-1795734025.1", "m.toml", None),
        // Percent-encoding of valid characters is just encoding.
        ("holdmix-%73ales-1795734025.1", "s.toml", None),
    ] {
        assert_eq!(
            argv_for(h.port, class),
            Some(expected(d, &d.join(playlist), language, uid)),
            "{class}"
        );
    }
    let long = format!("holdmix-{}-1795734025.1", "a".repeat(33));
    let hostile = [
        "holdmix-Sales-1795734025.1",
        "holdmix-sa$les-1795734025.1",
        "holdmix-sa%24les-1795734025.1",
        long.as_str(),
        "holdmix-sales;rm%20-rf%20/-1795734025.1",
        "holdmix-sales-1795734025.1%20--language%20xx",
        "holdmix-sales-1795734025.1%20--playlist%20/etc/passwd",
        "holdmix-sales%0A-1795734025.1",
        "holdmix-sales%00-1795734025.1",
        "holdmix-%FF%FE-1795734025.1",
        "holdmix-sales%2",
        "holdmix-sales--1795734025.1",
        "holdmix-sales-",
        "holdmix-sales",
        "holdmix--sales-1795734025.1",
        "holdmix-sales-..%2F..%2Fetc",
        "holdmix-sales-1795734025.1%26application%3D%2Fbin%2Fsh",
        "holdmix-$(id)-1795734025.1",
        "holdmix-sales-`id`",
    ];
    for class in hostile {
        assert_eq!(argv_for(h.port, class), None, "{class}");
    }
    // Still answering, on one keep-alive connection as Asterisk asks.
    let again = crate::realtime::ask(h.port, &vec![crate::realtime::CAPTURED.to_vec(); 3]);
    assert!(
        again.iter().all(|(c, b)| *c == 200 && b.contains("mode=custom")),
        "{again:?}"
    );
}

/// A loopback AMI server that logs the hub in and sends it the capture's
/// events up to Bob's first `MusicOnHoldStart` (the point at which
/// Asterisk has already asked for his class), then holds the line open.
fn ami_until_bobs_hold_start() -> (u16, std::sync::mpsc::Receiver<()>) {
    let bytes = std::fs::read(root().join("tests/ami/session-queue-announce.raw")).expect("capture");
    let text = String::from_utf8(bytes).expect("utf-8");
    let events: Vec<String> = text
        .split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .take_while(|m| !(m.starts_with("Event: MusicOnHoldStart") && m.contains("Uniqueid: 1795734134.39")))
        .map(|m| format!("{m}\r\n\r\n"))
        .collect();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (sent, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else { return };
        s.write_all(b"Asterisk Call Manager/11.0.0\r\n").ok();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let login = String::from_utf8_lossy(&got).into_owned();
        let id = login
            .lines()
            .find_map(|l| l.strip_prefix("ActionID: "))
            .unwrap_or("")
            .to_string();
        s.write_all(
            format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n")
                .as_bytes(),
        )
        .ok();
        for e in &events {
            s.write_all(e.as_bytes()).ok();
        }
        sent.send(()).ok();
        // The hub's own actions (CoreShowChannels, QueueStatus) go unanswered.
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    (port, told)
}

#[test]
fn conditions_route_each_call_by_what_ami_said_before_its_lookup() {
    // Alice (1795734133.37, exten 400) and Bob (1795734134.39, exten 401)
    // both wait in `announceq`; routes are tried top to bottom.
    let dir = tempdir();
    let d = dir.path();
    playlists(d, &["main", "alice", "queued", "russian"]);
    let routes = write_routes(
        d,
        r#"
[[route]]
name = "main"
playlist = "main.toml"
default = true

[[route]]
name = "russian"
playlist = "russian.toml"
when = { language = "ru" }

[[route]]
name = "by_exten"
playlist = "alice.toml"
when = { context = "test", exten = ["400", "4000"] }

[[route]]
name = "by_queue"
playlist = "queued.toml"
when = { queue = "announceq", accountcode = "" }
"#,
    );
    let (ami, told) = ami_until_bobs_hold_start();
    let h = hub(d, &routes, &format!("127.0.0.1:{ami}"));
    told.recv_timeout(Duration::from_secs(20))
        .expect("the hub logged in and got the events");
    let want = |uid: &str, playlist: &str| Some(expected(d, &d.join(playlist), None, uid));
    // The events are on the hub's socket: it reads them within moments.
    let t = Instant::now();
    while argv_for(h.port, "holdmix-1795734134.39") != want("1795734134.39", "queued.toml") {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "Bob never got his queue's route: {:?}",
            argv_for(h.port, "holdmix-1795734134.39")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        argv_for(h.port, "holdmix-1795734133.37"),
        want("1795734133.37", "alice.toml")
    );
    // Bob's ;1 half: no queue, exten 401: the default.
    assert_eq!(
        argv_for(h.port, "holdmix-1795734134.38"),
        want("1795734134.38", "main.toml")
    );
    // A call AMI never named: the default.
    assert_eq!(
        argv_for(h.port, "holdmix-1795734999.9"),
        want("1795734999.9", "main.toml")
    );
    // A name in the class beats the conditions.
    assert_eq!(
        argv_for(h.port, "holdmix-russian-1795734134.39"),
        want("1795734134.39", "russian.toml")
    );
}
