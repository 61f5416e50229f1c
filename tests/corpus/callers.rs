//! Hostile caller numbers (tests/corpus/callers): escaped in billing's
//! URL so they cannot change it, never a control character in the log
//! (a newline in a number once forged a log line of its own), and the
//! music goes on in `render` and `run`.

use super::billing::{billing_playlist, press_balance, serve};
use super::{Case, case_dir, cases, spawn_case, stream_then_hang_up, tail_rms, tone, tone_playlist};
use crate::common::*;
use std::path::Path;
use std::time::Duration;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 37\r\nConnection: close\r\n\r\n{\"accounts\":[{\"id\":\"1\",\"balance\":5}]}";

fn number(case: &Case) -> String {
    let input = case.input.clone().expect("input");
    if case.pad_bytes == 0 {
        return input;
    }
    input.replace("@@PAD@@", &case.pad.repeat(case.pad_bytes / case.pad.len()))
}

/// Every line of a log is a line of holdmix's: a timestamp first, the
/// call's span (a forged line has none), no control character (a terminal
/// would act on it).
pub(super) fn assert_clean_log(log: &str, what: &str) {
    for line in log.lines() {
        let b = line.as_bytes();
        let stamped = b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[10] == b'T';
        let spanned = line.contains(" render{caller=") || line.contains(" call{uniqueid=");
        assert!(stamped && spanned, "{what}: a log line not holdmix's: {line:?}");
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "{what}: a control character in the log: {line:?}"
        );
    }
}

/// The requests a case's billing server was sent (their heads).
type Heads = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// `render_case(dir, playlist, number)` for every hostile number at once,
/// each in a directory of its own with a billing server that answers one
/// account: the cases, and for each the server's requests and the result.
fn for_every_number<T: Send + 'static>(render_case: fn(&Path, &Path, &str) -> T) -> Vec<(Case, Heads, T)> {
    let tmp = tempdir();
    let music = tone(tmp.path(), 10.0);
    let all = cases("callers");
    let runs: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let sub = case_dir(tmp.path(), i);
            let (port, heads) = serve(OK.to_vec());
            let p = billing_playlist(&sub, port, &music);
            let n = number(case);
            (heads, std::thread::spawn(move || render_case(&sub, &p, &n)))
        })
        .collect();
    all.into_iter()
        .zip(runs)
        .map(|(case, (heads, run))| (case, heads, run.join().expect("render")))
        .collect()
}

#[test]
fn hostile_caller_numbers_reach_billing_escaped_and_never_forge_a_log_line() {
    for (case, heads, (log, tl, level)) in for_every_number(press_balance) {
        let what = format!("{:?}", case.covers);
        assert_clean_log(&log, &what);
        let answer = events(&tl, "balance")[0]["answer"]
            .as_str()
            .expect("answer")
            .to_string();
        let heads = heads.lock().expect("lock").clone();
        match case.outcome.as_str() {
            "accepted" => {
                assert_eq!(answer, "accounts", "{what}: {log}");
                assert_eq!(heads.len(), 1, "{what}");
                let request_line = heads[0].lines().next().unwrap_or("");
                assert!(request_line.contains(&case.expect), "{what}: {request_line}");
                assert!(
                    request_line.starts_with("GET /balance?n="),
                    "{what}: {request_line}"
                );
            }
            "error" => {
                assert_eq!(answer, "failed", "{what}");
                assert!(heads.is_empty(), "{what}: billing was asked");
                assert!(
                    log.contains(&case.expect),
                    "{what}: want `{}` in:\n{log}",
                    case.expect
                );
            }
            other => panic!("{what}: outcome {other}"),
        }
        assert!(level > 0.02, "{what}: the music stopped (rms {level})");
    }
}

#[test]
fn run_streams_for_every_hostile_caller_number_with_a_clean_log() {
    let tmp = tempdir();
    let p = tone_playlist(tmp.path());
    let all = cases("callers");
    let mut children = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let sub = case_dir(tmp.path(), i);
        let run = spawn_case(tmp.path(), &sub, &p, &["--caller", &number(case)], &[]);
        children.push((sub, run));
    }
    // A second and a half of each stream's own time.
    stream_then_hang_up(children.iter_mut().map(|(_, c)| c), 320 * 75);
    for (case, (sub, mut c)) in all.iter().zip(children) {
        let what = format!("{:?}", case.covers);
        let (status, _) = wait_exit(&mut c.child, Duration::from_secs(10));
        let pcm = c.reader.join().expect("reader");
        assert!(status.success(), "{what}: {status:?}");
        assert!(pcm.len() >= 320 * 75, "{what}: only {} bytes", pcm.len());
        let level = tail_rms(&pcm, 0.5);
        assert!(level > 0.02, "{what}: the music stopped (rms {level})");
        let log = std::fs::read_to_string(sub.join("run.log")).unwrap_or_default();
        assert!(!log.is_empty(), "{what}: no log");
        assert_clean_log(&log, &what);
    }
}

/// A command's stderr (plain lines, `render` typed at a shell) with every
/// hostile number and `-v` (more lines, the billing lookup's among them):
/// each line is one of holdmix's (`holdmix: …`), with no control
/// character, and the number itself is not on it (the plain form leaves
/// the span that names the caller out); a number that is refused is
/// named as refused, as in the log.
#[test]
fn hostile_caller_numbers_never_forge_a_line_on_a_commands_stderr() {
    for (case, _, stderr) in for_every_number(render_verbose) {
        let n = number(&case);
        assert!(
            n.trim().len() < 3 || !stderr.contains(&n),
            "{:?}: the number on stderr: {stderr}",
            case.covers
        );
        let what = format!("{:?}", case.covers);
        assert!(stderr.lines().count() >= 2, "{what}: {stderr}");
        for line in stderr.lines() {
            assert!(
                line.starts_with("holdmix: "),
                "{what}: a line not holdmix's: {line:?}"
            );
            assert!(
                !line.chars().any(|c| c.is_control() && c != '\t'),
                "{what}: a control character on stderr: {line:?}"
            );
        }
        if case.outcome == "error" {
            assert!(
                stderr.contains(&case.expect),
                "{what}: want `{}` in:\n{stderr}",
                case.expect
            );
        }
    }
}

/// `holdmix -v render` of `playlist` for `caller`, 3 s with the balance
/// key at 1 s: its stderr.
fn render_verbose(dir: &Path, playlist: &Path, caller: &str) -> String {
    let out = ok(holdmix(dir)
        .args([
            "-v",
            "render",
            playlist.to_str().expect("path"),
            "--duration",
            "3s",
            "-o",
        ])
        .arg(dir.join("out.wav"))
        .args(["--event", "1s:dtmf:2", "--caller", caller]));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
