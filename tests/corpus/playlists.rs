//! Broken playlists: `check` names the file, line, column and field of each
//! problem, and `run` streams through every one of them. Each file's first
//! line is its expectation: `# expect: LINE:COL SEVERITY text; more text`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(super::dir("playlists"))
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A file's `# expect:` line.
pub(super) struct Expect {
    pub line: usize,
    pub col: usize,
    pub severity: String,
    pub texts: Vec<String>,
}

pub(super) fn expectation(p: &Path) -> Expect {
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
    let files = files();
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
fn run_streams_through_every_broken_playlist() {
    let dir = tempdir();
    let files = files();
    let mut children = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let sub = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let child = spawn_run(&sub, &["--playlist", f.to_str().expect("path")]);
        children.push(child);
    }
    let readers: Vec<_> = children.iter_mut().map(counted_drain).collect();
    // A second and a half of each stream, however long a loaded machine
    // took to start them all.
    for (c, (count, _)) in children.iter_mut().zip(&readers) {
        wait_for_stream(c, count, 24_000, Duration::from_secs(60));
    }
    for c in &children {
        signal(c, libc::SIGHUP);
    }
    for ((f, mut c), r) in files.iter().zip(children).zip(readers) {
        let status = c.wait().expect("wait");
        let bytes = r.1.join().expect("reader").len();
        assert!(status.success(), "{}: {status:?}", f.display());
        // About 1.5 s of slin: the stream never stopped.
        assert!(bytes >= 320 * 50, "{}: only {bytes} bytes", f.display());
    }
}
