//! The README's first command (`cargo run --release -- render …`) works
//! on a fresh clone: `cargo run` has to know which of the package's
//! binaries it means (the crate has two since `holdmix-shim`; without
//! `default-run` cargo refuses, and the first command a new user types
//! fails).

use crate::common::*;

#[test]
fn cargo_run_in_the_readme_means_the_holdmix_binary() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let first = readme
        .lines()
        .find(|l| l.starts_with("cargo "))
        .expect("a cargo command in the README");
    assert!(first.starts_with("cargo run --release -- render "), "{first}");
    let meta = cargo_metadata(&["--no-deps"]);
    let pkg = &meta["packages"][0];
    let bins: Vec<&str> = pkg["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(bins.contains(&"holdmix"), "{bins:?}");
    if bins.len() > 1 {
        assert_eq!(
            pkg["default_run"], "holdmix",
            "binaries {bins:?}: `cargo run` must be told which"
        );
    }
}

/// The repository speaks for itself: every relative link of the README and
/// the docs names a file in it, and nothing points into the workspace
/// beside the clone (`../shared/…`), which a user's clone does not have.
#[test]
fn the_readme_and_docs_link_only_inside_the_repository() {
    let root = root();
    let mut pages = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for dir in ["docs", "playlists", "sample-audio", "benches", "tests/ami"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "md") {
                pages.push(e.path());
            }
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read page");
        let base = page.parent().expect("a page's directory");
        for (n, line) in text.lines().enumerate() {
            if line.contains("../shared") {
                broken.push(format!("{}:{}: points outside: {line}", page.display(), n + 1));
            }
            for (i, _) in line.match_indices("](") {
                let rest = &line[i + 2..];
                let Some(end) = rest.find(')') else { continue };
                let target = &rest[..end];
                let path = target.split('#').next().unwrap_or("");
                if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                    continue;
                }
                if !base.join(path).exists() {
                    broken.push(format!("{}:{}: no such file: {target}", page.display(), n + 1));
                }
            }
        }
    }
    for file in [
        "playlists/operators.toml",
        "playlists/demo.toml",
        "playlists/asterisk-queue.toml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("read playlist");
        if text.contains("../shared") {
            broken.push(format!("{file}: points outside the repository"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
