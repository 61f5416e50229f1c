//! `holdmix cache warm`: decode every sound of some playlists into the cache,
//! with a progress bar, so the first call never waits for a decode. A
//! routes file (the hub's `--routes`) stands for all its routes'
//! playlists, each with its sound map.

use crate::audio::cache::Cache;
use crate::audio::format::Format;
use crate::scenario::Scenario;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Returns the number of files that could not be prepared.
pub fn warm(playlists: &[PathBuf], formats: &[Format], cache: &Cache) -> Result<usize> {
    // Decoding into memory would warm nothing (the warnings said why).
    if cache.dir().is_none() {
        anyhow::bail!("no usable cache directory: nothing can be warmed");
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut failures = 0;
    for p in &expand_routes(playlists, &mut failures) {
        match Scenario::load(p) {
            Ok(loaded) => {
                crate::scenario::log_diagnostics(&loaded.diagnostics);
                // A sound the playlist cannot use (missing, a FIFO, a
                // device) is left out of its lists: still a failure here.
                if loaded
                    .diagnostics
                    .iter()
                    .any(|d| d.severity == crate::scenario::diag::Severity::Error)
                {
                    failures += 1;
                }
                files.extend(loaded.scenario.audio_files().into_iter().map(Path::to_path_buf));
            }
            Err(e) => {
                tracing::error!("{e:#}");
                failures += 1;
            }
        }
    }
    files.sort();
    files.dedup();
    let mut rates: Vec<u32> = formats.iter().map(|f| f.rate()).collect();
    rates.sort();
    rates.dedup();
    let bar = ProgressBar::new((files.len() * rates.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for f in &files {
        for &rate in &rates {
            bar.set_message(short(f));
            if let Err(e) = crate::sources::load_file(cache, f, rate) {
                bar.suspend(|| tracing::error!("{e:#}"));
                failures += 1;
            }
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");
    Ok(failures)
}

/// The playlists to warm: each routes file replaced by its routes'
/// playlists (a routes file with errors counts as one failure, its
/// problems logged, and the playlists it names that exist are warmed).
fn expand_routes(paths: &[PathBuf], failures: &mut usize) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if !crate::routes::is_routes_file(p) {
            out.push(p.clone());
            continue;
        }
        let loaded = crate::routes::parse::load(p);
        if loaded.routes.is_none() {
            crate::scenario::log_diagnostics(&loaded.diagnostics);
            *failures += 1;
        }
        for r in loaded.playlists {
            if !out.contains(&r.path) {
                out.push(r.path);
            }
        }
    }
    out
}

fn short(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
