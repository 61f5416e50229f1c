//! Playlists as ops staff write them (the broken ones are in the bad-input
//! corpus, tests/corpus/playlists). The timeline helpers here serve the
//! submodules too: `play` (the old hack's advice scheme by time of day,
//! seeded random orders, position announcements, keys and floods),
//! `reload` (a playlist changed under a running call) and `replay` (the
//! same render twice).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod play;
mod reload;
mod replay;

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
