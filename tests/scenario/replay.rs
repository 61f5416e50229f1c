//! `render` is a preview: the README's first command gives the same WAV
//! and picture every time, and the summary line names the `--seed` and
//! `--at` that give them again.

use crate::common::*;
use std::path::Path;

/// What one render wrote: the WAV's bytes, the PNG's, and stderr.
struct Rendered {
    wav: Vec<u8>,
    png: Vec<u8>,
    stderr: String,
}

/// The README's first command (demo, 90 s, key 3 at 25 s, a plot), with
/// `extra` options, in its own files under `dir`.
fn readme_render(dir: &Path, name: &str, extra: &[&str]) -> Rendered {
    let (wav, png) = (dir.join(format!("{name}.wav")), dir.join(format!("{name}.png")));
    let out = ok(holdmix(dir)
        .arg("render")
        .arg(root().join("playlists/demo.toml"))
        .args(["--duration", "90s", "-o"])
        .arg(&wav)
        .args(["--event", "25s:dtmf:3", "--plot"])
        .arg(&png)
        .args(extra));
    Rendered {
        wav: std::fs::read(&wav).expect("wav written"),
        png: std::fs::read(&png).expect("png written"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The options the summary line names, e.g. ["--seed", "1", "--at", "2026-…"].
fn replay_options(stderr: &str) -> Vec<String> {
    let (_, rest) = stderr
        .split_once("the same again: ")
        .unwrap_or_else(|| panic!("no replay options in the summary:\n{stderr}"));
    let words: Vec<String> = rest.split_whitespace().take(4).map(String::from).collect();
    assert_eq!(
        (words[0].as_str(), words[2].as_str()),
        ("--seed", "--at"),
        "{stderr}"
    );
    words
}

#[test]
fn the_readme_render_is_the_same_twice_and_seeds_change_it() {
    let dir = tempdir();
    let d = dir.path();
    let first = readme_render(d, "first", &[]);
    let second = readme_render(d, "second", &[]);
    assert!(first.wav.len() > 90 * 8000 * 2, "{} bytes", first.wav.len());
    assert!(first.wav == second.wav, "same command line, different WAV");
    assert_eq!(replay_options(&first.stderr)[1], "1", "the default seed");

    // The demo's middle advices are random: seed 2 puts another first
    // (at 80 s), seed 1 (the default) the same as not asking.
    let two = readme_render(d, "two", &["--seed", "2"]);
    let one = readme_render(d, "one", &["--seed", "1"]);
    assert!(two.wav != first.wav, "seeds 1 and 2 rendered the same WAV");
    assert!(one.wav == first.wav);

    // The options named give the first render back, picture included:
    // its title shows them, so the start must be the one used.
    let named = replay_options(&first.stderr);
    let again = readme_render(d, "again", &named.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(again.wav == first.wav);
    assert!(
        again.png == first.png,
        "the named --seed/--at drew another picture"
    );
    assert_eq!(replay_options(&again.stderr), named);
}

#[test]
fn a_random_seed_is_named_and_repeats_the_render() {
    let dir = tempdir();
    let d = dir.path();
    let drawn = readme_render(d, "drawn", &["--seed", "random"]);
    let named = replay_options(&drawn.stderr);
    assert!(named[1].parse::<u64>().is_ok(), "{named:?}");
    let again = readme_render(d, "again", &named.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        again.wav == drawn.wav,
        "{named:?} did not repeat the random render"
    );
    assert!(again.png == drawn.png);
}
