//! Files named by a playlist or a command line that are not what they
//! should be (issue 18, findings 1, 2 and 7): a device, a FIFO, a sparse
//! 300 MiB file as the accounts file, the sound map or the playlist itself;
//! a playlist truncated in place or replaced by a FIFO under a running call.
//! `check` says which file and which key, at once; `run` streams and stops
//! on a signal; hot reload refuses what it cannot use and goes on.

use crate::common::*;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous: these finish in milliseconds; a hang or a runaway read never does.
const BOUND: Duration = Duration::from_secs(30);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// A FIFO, `/dev/zero` and a sparse 300 MiB file, each with what `check`
/// must say of it.
fn bad_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let big = dir.join("big.toml");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(300 << 20))
        .expect("sparse file");
    vec![
        (fifo, "is a FIFO, not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (big, "is 300.0 MiB, over its limit of"),
    ]
}

/// Runs `cmd` to its end, which must come within [`BOUND`].
fn bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdmix");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > BOUND {
            child.kill().ok();
            child.wait().ok();
            panic!("still running after {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// A sine track of `secs` seconds, its playlist lines and the rest.
fn music_playlist(dir: &Path, secs: f32, rest: &str) -> PathBuf {
    let music = dir.join("music.wav");
    write_wav(&music, 8000, 1, &sine(330.0, 0.3, secs, 8000));
    playlist(
        dir,
        "p.toml",
        &format!("[music]\ntracks = [{:?}]\n{rest}", music.to_str().expect("path")),
    )
}

fn check(dir: &Path, playlist: &Path) -> (Option<i32>, String) {
    let out = bounded(holdmix(dir).args(["check", "--quick"]).arg(playlist));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_refuses_a_device_fifo_or_huge_accounts_file_at_once_naming_file_and_key() {
    let dir = tempdir();
    for (bad, says) in bad_files(dir.path()) {
        let p = music_playlist(
            dir.path(),
            5.0,
            &format!("[billing]\naccounts_file = {:?}\n", bad.to_str().expect("path")),
        );
        let (code, out) = check(dir.path(), &p);
        assert_eq!(code, Some(1), "{out}");
        // Line 4, at the value: where the name was written.
        let want = format!(
            "{}:4:17: error: billing.accounts_file: {}: ",
            p.display(),
            bad.display()
        );
        assert!(
            out.lines().any(|l| l.starts_with(&want) && l.contains(says)),
            "want {want:?}…{says:?} in:\n{out}"
        );
    }
}

#[test]
fn check_refuses_a_device_fifo_or_huge_sound_map_or_playlist() {
    let dir = tempdir();
    for (bad, says) in bad_files(dir.path()) {
        let p = music_playlist(
            dir.path(),
            5.0,
            &format!("[speech]\nmap = {:?}\n", bad.to_str().expect("path")),
        );
        let (code, out) = check(dir.path(), &p);
        assert_eq!(code, Some(1), "{out}");
        let want = format!("{}:4:7: error: speech.map: {}: ", p.display(), bad.display());
        assert!(
            out.lines().any(|l| l.starts_with(&want) && l.contains(says)),
            "want {want:?}…{says:?} in:\n{out}"
        );
        // The playlist itself.
        let (code, out) = check(dir.path(), &bad);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("{}: ", bad.display())) && l.contains(says)),
            "{out}"
        );
        assert!(out.contains("the playlist"), "{out}");
    }
}

/// Reads the child's stdout as Asterisk does (see `drain`), and says when
/// the first bytes came.
fn stream(child: &mut Child) -> (mpsc::Receiver<()>, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 640];
        let period = Duration::from_millis(40);
        let mut next = Instant::now();
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            tx.send(()).ok();
            next += period;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        all
    });
    (rx, reader)
}

/// Starts `run` of `playlist`, waits for its first frames, stops it with
/// SIGTERM and returns how long the exit took, and the log.
fn run_then_sigterm(dir: &Path, playlist: &Path) -> (Duration, String) {
    let mut child = spawn_run(dir, &["--playlist", playlist.to_str().expect("path")]);
    let (first, reader) = stream(&mut child);
    if first.recv_timeout(BOUND).is_err() {
        child.kill().ok();
        panic!("no frame within {BOUND:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let (status, took) = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    assert!(audio.len() >= 320 * 10, "frames came: {} bytes", audio.len());
    (took, log_text(dir))
}

#[test]
fn run_with_a_fifo_as_playlist_streams_and_stops_on_sigterm() {
    let dir = tempdir();
    let fifo = dir.path().join("playlist.toml");
    mkfifo(&fifo);
    let (took, log) = run_then_sigterm(dir.path(), &fifo);
    eprintln!("fifo playlist: exit {took:?} after SIGTERM");
    assert!(
        log.contains("playlist.toml: is a FIFO, not a regular file"),
        "{log}"
    );
}

#[test]
fn run_with_a_fifo_as_map_and_accounts_file_streams_and_stops_on_sigterm() {
    let dir = tempdir();
    let (map, accounts) = (dir.path().join("map.toml"), dir.path().join("accounts.toml"));
    mkfifo(&map);
    mkfifo(&accounts);
    // Warmed from the music alone: `cache warm` reads the map too.
    warm_cache(dir.path(), &music_playlist(dir.path(), 5.0, ""));
    let p = music_playlist(
        dir.path(),
        5.0,
        &format!(
            "[speech]\nmap = {:?}\n[billing]\naccounts_file = {:?}\n",
            map.to_str().expect("path"),
            accounts.to_str().expect("path")
        ),
    );
    let (took, log) = run_then_sigterm(dir.path(), &p);
    eprintln!("fifo map and accounts file: exit {took:?} after SIGTERM");
    assert!(
        log.contains("speech.map") && log.contains("map.toml: is a FIFO"),
        "{log}"
    );
}

#[test]
fn a_balance_lookup_in_a_fifo_accounts_file_fails_at_once() {
    let dir = tempdir();
    let accounts = dir.path().join("accounts.toml");
    mkfifo(&accounts);
    let root = root();
    let p = music_playlist(
        dir.path(),
        10.0,
        &format!(
            "[speech]\nmap = \"{root}/sample-audio/words/en/map.toml\"\n\
             [prompts]\nfrom = \"{root}/sample-audio/prompts/en\"\n\
             [announce.balance]\nsay = [\"your-balance-is\", {{ say = \"money\", value = \"balance\" }}]\n\
             failed = [\"service-unavailable\"]\n\
             [keys]\n2 = {{ action = \"say-balance\", debounce = \"0s\" }}\n\
             [billing]\naccounts_file = {:?}\n",
            accounts.to_str().expect("path"),
            root = root.display()
        ),
    );
    let tl = dir.path().join("tl.jsonl");
    let out = bounded(
        holdmix(dir.path())
            .args(["render", p.to_str().expect("path"), "--duration", "8s", "-o"])
            .arg(dir.path().join("out.wav"))
            .args(["--event", "1s:dtmf:2", "--caller", "89161234567", "--timeline"])
            .arg(&tl),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let tl = timeline(&tl);
    let answers = events(&tl, "balance");
    assert_eq!(
        answers.first().map(|a| &a["answer"]),
        Some(&"failed".into()),
        "{tl:?}"
    );
    assert!(
        log.contains("[billing] accounts_file:") && log.contains("accounts.toml: is a FIFO"),
        "{log}"
    );
}

/// Waits until the run's log holds `text`.
fn wait_for_log(dir: &Path, text: &str) -> String {
    let start = Instant::now();
    loop {
        let log = log_text(dir);
        if log.contains(text) {
            return log;
        }
        assert!(start.elapsed() < BOUND, "no {text:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Saves `text` over `path` by rename, as editors do.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[test]
fn a_playlist_truncated_in_place_is_refused_and_the_music_goes_on() {
    let dir = tempdir();
    // A short track: an empty version taken would leave silence after it.
    let p = music_playlist(dir.path(), 2.0, "");
    warm_cache(dir.path(), &p);
    let tl_path = dir.path().join("tl.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            p.to_str().expect("path"),
            "--timeline",
            tl_path.to_str().expect("path"),
        ],
    );
    let (count, reader) = counted_drain(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    // What `> p.toml` does: the same file, now empty.
    std::fs::File::create(&p).expect("truncate");
    let log = wait_for_log(dir.path(), "new version refused");
    assert!(log.contains("the playlist is empty (0 bytes)"), "{log}");
    // Two loops of the track after the refusal, on the stream's own time.
    assert!(
        wait_for_event(&tl_path, "reload", BOUND),
        "no reload in the timeline"
    );
    let at = events(&timeline(&tl_path), "reload")[0]["t"].as_f64().expect("t");
    let want = ((at + 4.3) * 16_000.0) as usize;
    heard_reaches(&mut child, &count, &tl_path, want, || {
        format!("reload at {at:.1} s")
    });
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    let audio = reader.join().expect("reader");
    let tl = timeline(&tl_path);
    let reloads = events(&tl, "reload");
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(reloads[0]["ok"], false, "{reloads:?}");
    let at = reloads[0]["t"].as_f64().expect("t");
    // The rendered stream (slin, 8 kHz): music in every 100 ms after the reload.
    let s: Vec<f32> = audio
        .chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect();
    let end = s.len() as f64 / 8000.0;
    assert!(end > at + 4.0, "stream {end:.1} s, reload at {at:.1} s");
    let mut t = at;
    while t + 0.1 < end - 0.1 {
        let w = window(&s, 8000, t, t + 0.1);
        assert!(db(rms(w)) > -40.0, "silence at {t:.1} s (reload at {at:.1} s)");
        t += 0.1;
    }
}

#[test]
fn a_fifo_renamed_over_the_playlist_is_refused_once_and_a_valid_file_renamed_back_is_reloaded() {
    let dir = tempdir();
    let p = music_playlist(dir.path(), 5.0, "");
    let v1 = std::fs::read_to_string(&p).expect("read");
    warm_cache(dir.path(), &p);
    let tl_path = dir.path().join("tl.jsonl");
    let mut child = spawn_run(
        dir.path(),
        &[
            "--playlist",
            p.to_str().expect("path"),
            "--timeline",
            tl_path.to_str().expect("path"),
        ],
    );
    let (bytes, reader) = counted_drain(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    std::fs::rename(&fifo, &p).expect("rename the FIFO over");
    wait_for_log(dir.path(), "is a FIFO");
    // A new version (the same music, quieter), saved by rename.
    save(&p, &format!("{v1}[levels]\nduck = 0.2\n"));
    let log = wait_for_log(dir.path(), "playlist reloaded");
    // The audio thread takes the new version at its next tick; the stream
    // goes on for a second of its own time after it.
    let at_reload = bytes.load(std::sync::atomic::Ordering::SeqCst);
    wait_for_stream(&mut child, &bytes, at_reload + 16_000, Duration::from_secs(30));
    signal(&child, libc::SIGHUP);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(
        reader.join().expect("reader").len() >= at_reload + 16_000,
        "the stream went on"
    );
    assert_eq!(log.matches("is a FIFO").count(), 1, "one line:\n{log}");
    let tl = timeline(&tl_path);
    let oks: Vec<bool> = events(&tl, "reload").iter().map(|e| e["ok"] == true).collect();
    assert_eq!(oks, [false, true], "{tl:?}");
}

#[test]
fn reload_file_refuses_a_fifo_a_device_and_an_empty_file_and_the_music_goes_on() {
    let dir = tempdir();
    let p = music_playlist(dir.path(), 2.0, "");
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    let empty = playlist(dir.path(), "empty.toml", "# nothing yet\n");
    let out = dir.path().join("out.wav");
    let tl = dir.path().join("tl.jsonl");
    let run = bounded(
        holdmix(dir.path())
            .args(["render", p.to_str().expect("path"), "--duration", "12s", "-o"])
            .arg(&out)
            .arg("--timeline")
            .arg(&tl)
            .arg("--event")
            .arg(format!("2s:reload:{}", fifo.display()))
            .args(["--event", "4s:reload:/dev/zero", "--event"])
            .arg(format!("6s:reload:{}", empty.display())),
    );
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    let tl = timeline(&tl);
    let reloads = events(&tl, "reload");
    let oks: Vec<bool> = reloads.iter().map(|e| e["ok"] == true).collect();
    assert_eq!(oks, [false, false, false], "{reloads:?}");
    assert!(
        reloads[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("is a FIFO")),
        "{reloads:?}"
    );
    assert!(
        reloads[1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("is a character device")),
        "{reloads:?}"
    );
    assert!(
        log.contains("the playlist is empty (only blank lines and comments)"),
        "{log}"
    );
    // The 2 s track loops on to the end.
    let (rate, s) = read_wav(&out);
    for k in 20..115 {
        let w = window(&s, rate, k as f64 / 10.0, (k + 1) as f64 / 10.0);
        assert!(db(rms(w)) > -40.0, "silence at {:.1} s", k as f64 / 10.0);
    }
}
