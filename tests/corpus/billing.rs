//! A hostile billing server (tests/corpus/billing): each answer is read as
//! accounts, as "not a customer", or refused with a reason in the log (the
//! caller then hears "service unavailable"); the music goes on either way.

use super::{Case, bytes, case_dir, cases, tone};
use crate::common::*;
use std::io::{Read, Write};
use std::path::Path;

/// The case's response, its `{len}` made the body's length.
fn response(case: &Case) -> Vec<u8> {
    let raw = bytes("billing", case);
    let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return raw;
    };
    let head = String::from_utf8_lossy(&raw[..at]).replace("{len}", &(raw.len() - at - 4).to_string());
    [head.as_bytes(), &raw[at..]].concat()
}

/// Answers every connection with `answer` once its request head is in.
/// Returns the port and the request heads seen.
pub(super) fn serve(answer: Vec<u8>) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heads = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut sock) = conn else { return };
            sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            heads
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&head).into_owned());
            sock.write_all(&answer).ok();
            sock.shutdown(std::net::Shutdown::Both).ok();
        }
    });
    (port, seen)
}

/// A playlist whose key 2 says the balance billing gives for `{number}`.
pub(super) fn billing_playlist(at: &Path, port: u16, music: &Path) -> std::path::PathBuf {
    balance_playlist(
        at,
        music,
        &format!("http://127.0.0.1:{port}/balance?n={{number}}"),
    )
}

/// Renders 8 s with key 2 at 1 s for `caller`: the log, the timeline and
/// the level of the last second (the music, once all was said).
pub(super) fn press_balance(
    at: &Path,
    playlist: &Path,
    caller: &str,
) -> (String, Vec<serde_json::Value>, f32) {
    let (tl, wav, log) = (at.join("tl.jsonl"), at.join("out.wav"), at.join("render.log"));
    // A log file: the full form (time, level, span) that a forged line
    // would lack; a command's stderr is plain lines.
    let out = ok(holdmix(at)
        .arg("--log")
        .arg(&log)
        .args([
            "render",
            playlist.to_str().expect("path"),
            "--duration",
            "8s",
            "-o",
        ])
        .arg(&wav)
        .args(["--event", "1s:dtmf:2", "--caller", caller, "--timeline"])
        .arg(&tl));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = std::fs::read_to_string(&log).expect("render's log");
    let (rate, samples) = read_wav(&wav);
    (log, timeline(&tl), rms(window(&samples, rate, 7.0, 8.0)))
}

#[test]
fn every_hostile_billing_answer_is_read_or_refused_and_the_music_goes_on() {
    let tmp = tempdir();
    let music = tone(tmp.path(), 10.0);
    let all = cases("billing");
    let runs: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let sub = case_dir(tmp.path(), i);
            let (port, _) = serve(response(case));
            let p = billing_playlist(&sub, port, &music);
            std::thread::spawn(move || press_balance(&sub, &p, "79001112233"))
        })
        .collect();
    for (case, run) in all.iter().zip(runs) {
        let (log, tl, level) = run.join().expect("render");
        let answer = events(&tl, "balance");
        assert_eq!(answer.len(), 1, "{}: {log}", case.file);
        let answer = answer[0]["answer"].as_str().expect("answer");
        let said: Vec<&str> = events(&tl, "prompt_start")
            .iter()
            .filter(|e| e["queue"] == "balance")
            .filter_map(|e| e["file"].as_str())
            .collect();
        match case.outcome.as_str() {
            "error" => {
                assert_eq!(answer, "failed", "{}: {log}", case.file);
                assert!(
                    log.contains("billing lookup failed: ") && log.contains(&case.expect),
                    "{}: want `{}` in:\n{log}",
                    case.file,
                    case.expect
                );
                assert_eq!(said, ["service-unavailable.wav"], "{}", case.file);
            }
            "accepted" => assert_eq!(answer, case.expect, "{}: {log}", case.file),
            other => panic!("{}: outcome {other}", case.file),
        }
        // The music is back after what was said.
        assert!(level > 0.02, "{}: the music stopped (rms {level})", case.file);
    }
}
