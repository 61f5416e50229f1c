//! The bad-input corpus (issue 18): one folder per kind of outside input
//! (playlists, audio, AMI, billing, realtime HTTP requests, caller
//! numbers, channel names), each case with its expected outcome in the folder's
//! `cases.toml` (playlists: in each file's `# expect:` line). One submodule
//! per kind runs every case through the real binary on loopback and checks
//! the outcome, and, for what arrives during a call, that the audio went
//! on. `table` keeps docs/corpus.md's table equal to the indexes.
//!
//! Big inputs are not committed: a case's `@@PAD@@` marker is replaced by
//! `pad` repeated to `pad_bytes` when the test runs.

use crate::common::root;
use serde::Deserialize;
use std::path::PathBuf;

mod ami;
mod audio;
mod billing;
mod callers;
mod http;
mod identities;
mod playlists;
mod table;

/// One case of a kind's `cases.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The input, beside `cases.toml` (callers: the number itself is `input`).
    #[serde(default)]
    file: String,
    /// A caller number (the `callers` kind).
    #[serde(default)]
    input: Option<String>,
    /// What the case covers, for the table.
    covers: String,
    /// `error` (refused, with `expect` in the message), `warning`, or
    /// `accepted` (audio continues; `expect` is then what shows it).
    outcome: String,
    /// The text fragment the error, the log or the answer must contain.
    expect: String,
    /// Kind-specific: AMI `connect` or `after-login`; HTTP `row` or `empty`.
    #[serde(default)]
    when: String,
    /// HTTP: whether the hub closes the connection after its answer.
    #[serde(default)]
    close: bool,
    #[serde(default)]
    pad: String,
    #[serde(default)]
    pad_bytes: usize,
}

#[derive(Debug, Deserialize)]
struct Index {
    case: Vec<Case>,
}

fn dir(kind: &str) -> PathBuf {
    root().join("tests/corpus").join(kind)
}

/// A kind's cases, in index order; every file in the folder is in the index.
fn cases(kind: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(dir(kind).join("cases.toml")).expect("cases.toml");
    let index: Index = toml::from_str(&text).expect("cases.toml parses");
    let mut files: Vec<String> = std::fs::read_dir(dir(kind))
        .expect("corpus dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cases.toml")
        .collect();
    files.sort();
    let mut listed: Vec<String> = index
        .case
        .iter()
        .map(|c| c.file.clone())
        .filter(|f| !f.is_empty())
        .collect();
    listed.sort();
    assert_eq!(files, listed, "{kind}: the files and cases.toml disagree");
    index.case
}

/// A case's bytes, with its padding expanded.
fn bytes(kind: &str, case: &Case) -> Vec<u8> {
    let raw = std::fs::read(dir(kind).join(&case.file)).expect("case file");
    if case.pad_bytes == 0 {
        return raw;
    }
    let unit = case.pad.as_bytes();
    assert!(!unit.is_empty(), "{}: pad_bytes without pad", case.file);
    let pad = unit.repeat(case.pad_bytes / unit.len());
    let at = raw
        .windows(7)
        .position(|w| w == b"@@PAD@@")
        .unwrap_or_else(|| panic!("{}: no @@PAD@@", case.file));
    [&raw[..at], &pad[..], &raw[at + 7..]].concat()
}

/// Samples of raw s16le.
fn samples(pcm: &[u8]) -> Vec<f32> {
    pcm.chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// A 440 Hz tone at 0.3, `secs` long, at 8 kHz: the music of runtime cases.
fn tone(at: &std::path::Path, secs: f32) -> PathBuf {
    let p = at.join("tone.wav");
    crate::common::write_wav(&p, 8000, 1, &crate::common::sine(440.0, 0.3, secs, 8000));
    p
}

/// RMS of the last `secs` of a raw s16le stream: the music still playing.
fn tail_rms(pcm: &[u8], secs: f32) -> f32 {
    let s = samples(pcm);
    let n = ((secs * 8000.0) as usize).min(s.len());
    crate::common::rms(&s[s.len() - n..])
}

/// `p.toml` in `at`: a 3 s tone (see `tone`) as the only track, its cache
/// warmed, so a loaded machine's decoding never delays a case's music.
fn tone_playlist(at: &std::path::Path) -> PathBuf {
    let music = tone(at, 3.0);
    let p = crate::common::playlist(
        at,
        "p.toml",
        &format!("[music]\ntracks = [\"{}\"]\n", music.display()),
    );
    crate::common::warm_cache(at, &p);
    p
}

/// Case `i`'s own folder under `tmp`: its runtime and state dirs and
/// `run.log`, so runs side by side share nothing.
fn case_dir(tmp: &std::path::Path, i: usize) -> PathBuf {
    let sub = tmp.join(format!("c{i}"));
    std::fs::create_dir_all(&sub).expect("mkdir");
    sub
}

/// `holdmix run --playlist p ARGS` with `envs`, in the case folder `sub`
/// (see `case_dir`); stdout is drained as Asterisk reads. Returns the
/// child, the count of bytes read so far and its reader.
fn spawn_case(
    tmp: &std::path::Path,
    sub: &std::path::Path,
    p: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Run {
    let mut child = crate::common::holdmix(tmp)
        .env("XDG_RUNTIME_DIR", sub.join("runtime"))
        .env("XDG_STATE_HOME", sub.join("state"))
        .envs(envs.iter().copied())
        .arg("--log")
        .arg(sub.join("run.log"))
        .args(["run", "--playlist", p.to_str().expect("path")])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let (bytes, reader) = crate::common::counted_drain(&mut child);
    Run { child, bytes, reader }
}

/// A case's `run`: the process, the count of its audio read so far, and the
/// reader that returns all of it.
struct Run {
    child: std::process::Child,
    bytes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    reader: std::thread::JoinHandle<Vec<u8>>,
}

/// Waits until every run has streamed `bytes` (the stream's own time, so a
/// loaded machine takes longer rather than failing) or has exited, at most a
/// minute in all; then stops each with SIGHUP.
fn stream_then_hang_up<'a>(runs: impl IntoIterator<Item = &'a mut Run>, bytes: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut runs: Vec<&mut Run> = runs.into_iter().collect();
    for c in runs.iter_mut() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        crate::common::wait_for_stream(&mut c.child, &c.bytes, bytes, left);
    }
    for c in &runs {
        crate::common::signal(&c.child, libc::SIGHUP);
    }
}
