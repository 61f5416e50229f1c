//! The hub's Prometheus metrics (`hub --metrics`), scraped over loopback
//! HTTP as Prometheus scrapes them: a real hub on the loopback AMI server
//! (session-queue-dtmf.raw, byte-exact), real generators subscribed to it
//! reporting their starts, keys and exits through the hub socket, realtime
//! lookups counted with a latency sample; a hostile scrape or a hostile
//! generator report harms nothing and makes no series.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

const ALICE_UID: &str = "1795452414.1";

/// A hub, killed with the test.
struct Hub {
    child: Child,
    socket: PathBuf,
    metrics: u16,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A hub on the AMI at `ami`, serving metrics on a free port; returns once
/// both its socket and its metrics answer (bounded).
fn hub(dir: &Path, ami: &str, extra: &[&str]) -> Hub {
    let socket = dir.join("hub.sock");
    let metrics = free_port();
    // The cache through the environment, not `--cache-dir`: a realtime
    // row must fit Asterisk's 255 bytes.
    let child = std::process::Command::new(BIN)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .arg("--log")
        .arg(dir.join("hub.log"))
        .args(["hub", "--ami", ami, "--socket"])
        .arg(&socket)
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(extra)
        .env("HOLDMIX_AMI_SECRET", "pw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hub");
    let t = Instant::now();
    while UnixStream::connect(&socket).is_err() || TcpStream::connect(("127.0.0.1", metrics)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the hub never listened: {}",
            std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Hub {
        child,
        socket,
        metrics,
    }
}

/// Sends `request` as is; returns what came back until the hub closed
/// (bounded: a hub that never closes fails here).
fn http(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("the hub answers and closes");
    String::from_utf8(out).expect("utf-8")
}

/// The body of a scrape of `/metrics`, checked to be a whole 200 answer.
fn scrape(port: u16) -> String {
    let answer = http(port, b"GET /metrics HTTP/1.1\r\nHost: prometheus\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.to_string()
}

/// A series' value in a scrape (0 when it has none yet: a family's label
/// set appears at its first count).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Scrapes until `series` is `want` (bounded); returns that scrape.
fn wait_value(port: u16, series: &str, want: f64) -> String {
    let t = Instant::now();
    loop {
        let text = scrape(port);
        if value(&text, series) == want {
            return text;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{series} never reached {want}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The call's token under the hub's key (made beside its socket).
fn token(dir: &Path, uid: &str) -> String {
    holdmix::hub::token::Key::load_or_create(&dir.join("hub.key"))
        .expect("the hub's key")
        .token(uid)
}

/// A generator for the call `uid`, through the hub, as its realtime row
/// starts it; its stdout read as Asterisk reads it, with the count of
/// bytes read so far.
fn generator(
    dir: &Path,
    hub: &Hub,
    uid: &str,
    pl: &Path,
) -> (Child, Arc<AtomicUsize>, std::thread::JoinHandle<Vec<u8>>) {
    let mut child = holdmix(dir)
        .arg("--log")
        .arg(dir.join(format!("run-{uid}.log")))
        .args(["run", "--playlist"])
        .arg(pl)
        .arg("--hub")
        .arg(&hub.socket)
        .args(["--uniqueid", uid, "--hub-token", &token(dir, uid)])
        .env_remove("CHANNEL")
        .env_remove("UNIQUEID")
        .env_remove("PHONE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let (count, reader) = counted_drain(&mut child);
    (child, count, reader)
}

/// A tone, a welcome, keys 1 and 2 bound (Alice presses 1, 2 and # in
/// the capture), her balance in an accounts file.
fn keyed_playlist(dir: &Path) -> PathBuf {
    let music = dir.join("bed.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 30.0, 8000));
    std::fs::write(
        dir.join("accounts.toml"),
        "\"79001112233\" = [{ id = \"7\", balance = \"12.50\" }]\n",
    )
    .expect("accounts");
    let pl = playlist(
        dir,
        "keyed.toml",
        &format!(
            r#"[music]
tracks = [{music:?}]

[prompts]
from = {prompts:?}

[welcome]
say = ["please-hold"]

[announce.balance]
say = ["your-balance-is"]
failed = ["service-unavailable"]
none = ["not-registered"]

[keys]
1 = {{ action = "next-music", debounce = "0s" }}
2 = {{ action = "say-balance" }}

[billing]
accounts_file = "accounts.toml"
"#,
            music = music.to_str().expect("path"),
            prompts = root().join("sample-audio/prompts/en").to_str().expect("path"),
        ),
    );
    warm_cache(dir, &pl);
    pl
}

/// The capture's events, each as it goes on the wire.
fn capture_events() -> Vec<Vec<u8>> {
    let bytes = std::fs::read(root().join("tests/ami/session-queue-dtmf.raw")).expect("capture");
    String::from_utf8_lossy(&bytes)
        .split("\r\n\r\n")
        .filter(|m| m.starts_with("Event: "))
        .map(|m| format!("{m}\r\n\r\n").into_bytes())
        .collect()
}

#[test]
fn a_held_call_its_keys_exit_and_lookups_move_the_series() {
    // A short directory: the realtime row names the playlist.
    let tmp = tempfile::Builder::new()
        .prefix("m")
        .rand_bytes(3)
        .tempdir_in("/tmp")
        .expect("tempdir");
    let dir = tmp.path();
    let pl = keyed_playlist(dir);
    // The capture, paused once Alice is on hold (her MusicOnHoldStart)
    // until her generator has subscribed, so that it gets her keys, and
    // has played her welcome: a gate the test opens, not a pause a loaded
    // machine's start can outrun.
    let events = capture_events();
    let held = events
        .iter()
        .position(|e| {
            let t = String::from_utf8_lossy(e);
            t.starts_with("Event: MusicOnHoldStart") && t.contains(&format!("Uniqueid: {ALICE_UID}\r\n"))
        })
        .expect("Alice's hold");
    // And again after her last key, until her keys are counted and her
    // balance lookup is done, before her MusicOnHoldStop ends her
    // generator.
    let keyed = events
        .iter()
        .rposition(|e| {
            let t = String::from_utf8_lossy(e);
            t.starts_with("Event: DTMFEnd") && t.contains(&format!("Uniqueid: {ALICE_UID}\r\n"))
        })
        .expect("Alice's keys");
    assert!(keyed > held);
    let (subscribed, looked_up) = (dir.join("subscribed"), dir.join("looked-up"));
    let gate = |path: &Path| format!("!gate:{}", path.display()).into_bytes();
    let mut chunks = events[..=held].to_vec();
    chunks.push(gate(&subscribed));
    chunks.extend(events[held + 1..=keyed].iter().cloned());
    chunks.push(gate(&looked_up));
    chunks.extend(events[keyed + 1..].iter().cloned());
    let (ami, server) = crate::ami::server::serve_script("pw", vec![chunks]);
    let rt = free_port();
    let hub = hub(
        dir,
        &format!("127.0.0.1:{ami}"),
        &[
            "--realtime",
            &format!("127.0.0.1:{rt}"),
            "--playlist",
            pl.to_str().expect("path"),
        ],
    );
    let before = scrape(hub.metrics);
    assert_eq!(value(&before, "holdmix_generator_starts_total"), 0.0, "{before}");

    // Past the hub's one-second wait for a channel list this server does
    // not give: Alice's generator is greeted at once, so the hub vouches
    // for her number and her balance is looked up. The wait is the hub's
    // own timer, from before its login.
    assert!(
        wait_for_text(&dir.join("hub.log"), "hub logged in", Duration::from_secs(20)),
        "the hub never logged in"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (mut alice, alice_read, alice_audio) = generator(dir, &hub, ALICE_UID, &pl);
    // While Alice is held: one call on hold, her generator connected.
    let text = wait_value(hub.metrics, "holdmix_generators_connected", 1.0);
    assert_eq!(value(&text, "holdmix_calls_on_hold"), 1.0, "{text}");
    assert_eq!(value(&text, "holdmix_ami_connected"), 1.0, "{text}");
    let text = wait_value(hub.metrics, "holdmix_generator_starts_total", 1.0);
    assert_eq!(value(&text, "holdmix_ami_reconnects_total"), 0.0, "{text}");

    // Her welcome (3.1 s) started and over in her stream: her keys came
    // 4.5 s into it when the capture's pause was six seconds of the wall
    // clock's.
    wait_value(hub.metrics, "holdmix_prompts_total{queue=\"welcome\"}", 1.0);
    stream_reaches(&mut alice, &alice_read, 72_000, || "Alice's call".into());
    // Her keys (1 bound, 2 and # not), each counted, and her balance
    // looked up; then her MusicOnHoldStop, which ends her generator.
    std::fs::write(&subscribed, "").expect("open the gate");
    for series in [
        "holdmix_keys_total{action=\"next-music\"}",
        "holdmix_keys_total{action=\"say-balance\"}",
        "holdmix_keys_total{action=\"none\"}",
        "holdmix_billing_lookup_seconds_count{outcome=\"accounts\"}",
    ] {
        wait_value(hub.metrics, series, 1.0);
    }
    std::fs::write(&looked_up, "").expect("open the gate");
    let (status, _) = wait_exit(&mut alice, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert!(
        !alice_audio.join().expect("reader").is_empty(),
        "Alice heard the call"
    );
    let text = wait_value(
        hub.metrics,
        "holdmix_generator_exits_total{reason=\"music-stopped\"}",
        1.0,
    );
    assert_eq!(
        value(&text, "holdmix_keys_total{action=\"next-music\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "holdmix_keys_total{action=\"say-balance\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(value(&text, "holdmix_keys_total{action=\"none\"}"), 1.0, "{text}");
    assert_eq!(
        value(&text, "holdmix_prompts_total{queue=\"welcome\"}"),
        1.0,
        "{text}"
    );
    // Her balance, looked up in the accounts file, with its time.
    assert_eq!(
        value(
            &text,
            "holdmix_billing_lookup_seconds_count{outcome=\"accounts\"}"
        ),
        1.0,
        "{text}"
    );
    // No digit and no number anywhere in a label.
    assert!(!text.contains("79001112233") && !text.contains("digit"), "{text}");
    wait_value(hub.metrics, "holdmix_generators_connected", 0.0);
    // Both callers hung up in the capture: nobody is on hold.
    wait_value(hub.metrics, "holdmix_calls_on_hold", 0.0);

    // A generator stopped as Asterisk stops one.
    let (quiet, _, quiet_audio) = generator(dir, &hub, "1795459999.7", &pl);
    wait_value(hub.metrics, "holdmix_generators_connected", 1.0);
    wait_value(hub.metrics, "holdmix_generator_starts_total", 2.0);
    signal(&quiet, libc::SIGHUP);
    let mut quiet = quiet;
    assert!(wait_exit(&mut quiet, Duration::from_secs(20)).0.success());
    quiet_audio.join().expect("reader");
    wait_value(
        hub.metrics,
        "holdmix_generator_exits_total{reason=\"sighup\"}",
        1.0,
    );

    // Realtime lookups: a class's row and an empty answer, each timed.
    let answers = crate::realtime::ask(
        rt,
        &[
            crate::realtime::lookup(format!("name=holdmix-{ALICE_UID}").as_bytes()),
            crate::realtime::lookup(b"name=default"),
        ],
    );
    assert_eq!(answers.len(), 2);
    assert!(!answers[0].1.is_empty() && answers[1].1.is_empty(), "{answers:?}");
    let text = wait_value(
        hub.metrics,
        "holdmix_realtime_lookup_seconds_count{answer=\"row\"}",
        1.0,
    );
    assert_eq!(
        value(&text, "holdmix_realtime_lookup_seconds_count{answer=\"empty\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "holdmix_realtime_lookup_seconds_bucket{le=\"+Inf\",answer=\"row\"}"
        ),
        1.0,
        "{text}"
    );
    let sum = value(&text, "holdmix_realtime_lookup_seconds_sum{answer=\"row\"}");
    assert!(sum > 0.0 && sum < 5.0, "a lookup's time: {sum}");
    drop(hub);
    server.join().ok();
}

#[test]
fn hostile_scrapes_are_answered_or_closed_and_the_hub_goes_on() {
    let tmp = tempdir();
    let dir = tmp.path();
    // No AMI: the hub retries it, the metrics say so.
    let hub = hub(dir, "127.0.0.1:1", &[]);
    let text = scrape(hub.metrics);
    assert_eq!(value(&text, "holdmix_ami_connected"), 0.0, "{text}");

    // A client that sends half a request and waits: it holds only its own
    // connection (a scrape meanwhile is answered), and is closed after
    // the deadline.
    let mut slow = TcpStream::connect(("127.0.0.1", hub.metrics)).expect("connect");
    slow.write_all(b"GET /metr").expect("write");
    scrape(hub.metrics);

    // Unknown paths and methods.
    let answer = http(hub.metrics, b"GET /nope HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    let answer = http(
        hub.metrics,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    let answer = http(
        hub.metrics,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    // A request with no end: 100 KiB and no blank line. The hub answers
    // 431 and closes once it has 8 KiB (a reset may beat the answer: then
    // the read fails, but it does not hang).
    let mut big = TcpStream::connect(("127.0.0.1", hub.metrics)).expect("connect");
    big.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut junk = b"GET /metrics HTTP/1.1\r\nX-Junk: ".to_vec();
    junk.extend(vec![b'a'; 100 * 1024]);
    big.write_all(&junk).ok();
    let mut got = Vec::new();
    match big.read_to_end(&mut got) {
        Ok(_) => assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 431 "),
            "{}",
            String::from_utf8_lossy(&got)
        ),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the hub kept an oversized request open: {e}"
        ),
    }

    // The slow client is closed by the hub (five seconds), not kept.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let t = Instant::now();
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        !matches!(&closed, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the hub never closed a client that sent half a request"
    );
    assert!(t.elapsed() < Duration::from_secs(15));

    // The hub goes on: scrapes, and generators are still served.
    scrape(hub.metrics);
    let mut g = UnixStream::connect(&hub.socket).expect("the hub's socket");
    g.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    writeln!(g, "SUBSCRIBE uniqueid=1.1 token={}", token(dir, "1.1")).expect("subscribe");
    let mut buf = [0u8; 512];
    let n = g.read(&mut buf).expect("greeting");
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("Event: HoldmixCall"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn hostile_report_lines_are_ignored_and_make_no_series() {
    let tmp = tempdir();
    let dir = tmp.path();
    let hub = hub(dir, "127.0.0.1:1", &[]);

    // Without a subscription, reports are refused like anything else.
    let mut stranger = UnixStream::connect(&hub.socket).expect("connect");
    stranger
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stranger.write_all(b"COUNT start\n").expect("write");
    let mut refusal = Vec::new();
    stranger.read_to_end(&mut refusal).ok();
    assert!(
        String::from_utf8_lossy(&refusal).contains("Response: Error"),
        "{:?}",
        String::from_utf8_lossy(&refusal)
    );

    // A subscribed client sending what no generator sends.
    let uid = "1795452414.9";
    let mut g = UnixStream::connect(&hub.socket).expect("connect");
    g.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    writeln!(g, "SUBSCRIBE uniqueid={uid} token={}", token(dir, uid)).expect("subscribe");
    let mut buf = [0u8; 512];
    let n = g.read(&mut buf).expect("greeting");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("HoldmixCall"));
    let hostile: Vec<Vec<u8>> = vec![
        b"COUNT made_up_metric\n".to_vec(),
        b"COUNT key action=79001112233\n".to_vec(),
        b"COUNT exit reason=because-i-said-so\n".to_vec(),
        format!("COUNT prompt queue=advice/{}\n", "x".repeat(10_000)).into_bytes(),
        b"OBSERVE billing outcome=accounts 1e300\n".to_vec(),
        // A megabyte with no newline, then one.
        [vec![b'C'; 1 << 20], b"\n".to_vec()].concat(),
    ];
    for line in &hostile {
        g.write_all(line).expect("write");
    }
    // Then one good line: once it is counted, the ones before it were read.
    g.write_all(b"COUNT key action=say\n").expect("write");
    let text = wait_value(hub.metrics, "holdmix_keys_total{action=\"say\"}", 1.0);
    assert_eq!(value(&text, "holdmix_reports_ignored_total"), 5.0, "{text}");
    for bad in ["made_up", "79001112233", "because", "xxxxxxxx", "CCCC"] {
        assert!(!text.contains(bad), "{bad} made a series:\n{text}");
    }
    let keys = text
        .lines()
        .filter(|l| l.starts_with("holdmix_keys_total{"))
        .count();
    assert_eq!(keys, 1, "{text}");
    assert_eq!(value(&text, "holdmix_generator_starts_total"), 0.0, "{text}");
    assert_eq!(value(&text, "holdmix_generators_connected"), 1.0, "{text}");
    drop(g);
    wait_value(hub.metrics, "holdmix_generators_connected", 0.0);
}

/// Each family the hub registers, as the name its samples carry (a
/// counter's with `_total`), from the library's own registry (a label set
/// of each family counted once: a family shows from its first series).
fn registered() -> Vec<String> {
    use holdmix::metrics::report::Report;
    let m = holdmix::metrics::Metrics::new();
    for r in [
        Report::Exit("hangup"),
        Report::Key("say"),
        Report::prompt("welcome"),
        Report::StoreError("load"),
        Report::Billing {
            outcome: "none",
            seconds: 0.1,
        },
    ] {
        m.report(&r);
    }
    m.realtime_lookup(true, Duration::from_micros(50));
    m.encode()
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("# TYPE ")?.split(' ');
            let (name, kind) = (w.next()?, w.next()?);
            Some(match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_string(),
            })
        })
        .collect()
}

#[test]
fn the_docs_and_the_dashboard_name_every_metric_and_no_other() {
    let names = registered();
    assert_eq!(names.len(), 14, "{names:?}");
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    for n in &names {
        assert!(
            doc.contains(&format!("| `{n}` |")),
            "docs/metrics.md has no row for {n}"
        );
    }
    let text = std::fs::read_to_string(root().join("packaging/grafana/holdmix.json")).expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").clone())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        for (i, _) in e.match_indices("holdmix_") {
            let word: String = e[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s).filter(|f| f.ends_with("_seconds")))
                .map_or(word.clone(), str::to_string);
            assert!(
                names.contains(&family),
                "the dashboard uses {word}, which the hub does not serve"
            );
            used.insert(family);
        }
    }
    for n in &names {
        assert!(used.contains(n), "no panel shows {n}");
    }
}
