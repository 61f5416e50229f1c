//! `holdmix check`: every problem of a playlist, each with file:line:column,
//! the key, what is wrong and a hint; then every audio file it names is
//! decoded (through the cache, so this also warms it for 8 kHz calls).
//! A routes file (the hub's `--routes`) is checked too: its own problems,
//! then each of its routes' playlists in full.
//! Only the first [`diag::SHOWN`] are printed, then one line counting the
//! rest: a file with 100,000 errors gives a report a person can read.

use crate::audio::cache::Cache;
use crate::engine::bed::MIN_TRACK_MS;
use crate::scenario::{Diagnostic, FileRef, Scenario, Severity, diag};
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Prints the diagnostics of each playlist on stdout. Returns true when no
/// playlist has errors (warnings allowed).
#[expect(clippy::print_stdout, reason = "the report is the command's output")]
pub fn check(playlists: &[PathBuf], quick: bool, cache: &Cache) -> Result<bool> {
    let mut clean = true;
    for path in playlists {
        // A routes file's playlists are checked after it, in full.
        let (diags, then) = if crate::routes::is_routes_file(path) {
            diagnose_routes(path)
        } else {
            (diagnose(path, quick, cache), Vec::new())
        };
        let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
        let warnings = diags.len() - errors;
        for (_, line) in diag::summarize(&diags, diag::SHOWN) {
            println!("{line}");
        }
        println!(
            "{}: {} error{}, {} warning{}",
            path.display(),
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        );
        clean &= errors == 0;
        if !then.is_empty() {
            clean &= check(&then, quick, cache)?;
        }
    }
    Ok(clean)
}

/// A routes file's own diagnostics, and its routes' playlists to check
/// (each once).
pub fn diagnose_routes(path: &Path) -> (Vec<Diagnostic>, Vec<PathBuf>) {
    let loaded = crate::routes::parse::load(path);
    let mut playlists: Vec<PathBuf> = Vec::new();
    for r in loaded.playlists {
        if !playlists.contains(&r.path) {
            playlists.push(r.path);
        }
    }
    let mut diags = loaded.diagnostics;
    diags.sort_by_key(|d| (d.line, d.column));
    (diags, playlists)
}

/// All diagnostics for one playlist, in file order.
pub fn diagnose(path: &Path, quick: bool, cache: &Cache) -> Vec<Diagnostic> {
    let loaded = match Scenario::load(path) {
        Ok(l) => l,
        Err(e) => return vec![Diagnostic::at(path, 0, 0, "", Severity::Error, format!("{e:#}"))],
    };
    let mut diags = loaded.diagnostics;
    if let (Some(r), Some(billing)) = (&loaded.accounts_file, &loaded.scenario.billing) {
        for e in crate::billing::check(billing) {
            diags.push(Diagnostic::at(path, r.line, r.column, &r.key, Severity::Error, e));
        }
    }
    if !quick {
        let mut seen = BTreeSet::new();
        for r in &loaded.file_refs {
            if !r.path.is_file() || !seen.insert(r.path.clone()) {
                continue;
            }
            match crate::sources::load_file(cache, &r.path, 8000) {
                Err(e) => diags.push(sound_error(
                    path,
                    r,
                    format!("cannot be played: {e:#}"),
                    "re-encode it as WAV, MP3, FLAC or Ogg, or remove it",
                )),
                Ok(clip) => diags.extend(too_short(path, r, clip.len())),
            }
        }
    }
    diags.sort_by_key(|d| (d.line, d.column));
    diags
}

/// A sound with no audio (a file cut to its header), or a music track too
/// short for the bed to play ([`MIN_TRACK_MS`]): a call would skip it.
fn too_short(path: &Path, r: &FileRef, samples: usize) -> Option<Diagnostic> {
    let music = r.key.starts_with("music") && r.key.ends_with("tracks");
    let ms = samples as u64 * 1000 / 8000;
    let (what, hint) = match (samples, music) {
        (0, _) => ("has no audio", "the file may be cut short: export it again"),
        (_, true) if ms < u64::from(MIN_TRACK_MS) => (
            "is too short to be music",
            "a call skips music tracks under half a second: export the whole track",
        ),
        _ => return None,
    };
    Some(sound_error(path, r, format!("{what} ({ms} ms)"), hint))
}

/// An error at the sound file's place in the playlist, naming the file.
fn sound_error(path: &Path, r: &FileRef, what: String, hint: &str) -> Diagnostic {
    let mut d = Diagnostic::at(
        path,
        r.line,
        r.column,
        &r.key,
        Severity::Error,
        format!("{}: {what}", r.path.display()),
    );
    d.hint(hint);
    d
}
