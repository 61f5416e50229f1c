//! Billing lookups against a real HTTP server on loopback: what the caller
//! hears for one account, several, none and every kind of failure; the
//! request's escaping and credentials; a slow server under a live `run`.
//! The server itself is in `billing/server.rs`.

use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod php;
pub(crate) mod server;
use server::{Reply, Server};

/// A playlist whose key 2 asks `billing` (TOML lines of the `[billing]` table).
fn playlist(dir: &Path, billing: &str) -> PathBuf {
    let music = dir.join("music.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 30.0, 8000));
    let text = format!(
        r#"{head}
[announce.balance]
say = ["account", {{ say = "digits", value = "account" }}, "your-balance-is", {{ say = "money", value = "balance" }}]
locked = ["account", {{ say = "digits", value = "account" }}, "account-locked", {{ say = "money", value = "balance" }}]
several = ["several-accounts"]
none = ["not-registered"]
failed = ["service-unavailable"]
wait = ["one-moment"]
{keys}"#,
        head = speech_head(&music),
        keys = balance_on_key_2(billing),
    );
    crate::common::playlist(dir, "billing.toml", &text)
}

/// What a render with key 2 at 1 s produced: the balance answer, the
/// prompts said for it, and the log.
struct Heard {
    answer: serde_json::Value,
    prompts: Vec<String>,
    log: String,
}

fn render_balance(dir: &Path, billing: &str, caller: &str, envs: &[(&str, &str)]) -> Heard {
    let p = playlist(dir, billing);
    let tl = dir.join("tl.jsonl");
    let out = ok(holdmix(dir)
        .arg("-vv")
        .args(["render", p.to_str().expect("path"), "--duration", "20s", "-o"])
        .arg(dir.join("out.wav"))
        .args(["--event", "1s:dtmf:2", "--caller", caller, "--timeline"])
        .arg(&tl)
        .envs(envs.iter().copied()));
    let tl = timeline(&tl);
    let answer = events(&tl, "balance")
        .first()
        .map(|v| (*v).clone())
        .expect("a balance answer");
    let prompts = events(&tl, "prompt_start")
        .iter()
        .filter(|e| e["queue"] == "balance")
        .map(|e| e["file"].as_str().unwrap_or("").to_string())
        .collect();
    Heard {
        answer,
        prompts,
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_failed(h: &Heard) {
    assert_eq!(h.answer["answer"], "failed", "{}", h.log);
    assert_eq!(h.prompts, ["service-unavailable.wav"]);
}

#[test]
fn one_several_none_and_locked_accounts_are_said() {
    let dir = tempdir();
    let one = Server::start(Reply::Json(
        200,
        r#"{"accounts":[{"id":"200045","balance":1234.56,"currency":"RUB"}]}"#.into(),
    ));
    let h = render_balance(
        dir.path(),
        &format!("url = \"{}\"", one.url("/balance")),
        "89161234567",
        &[],
    );
    assert_eq!(
        (h.answer["answer"].as_str(), h.answer["accounts"].as_u64()),
        (Some("accounts"), Some(1))
    );
    // "Account 200 045, your balance is 1234 dollars 56 cents" (en map).
    let said = h.prompts.join(" ");
    assert!(said.starts_with("account.wav 2.ogg hundred.ogg"), "{said}");
    assert!(
        said.contains("your-balance-is.wav 1.ogg thousand.ogg 2.ogg hundred.ogg 30.ogg 4.ogg unit-many.ogg"),
        "{said}"
    );
    assert!(said.ends_with("50.ogg 6.ogg subunit-many.ogg"), "{said}");
    assert_eq!(one.seen().len(), 1);

    let several = Server::start(Reply::Json(
        200,
        r#"{"data":{"list":[{"no":"1","sum":"-5"},{"no":"2","sum":"7.5","blocked":true}]}}"#.into(),
    ));
    let cfg = format!(
        "url = \"{}\"\n[billing.fields]\naccounts = \"data.list\"\nid = \"no\"\nbalance = \"sum\"\nlocked = \"blocked\"",
        several.url("/b")
    );
    let h = render_balance(dir.path(), &cfg, "1", &[]);
    assert_eq!(
        (h.answer["accounts"].as_u64(), h.answer["locked"].as_u64()),
        (Some(2), Some(1))
    );
    let said = h.prompts.join(" ");
    assert!(
        said.starts_with("several-accounts.wav account.wav 1.ogg your-balance-is.wav minus.ogg 5.ogg"),
        "{said}"
    );
    assert!(
        said.contains("account.wav 2.ogg account-locked.wav 7.ogg"),
        "{said}"
    );

    let none = Server::start(Reply::Json(200, r#"{"accounts":[]}"#.into()));
    let h = render_balance(dir.path(), &format!("url = \"{}\"", none.url("/b")), "1", &[]);
    assert_eq!(h.answer["answer"], "none");
    assert_eq!(h.prompts, ["not-registered.wav"]);
}

#[test]
fn server_errors_bad_answers_and_timeouts_fail_softly() {
    let dir = tempdir();
    // 500: retried once, then "service unavailable".
    let s = Server::start(Reply::Json(500, "{}".into()));
    assert_failed(&render_balance(
        dir.path(),
        &format!("url = \"{}\"", s.url("/b")),
        "1",
        &[],
    ));
    assert_eq!(s.seen().len(), 2, "one retry after a 5xx");
    // 404: not retried.
    let s = Server::start(Reply::Json(404, "{}".into()));
    assert_failed(&render_balance(
        dir.path(),
        &format!("url = \"{}\"", s.url("/b")),
        "1",
        &[],
    ));
    assert_eq!(s.seen().len(), 1);
    for body in [
        "{\"accounts\":[{\"balance\":",
        "<html>oops</html>",
        r#"{"accounts":[{"balance":{"v":1}}]}"#,
    ] {
        let s = Server::start(Reply::Json(200, body.into()));
        assert_failed(&render_balance(
            dir.path(),
            &format!("url = \"{}\"", s.url("/b")),
            "1",
            &[],
        ));
    }
    // 5 MiB, announced and chunked: refused past 1 MiB.
    for announced in [true, false] {
        let s = Server::start(Reply::Big(5 << 20, announced));
        let h = render_balance(dir.path(), &format!("url = \"{}\"", s.url("/b")), "1", &[]);
        assert_failed(&h);
        assert!(h.log.contains("over 1024 KiB"), "{}", h.log);
    }
    // A server that never answers: two attempts of 300 ms each, then failure.
    let s = Server::start(Reply::Hang);
    let started = Instant::now();
    let h = render_balance(
        dir.path(),
        &format!("url = \"{}\"\ntimeout = \"300ms\"", s.url("/b")),
        "1",
        &[],
    );
    assert_failed(&h);
    assert!(h.log.contains("did not answer in time"), "{}", h.log);
    assert_eq!(s.seen().len(), 2);
    let ms: u64 = h
        .log
        .split("ms=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("lookup time in the log");
    assert!(
        (600..3000).contains(&ms),
        "lookup took {ms} ms for two 300 ms attempts"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_number_is_escaped_and_rewritten() {
    let dir = tempdir();
    let s = Server::start(Reply::Json(200, r#"{"accounts":[]}"#.into()));
    // Query parameter (GET): form-encoded, nothing injected.
    let cfg = format!(
        "url = \"{}\"\nparam = \"phone\"\n[billing.number]\nstrip = \"\"",
        s.url("/b?src=pbx")
    );
    render_balance(dir.path(), &cfg, "+7 916&x=1%", &[]);
    // In the path: every reserved character percent-encoded.
    let cfg = format!(
        "url = \"{}\"\n[billing.number]\nstrip = \"\"",
        s.url("/acct/{number}/balance")
    );
    render_balance(dir.path(), &cfg, "+7 916/&x=1%", &[]);
    // POST form, with the old hack's rewriting: +7 (916) 123-45-67 → 89161234567.
    let cfg = format!(
        "url = \"{}\"\nmethod = \"post\"\n[billing.number]\nprefixes = {{ \"+7\" = \"8\", \"7\" = \"8\" }}",
        s.url("/post")
    );
    render_balance(dir.path(), &cfg, "+7 (916) 123-45-67", &[]);
    let seen = s.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/b?src=pbx&phone=%2B7+916%26x%3D1%25");
    assert_eq!(seen[1].target, "/acct/%2B7%20916%2F%26x%3D1%25/balance");
    assert_eq!(
        (seen[2].method.as_str(), seen[2].body.as_str()),
        ("POST", "number=89161234567")
    );
    let ct = seen[2]
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(ct, Some("application/x-www-form-urlencoded"));
}

#[test]
fn credentials_are_sent_and_never_logged() {
    let dir = tempdir();
    let secret = "s3cret-Pa55-word";
    std::fs::write(dir.path().join("billing.secret"), format!("{secret}\n")).expect("secret file");
    // base64("holdmix:s3cret-Pa55-word")
    let basic = "Basic aG9sZG1peDpzM2NyZXQtUGE1NS13b3Jk";
    let body = r#"{"accounts":[{"id":"1","balance":"10"}]}"#;
    let s = Server::start(Reply::Auth(basic.into(), body.into()));
    let secret_file = dir.path().join("billing.secret");
    let cfg = format!(
        "url = \"{}\"\nauth = \"basic\"\nuser = \"holdmix\"\nsecret_file = \"{}\"",
        s.url("/b"),
        secret_file.display()
    );
    let h = render_balance(dir.path(), &cfg, "1", &[]);
    assert_eq!(h.answer["answer"], "accounts", "{}", h.log);
    // Bearer from the environment; a wrong token gets 401 → failed.
    let s = Server::start(Reply::Auth(format!("Bearer {secret}"), body.into()));
    let cfg = format!(
        "url = \"{}\"\nauth = \"bearer\"\nsecret_env = \"HM_TEST_TOKEN\"",
        s.url("/b")
    );
    let good = render_balance(dir.path(), &cfg, "1", &[("HM_TEST_TOKEN", secret)]);
    assert_eq!(good.answer["answer"], "accounts", "{}", good.log);
    let bad = render_balance(dir.path(), &cfg, "1", &[("HM_TEST_TOKEN", "wrong-token")]);
    assert_failed(&bad);
    assert!(bad.log.contains("401"), "{}", bad.log);
    for log in [&h.log, &good.log, &bad.log] {
        assert!(
            !log.contains(secret) && !log.contains("aG9sZG1peDpz") && !log.contains("wrong-token"),
            "{log}"
        );
    }
    // `check` names the missing secret without printing any secret.
    let cfg = format!(
        "url = \"{}\"\nauth = \"basic\"\nuser = \"u\"\nsecret_file = \"no-such.secret\"",
        s.url("/b")
    );
    let p = playlist(dir.path(), &cfg);
    let out = holdmix(dir.path())
        .arg("check")
        .arg("--quick")
        .arg(&p)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("billing.secret_file") && text.contains("no-such.secret"),
        "{text}"
    );
}

#[test]
fn a_slow_lookup_never_stops_the_music_and_says_one_moment() {
    let dir = tempdir();
    let s = Server::start(Reply::Slow(
        Duration::from_millis(1500),
        r#"{"accounts":[{"id":"7","balance":"3"}]}"#.into(),
    ));
    let p = playlist(dir.path(), &format!("url = \"{}\"", s.url("/b")));
    warm_cache(dir.path(), &p);
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_keyed_from(dir.path(), &p, &tl, "5");
    let (bytes, reader) = counted_drain(&mut child);
    let mut keys = child.stdin.take().expect("stdin");
    // The presses and the end at the stream's own times (0.5 s, 6.5 s,
    // 7.5 s), which a loaded machine's wall clock runs ahead of.
    let limit = Duration::from_secs(60);
    wait_for_stream(&mut child, &bytes, 8_000, limit);
    writeln!(keys, "dtmf 2").expect("key");
    // Past the answer and the words it brings, press again: the answer is
    // kept for the call, so no second request and no "one moment".
    wait_for_stream(&mut child, &bytes, 104_000, limit);
    writeln!(keys, "dtmf 2").expect("key");
    wait_for_stream(&mut child, &bytes, 120_000, limit);
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success());
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl);
    let t = |kind: &str, file: &str| -> Vec<f64> {
        events(&tl, kind)
            .iter()
            .filter(|e| file.is_empty() || e["file"] == file)
            .map(|e| e["t"].as_f64().expect("t"))
            .collect()
    };
    let (asked, answered) = (t("request", ""), t("balance", ""));
    let moment = t("prompt_start", "one-moment.wav");
    assert_eq!((asked.len(), answered.len(), moment.len()), (2, 2, 1), "{tl:?}");
    assert!(
        moment[0] - asked[0] >= 0.48 && moment[0] < answered[0],
        "{asked:?} {moment:?} {answered:?}"
    );
    assert!(
        answered[0] - asked[0] >= 1.4,
        "the answer came before the server sent it"
    );
    assert!(
        answered[1] - asked[1] < 0.2,
        "the second press is answered from the call's cache"
    );
    assert_eq!(s.seen().len(), 1);
    // The music never stopped: every 100 ms of what was read has sound.
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    // 7.5 s were read; a loaded machine's late start takes some of them.
    assert!(pcm.len() > 8000 * 6, "{} samples", pcm.len());
    let quietest = pcm[800..].chunks(800).map(rms).fold(f32::MAX, f32::min);
    assert!(quietest > 0.003, "a silent 100 ms in the stream (rms {quietest})");
    let log = log_text(dir.path());
    assert!(
        !log.contains("stalled") && !log.contains("dropping audio"),
        "{log}"
    );
}

#[test]
fn a_number_from_the_environment_gets_nothing_personal() {
    // PHONE is what the old hack's dialplan set through ENV(), which is one
    // environment for all of Asterisk: it may be another caller's number.
    // Unconfirmed, key 2 hears "service unavailable" and billing is not asked.
    let dir = tempdir();
    let s = Server::start(Reply::Json(
        200,
        r#"{"accounts":[{"id":"1","balance":"99"}]}"#.into(),
    ));
    let p = playlist(dir.path(), &format!("url = \"{}\"", s.url("/b")));
    let tl = dir.path().join("tl.jsonl");
    let mut child = holdmix(dir.path())
        .arg("--log")
        .arg(dir.path().join("run.log"))
        .args([
            "run",
            "--playlist",
            p.to_str().expect("path"),
            "--events",
            "-",
            "--timeline",
        ])
        .arg(&tl)
        .env("PHONE", "79001112233")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let reader = drain(&mut child);
    let mut keys = child.stdin.take().expect("stdin");
    writeln!(keys, "dtmf 2").expect("key");
    let answered = wait_for_event(&tl, "balance", Duration::from_secs(30));
    signal(&child, libc::SIGHUP);
    assert!(wait_exit(&mut child, Duration::from_secs(20)).0.success());
    reader.join().expect("reader");
    assert!(answered, "key 2 got no answer: {}", log_text(dir.path()));
    let tl = timeline(&tl);
    assert_eq!(events(&tl, "balance")[0]["answer"], "failed", "{tl:?}");
    assert!(
        s.seen().is_empty(),
        "billing was asked about an unconfirmed number"
    );
}
