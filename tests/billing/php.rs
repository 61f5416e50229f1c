//! The old hack's billing (issue 19): PHP-serialized answers (`IDUser`,
//! `Balance`, `Status` -2 for locked) over basic auth from a real HTTP
//! server on loopback, said with the "next account" template for the
//! second and later accounts; bad PHP data fails softly; `check` names a
//! bad `format` or `locked_value` by line and column.

use super::server::{Reply, Server};
use crate::common::*;
use std::path::{Path, PathBuf};

/// The billing test playlist plus a `next` template with a prompt of its own.
fn hack_playlist(dir: &Path, billing: &str) -> PathBuf {
    let music = dir.join("music.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 30.0, 8000));
    let next = dir.join("next-account.wav");
    write_wav(&next, 8000, 1, &sine(600.0, 0.3, 0.8, 8000));
    let text = format!(
        r#"{head}next-account = "{next}"

[announce.balance]
say = ["account", {{ say = "digits", value = "account" }}, "your-balance-is", {{ say = "money", value = "balance" }}]
next = ["next-account", {{ say = "digits", value = "account" }}, "your-balance-is", {{ say = "money", value = "balance" }}]
locked = ["account", {{ say = "digits", value = "account" }}, "account-locked", {{ say = "money", value = "balance" }}]
several = ["several-accounts"]
none = ["not-registered"]
failed = ["service-unavailable"]
{keys}"#,
        head = speech_head(&music),
        keys = balance_on_key_2(billing),
        next = next.display(),
    );
    playlist(dir, "hack.toml", &text)
}

/// The balance answer and the prompts said for it, from a render with key 2 at 1 s.
fn render(dir: &Path, billing: &str) -> (serde_json::Value, String, String) {
    let p = hack_playlist(dir, billing);
    let tl = dir.join("tl.jsonl");
    let out = ok(holdmix(dir)
        .arg("-vv")
        .args(["render", p.to_str().expect("path"), "--duration", "30s", "-o"])
        .arg(dir.join("out.wav"))
        .args(["--event", "1s:dtmf:2", "--caller", "79161234567", "--timeline"])
        .arg(&tl));
    let tl = timeline(&tl);
    let answer = events(&tl, "balance")
        .first()
        .map(|v| (*v).clone())
        .expect("an answer");
    let said: Vec<&str> = events(&tl, "prompt_start")
        .iter()
        .filter(|e| e["queue"] == "balance")
        .map(|e| e["file"].as_str().unwrap_or(""))
        .collect();
    (
        answer,
        said.join(" "),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn php_billing(s: &Server, secret: &Path) -> String {
    format!(
        "url = \"{}\"\nformat = \"php\"\nauth = \"basic\"\nuser = \"holdmix\"\nsecret_file = \"{}\"",
        s.url("/balance.php"),
        secret.display()
    )
}

#[test]
fn the_hacks_php_answers_are_said_with_next_account() {
    let dir = tempdir();
    let secret = dir.path().join("billing.secret");
    std::fs::write(&secret, "s3cret-Pa55-word\n").expect("secret");
    // base64("holdmix:s3cret-Pa55-word")
    let basic = "Basic aG9sZG1peDpzM2NyZXQtUGE1NS13b3Jk";
    // Three accounts as PHP 5 serialized them (17-digit floats); the third locked.
    let body = concat!(
        r#"a:3:{i:0;a:3:{s:6:"IDUser";i:200045;s:7:"Balance";d:1234.5599999999999;s:6:"Status";i:0;}"#,
        r#"i:1;a:3:{s:6:"IDUser";s:3:"317";s:7:"Balance";s:5:"-5.10";s:6:"Status";s:1:"1";}"#,
        r#"i:2;a:3:{s:6:"IDUser";i:9;s:7:"Balance";d:7;s:6:"Status";i:-2;}}"#
    );
    let s = Server::start(Reply::Auth(basic.into(), body.into()));
    let (answer, said, log) = render(dir.path(), &php_billing(&s, &secret));
    assert_eq!(
        (
            answer["answer"].as_str(),
            answer["accounts"].as_u64(),
            answer["locked"].as_u64()
        ),
        (Some("accounts"), Some(3), Some(1)),
        "{log}"
    );
    // "Several accounts. Account 200 045, your balance is 1234.56; next
    // account 3 hundred 17, minus 5.10; account 9 is locked, 7." (groups of three)
    assert!(
        said.starts_with("several-accounts.wav account.wav 2.ogg hundred.ogg"),
        "{said}"
    );
    assert!(said.contains("your-balance-is.wav 1.ogg thousand.ogg"), "{said}");
    assert!(said.contains("50.ogg 6.ogg subunit-many.ogg next-account.wav 3.ogg hundred.ogg 17.ogg your-balance-is.wav minus.ogg 5.ogg"), "{said}");
    assert!(
        said.contains("account.wav 9.ogg account-locked.wav 7.ogg"),
        "{said}"
    );
    assert_eq!(said.matches("next-account.wav").count(), 1, "{said}");
    assert!(!log.contains("s3cret") && !log.contains("aG9sZG1peDpz"), "{log}");

    // One account as a bare array; nothing found as `N;`, `b:0;` or `a:0:{}`.
    let one = r#"a:3:{s:6:"IDUser";i:42;s:7:"Balance";i:10;s:6:"Status";i:0;}"#;
    let s = Server::start(Reply::Auth(basic.into(), one.into()));
    let (answer, said, _) = render(dir.path(), &php_billing(&s, &secret));
    assert_eq!(answer["accounts"].as_u64(), Some(1));
    assert!(said.starts_with("account.wav 4"), "{said}");
    for none in ["N;", "b:0;", "a:0:{}"] {
        let s = Server::start(Reply::Auth(basic.into(), none.into()));
        let (answer, said, log) = render(dir.path(), &php_billing(&s, &secret));
        assert_eq!(answer["answer"], "none", "{none}: {log}");
        assert_eq!(said, "not-registered.wav");
    }
}

#[test]
fn bad_php_answers_fail_softly() {
    let dir = tempdir();
    let secret = dir.path().join("billing.secret");
    std::fs::write(&secret, "pw\n").expect("secret");
    let basic = "Basic aG9sZG1peDpwdw=="; // holdmix:pw
    let deep = "a:1:{i:0;".repeat(40) + "N;" + &"}".repeat(40);
    for body in [
        r#"{"accounts":[{"id":"1","balance":"10"}]}"#.to_string(),
        r#"a:1:{i:0;a:2:{s:6:"IDUser";i:1;s:7:"Balance";d:NAN;}}"#.to_string(),
        r#"a:2:{i:0;a:1:{s:6:"IDUser";i:1;}}"#.to_string(),
        r#"a:1:{i:0;a:2:{s:6:"IDUser";i:1;s:7:"Balance";s:4:"12,5";}}"#.to_string(),
        r#"a:1:{i:0;a:3:{s:6:"IDUser";i:1;s:7:"Balance";i:1;s:6:"Status";s:6:"locked";}}"#.to_string(),
        r#"a:1:{i:0;R:1;}"#.to_string(),
        deep,
    ] {
        let s = Server::start(Reply::Auth(basic.into(), body.clone()));
        let (answer, said, log) = render(dir.path(), &php_billing(&s, &secret));
        assert_eq!(answer["answer"], "failed", "{body}: {log}");
        assert_eq!(said, "service-unavailable.wav", "{body}");
        assert!(log.contains("billing lookup failed"), "{log}");
    }
}

#[test]
fn check_names_bad_format_and_locked_value() {
    let dir = tempdir();
    let p = hack_playlist(
        dir.path(),
        "url = \"http://127.0.0.1:9/b\"\nformat = \"xml\"\n[billing.fields]\nlocked_value = 1.5",
    );
    let out = holdmix(dir.path())
        .args(["check", "--quick"])
        .arg(&p)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let line_of = |needle: &str| {
        std::fs::read_to_string(&p)
            .expect("playlist")
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .expect("line")
    };
    let format_at = format!("hack.toml:{}:10", line_of("format = \"xml\""));
    let value_at = format!("hack.toml:{}:16", line_of("locked_value"));
    assert!(
        text.contains(&format_at) && text.contains("billing.format"),
        "{text}"
    );
    assert!(
        text.contains(&value_at) && text.contains("billing.fields.locked_value"),
        "{text}"
    );
}
