//! Hostile AMI servers (tests/corpus/ami): whatever the server sends, the
//! generator's music goes on, the call is not ended or keyed by another's
//! events, and the log says what was wrong.

use super::{Case, bytes, case_dir, cases, spawn_case, stream_then_hang_up, tail_rms, tone_playlist};
use crate::common::*;
use std::io::{Read, Write};
use std::time::Duration;

const CHANNEL: &str = "Local/200@test-00000000;2";

/// A server that says the case's bytes from the first one, then answers
/// every action after the Login with `Response: Success`; each new
/// connection (the generator retries) gets the same.
fn replay(data: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(32) {
            let Ok(mut sock) = conn else { return };
            let data = data.clone();
            std::thread::spawn(move || {
                if sock.write_all(&data).is_err() {
                    return;
                }
                let mut seen = Vec::new();
                let mut answered = 1; // the Login is the file's
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = sock.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).into_owned();
                    let ids: Vec<&str> = text
                        .split("\r\n\r\n")
                        .filter_map(|a| a.lines().find_map(|l| l.strip_prefix("ActionID: ")))
                        .collect();
                    for id in ids.iter().skip(answered) {
                        let reply = format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n");
                        if sock.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                    answered = answered.max(ids.len());
                }
            });
        }
    });
    port
}

fn server_for(case: &Case) -> u16 {
    let data = bytes("ami", case);
    match case.when.as_str() {
        "connect" => replay(data),
        "after-login" => crate::ami::server::serve_script("pw", vec![vec![data]]).0,
        other => panic!("{}: when = {other:?}", case.file),
    }
}

#[test]
fn hostile_ami_servers_never_cost_the_call_its_music() {
    let tmp = tempdir();
    let music = tone_playlist(tmp.path());
    let all = cases("ami");
    let mut children = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let sub = case_dir(tmp.path(), i);
        let port = server_for(case);
        let ami = format!("127.0.0.1:{port}");
        let tl = sub.join("tl.jsonl");
        let args = [
            "--ami",
            &ami,
            "--channel",
            CHANNEL,
            "--timeline",
            tl.to_str().expect("path"),
        ];
        let run = spawn_case(tmp.path(), &sub, &music, &args, &[("HOLDMIX_AMI_SECRET", "pw")]);
        children.push((sub, run));
    }
    // Past the 5 s a Login answer is waited for, with a margin: 7 s of each
    // stream's own time, which is never less than 7 s of the wall clock's.
    stream_then_hang_up(children.iter_mut().map(|(_, c)| c), 320 * 350);
    for (case, (sub, mut c)) in all.iter().zip(children) {
        let (status, _) = wait_exit(&mut c.child, Duration::from_secs(10));
        let pcm = c.reader.join().expect("reader");
        let log = std::fs::read_to_string(sub.join("run.log")).unwrap_or_default();
        assert!(status.success(), "{}: {status:?}\n{log}", case.file);
        assert!(
            log.contains(&case.expect),
            "{}: want `{}` in:\n{log}",
            case.file,
            case.expect
        );
        // 7 s of slin, music to the end.
        assert!(pcm.len() >= 320 * 350, "{}: only {} bytes", case.file, pcm.len());
        let level = tail_rms(&pcm, 1.0);
        assert!(level > 0.02, "{}: the music stopped (rms {level})", case.file);
        // Nothing the server sent ended the call or pressed a key.
        let tl = timeline(&sub.join("tl.jsonl"));
        let exits = events(&tl, "exit");
        assert_eq!(exits.len(), 1, "{}: {exits:?}", case.file);
        assert_eq!(exits[0]["reason"], "sighup", "{}", case.file);
        assert!(events(&tl, "dtmf").is_empty(), "{}: a key was pressed", case.file);
    }
}
