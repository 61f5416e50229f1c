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
