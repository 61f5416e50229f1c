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

/// `render --event` refuses a bad event before rendering, naming the part
/// that is wrong in words: Rust's own parse errors never reach the user.
#[test]
fn a_bad_scripted_event_names_its_wrong_part() {
    let dir = tempdir();
    let p = playlist(dir.path(), "p.toml", "[music]\ntracks = []\n");
    for (event, want) in [
        ("5s:position:-1", "position: \"-1\" is negative"),
        ("5s:position:0", "positions count from 1"),
        ("5s:position:99999999999", "is too large: at most 4294967295"),
        ("dtmf:3", "the time is missing: write TIME:EVENT, e.g. 25s:dtmf:3"),
        ("5s:holdtime:-5s", "holdtime \"-5s\" is negative"),
        ("5s:jump", "`language CODE`, `reload [FILE]` or `hangup`"),
    ] {
        let out = holdmix(dir.path())
            .arg("render")
            .arg(&p)
            .args(["--duration", "1s", "-o", "/dev/null", "--event", event])
            .output()
            .expect("spawn render");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{event}: {err}");
        assert!(err.contains(want), "{event}: want {want:?} in:\n{err}");
        for noise in ["invalid digit", "too large to fit", "expected number at"] {
            assert!(!err.contains(noise), "{event}: {err}");
        }
    }
}

/// A calendar file that cannot be read is called a calendar file, not
/// "the playlist": the reader is sent to the right file.
#[test]
fn check_calls_a_missing_calendar_a_calendar_file() {
    let dir = tempdir();
    let (code, lines) = check(
        dir.path(),
        "calendar = \"../calendars/xx.toml\"\n[music]\ntracks = []\n",
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        lines[0],
        "p.toml:1:12: error: calendar: ../calendars/xx.toml: cannot open the calendar file: \
         No such file or directory (os error 2) (hint: a path to a calendar file, relative to the playlist)"
    );
    std::fs::create_dir(dir.path().join("cal")).expect("mkdir");
    let (_, lines) = check(dir.path(), "calendar = \"cal\"\n[music]\ntracks = []\n");
    assert!(
        lines[0].contains("cal: is a directory, not a regular file (a calendar file must be one)"),
        "{lines:#?}"
    );
}

/// A number out of range says the range ("too large: at most 9"), as the
/// file writes it: not "expected a number, found an integer", not three
/// hundred digits.
#[test]
fn check_says_how_large_a_number_may_be() {
    let dir = tempdir();
    let (code, lines) = check(
        dir.path(),
        r#"[music]
tracks = []
[advice]
start = 1e300
[announce.position]
say = []
cap = 99999999999999999999
[announce.dissuade]
say = []
position_above = -5
[keys]
1 = { action = "next-music", priority = 99999999999999999999 }
2 = { action = "next-music", priority = 2.5 }
"#,
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        lines,
        [
            "p.toml:4:9: error: advice.start: 1e300 seconds is too large: at most 1000000000 (about 31 years) \
             (hint: write e.g. \"20s\", \"500ms\", \"2m\" or \"1m30s\")",
            "p.toml:7:7: error: announce.position.cap: 99999999999999999999 is too large: at most 1000000",
            "p.toml:10:18: error: announce.dissuade.position_above: -5 is too small: a whole number from 0 to 1000000",
            "p.toml:12:41: error: keys.1.priority: 99999999999999999999 is too large: at most 9",
            "p.toml:13:41: error: keys.2.priority: 2.5 is not a whole number: write one from 0 to 9",
            "p.toml: 5 errors, 0 warnings",
        ]
    );
    let (_, lines) = check(
        dir.path(),
        "[music]\ntracks = []\n[announce.position]\nsay = []\ncap = 4294967296\n",
    );
    assert_eq!(
        lines[0],
        "p.toml:5:7: error: announce.position.cap: 4294967296 is too large: at most 1000000"
    );
}

/// "Did you mean" names what was meant or nothing: the zone of an
/// abbreviation, no zone for an empty name, and never a dangling link's
/// own name.
#[test]
fn check_hints_only_what_was_meant() {
    let dir = tempdir();
    let zone = |tz: &str| {
        check(
            dir.path(),
            &format!("timezone = \"{tz}\"\n[music]\ntracks = []\n"),
        )
        .1
    };
    assert_eq!(
        zone("MSK")[0],
        "p.toml:1:12: error: timezone: unknown time zone \"MSK\" \
         (hint: MSK is an abbreviation, not an IANA zone name: did you mean \"Europe/Moscow\"?)"
    );
    assert_eq!(
        zone("")[0],
        "p.toml:1:12: error: timezone: \"\" is not a time zone name (hint: leave `timezone` out for the host's \
         zone, or use an IANA zone name such as \"Europe/Moscow\" (see /usr/share/zoneinfo))"
    );
    std::fs::create_dir(dir.path().join("mus")).expect("mkdir");
    std::os::unix::fs::symlink("gone.wav", dir.path().join("mus/dangling.wav")).expect("symlink");
    let (code, lines) = check(dir.path(), "[music]\ntracks = [\"mus/dangling.wav\"]\n");
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        lines[0],
        "p.toml:2:11: error: music.tracks: mus/dangling.wav is a dangling symbolic link to gone.wav \
         (hint: the link's target is missing: restore it or point the link elsewhere)"
    );
}

/// Two advice groups with one name are an error (the timeline and
/// `[languages.X.advice]` tell groups by name); a group with `files = []`
/// never plays: a warning, as for a directory with no audio file.
#[test]
fn check_refuses_two_advice_groups_of_one_name_and_warns_of_an_empty_one() {
    let dir = tempdir();
    write_wav(&dir.path().join("tip.wav"), 8000, 1, &sine(440.0, 0.5, 0.5, 8000));
    let (code, lines) = check(
        dir.path(),
        r#"[[advice.group]]
name = "tips"
files = ["tip.wav"]

[[advice.group]]
name = "tips"
files = []
"#,
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        lines,
        [
            "p.toml:6:8: error: advice.group[1].name: \"tips\" is already the name of advice.group[0] (line 2) \
             (hint: the timeline and [languages.*.advice] tell groups by name: give each its own)",
            "p.toml:7:9: warning: advice.group[1].files: an empty list: the group never plays \
             (hint: name a directory, files or a pattern such as \"advice/*.wav\", or remove the group)",
            "p.toml: 1 error, 1 warning",
        ]
    );
}
