//! Playlists as ops staff write them: `check` finds every problem and says
//! where; broken files still stream. The timeline helpers here serve the
//! submodules too: `play` (the old hack's advice scheme by time of day,
//! seeded random orders, position announcements, keys and floods) and
//! `reload` (a playlist changed under a running call).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod play;
mod reload;

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/playlists/broken"))
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `# expect: LINE:COL SEVERITY text; more text` from a corpus file's first line.
struct Expect {
    line: usize,
    col: usize,
    severity: String,
    texts: Vec<String>,
}

fn expectation(p: &Path) -> Expect {
    let text = std::fs::read_to_string(p).expect("read corpus file");
    let first = text.lines().next().expect("first line");
    let rest = first.strip_prefix("# expect: ").expect("expect header");
    let (pos, rest) = rest.split_once(' ').expect("position");
    let (line, col) = pos.split_once(':').expect("line:col");
    let (severity, texts) = rest.split_once(' ').expect("severity");
    Expect {
        line: line.parse().expect("line"),
        col: col.parse().expect("col"),
        severity: severity.to_string(),
        texts: texts.split("; ").map(str::to_string).collect(),
    }
}

#[test]
fn check_reports_every_broken_playlist_where_it_is_wrong() {
    let dir = tempdir();
    let files = corpus();
    assert!(files.len() >= 25, "corpus has {} files", files.len());
    for f in &files {
        let want = expectation(f);
        let out = holdmix(dir.path())
            .arg("check")
            .arg(f)
            .output()
            .expect("spawn check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("{}:{}:{}: {}: ", f.display(), want.line, want.col, want.severity);
        let hit = stdout
            .lines()
            .any(|l| l.starts_with(&prefix) && want.texts.iter().all(|t| l.contains(t.as_str())));
        assert!(
            hit,
            "{}: want `{prefix}…{:?}` in:\n{stdout}",
            f.display(),
            want.texts
        );
        let errors = stdout.lines().filter(|l| l.contains(": error: ")).count();
        assert_eq!(
            out.status.code(),
            Some(if errors > 0 { 1 } else { 0 }),
            "{stdout}"
        );
        if want.severity == "error" {
            assert_eq!(out.status.code(), Some(1), "{}", f.display());
        }
    }
}

#[test]
fn shipped_playlists_are_clean() {
    let dir = tempdir();
    for name in ["demo.toml", "operators.toml", "asterisk-queue.toml"] {
        let p = root().join("playlists").join(name);
        let out = ok(holdmix(dir.path()).arg("check").arg(&p));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("0 errors, 0 warnings"), "{name}:\n{stdout}");
    }
}

#[test]
fn run_streams_through_every_broken_playlist() {
    let dir = tempdir();
    let files = corpus();
    let mut children = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let sub = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let child = spawn_run(&sub, &["--playlist", f.to_str().expect("path")]);
        children.push(child);
    }
    let readers: Vec<_> = children.iter_mut().map(drain).collect();
    std::thread::sleep(Duration::from_millis(1500));
    for c in &children {
        // SAFETY: signalling our own children.
        unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
    }
    for ((f, mut c), r) in files.iter().zip(children).zip(readers) {
        let status = c.wait().expect("wait");
        let bytes = r.join().expect("reader").len();
        assert!(status.success(), "{}: {status:?}", f.display());
        // About 1.5 s of slin: the stream never stopped.
        assert!(bytes >= 320 * 50, "{}: only {bytes} bytes", f.display());
    }
}

/// Renders `playlist` and returns the timeline.
fn render(dir: &Path, playlist: &Path, seconds: u32, extra: &[&str]) -> Vec<serde_json::Value> {
    let tl = dir.join(format!("tl-{}.jsonl", fastrand_name()));
    ok(holdmix(dir)
        .args(["render", playlist.to_str().expect("path"), "--duration"])
        .arg(format!("{seconds}s"))
        .args(["-o", dir.join("out.raw").to_str().expect("path"), "--timeline"])
        .arg(&tl)
        .args(extra));
    timeline(&tl)
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

/// (t, file, queue) of every prompt start.
fn prompts(tl: &[serde_json::Value]) -> Vec<(f64, String, String)> {
    events(tl, "prompt_start")
        .iter()
        .map(|e| {
            (
                e["t"].as_f64().expect("t"),
                e["file"].as_str().expect("file").to_string(),
                e["queue"].as_str().expect("queue").to_string(),
            )
        })
        .collect()
}

fn advice_files(tl: &[serde_json::Value]) -> Vec<(f64, String, String)> {
    prompts(tl)
        .into_iter()
        .filter(|(_, _, q)| q.starts_with("advice/"))
        .collect()
}
