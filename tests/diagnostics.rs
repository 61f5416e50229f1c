//! What `check` says about a playlist a new user got wrong: every problem
//! (one hiding the others is a defect), each once (no cascade of errors
//! that only follow from the first), in words that name the key, the
//! limit or the first definition. Each test runs the real binary on a
//! written file and compares its report line by line.

use crate::common::*;
use std::path::Path;

/// `holdmix check --quick p.toml` in `dir` with `text`: the exit code and
/// the report's lines (`p.toml:LINE:COL: …`, then the count).
fn check(dir: &Path, text: &str) -> (Option<i32>, Vec<String>) {
    playlist(dir, "p.toml", text);
    let out = holdmix(dir)
        .current_dir(dir)
        .args(["check", "--quick", "p.toml"])
        .output()
        .expect("spawn check");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

/// A URL with credentials in it is one problem of `[billing]`, not the
/// only one: the secret, auth, timeout and retries are still judged.
#[test]
fn check_reports_every_billing_problem_beside_credentials_in_the_url() {
    let dir = tempdir();
    let (code, lines) = check(
        dir.path(),
        r#"[billing]
url = "https://user:pw@billing.example/x"
secret_file = "/nonexistent/secret"
auth = "basic"
timeout = "0s"
retries = 9
"#,
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    let places: Vec<&str> = lines
        .iter()
        .map(|l| l.split(": ").take(3).last().unwrap_or(""))
        .collect();
    assert_eq!(
        places,
        [
            "billing.url",
            "billing.secret_file",
            "billing.auth",
            "billing.timeout",
            "billing.retries",
            "4 errors, 1 warning"
        ],
        "{lines:#?}"
    );
    assert!(lines[0].starts_with("p.toml:2:7: error: billing.url: the URL holds credentials"));

    // The same for `[plan]`: a bad URL and a bad `every` together.
    let (code, lines) = check(
        dir.path(),
        "[plan]\nurl = \"https://u:p@hold.example/plan\"\nevery = \"0s\"\n",
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(
        lines[0].starts_with("p.toml:2:7: error: plan.url: the URL holds credentials"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("p.toml:3:9: error: plan.every: "),
        "{lines:#?}"
    );
}
