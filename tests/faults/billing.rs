//! A billing server that hangs (accepts, reads the request, never answers)
//! under a live `run`: the music plays on through the lookup, the caller
//! hears "service unavailable" once the attempts time out, and the failure
//! is one log line. (The render-side cases are in `billing`.)

use crate::common::*;
use std::io::{Read, Write};
use std::time::Duration;

/// Accepts connections and reads them, answering nothing, for 20 s; the
/// port and how many requests came.
fn hanging_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 4096];
            if s.read(&mut buf).is_ok_and(|n| n > 0) {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(20));
    });
    (port, seen)
}

#[test]
fn a_hanging_billing_server_costs_the_call_no_audio() {
    let dir = tempdir();
    let (port, seen) = hanging_server();
    let music = dir.path().join("music.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, 30.0, 8000));
    let pl = balance_playlist(dir.path(), &music, &format!("http://127.0.0.1:{port}/b"));
    warm_cache(dir.path(), &pl);
    let tl = dir.path().join("tl.jsonl");
    let mut child = spawn_keyed_from(dir.path(), &pl, &tl, "5");
    let (count, reader) = counted_drain(&mut child);
    let mut keys = child.stdin.take().expect("stdin");
    heard_reaches(&mut child, &count, &tl, 8_000, || "before the key".into());
    writeln!(keys, "dtmf 2").expect("key");
    // Two attempts of 2 s each time out, then the prompt plays: waited
    // for, and the stream read on to 7 s of the call.
    let told = wait_for_text(&tl, "service-unavailable.wav", Duration::from_secs(30));
    heard_reaches(&mut child, &count, &tl, 7 * 16_000, || format!("told {told}"));
    assert!(told, "no \"service unavailable\" prompt");
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl);
    let log = log_text(dir.path());

    // The key was taken and answered: failed, and the caller told so.
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "no request came"
    );
    let answers = events(&tl, "balance");
    assert_eq!(answers.len(), 1, "{tl:?}");
    assert_eq!(answers[0]["answer"], "failed", "{tl:?}");
    assert!(
        events(&tl, "prompt_start")
            .iter()
            .any(|e| e["file"] == "service-unavailable.wav"),
        "{tl:?}"
    );
    // The music never stopped while the lookup hung.
    let pcm: Vec<f32> = audio[late_bytes(&tl).min(audio.len())..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!(pcm.len() > 8000 * 4, "{} samples", pcm.len());
    let quietest = pcm[800..].chunks(800).map(rms).fold(f32::MAX, f32::min);
    assert!(quietest > 0.003, "a silent 100 ms in the stream (rms {quietest})");
    // One line for the failure.
    assert_eq!(log.matches("billing lookup failed").count(), 1, "{log}");
    assert!(
        !log.contains("stalled") && !log.contains("dropping audio"),
        "{log}"
    );
}
