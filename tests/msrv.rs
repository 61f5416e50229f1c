//! The `rust-version` in Cargo.toml is true: no lower than what the code
//! needs (let-chains: 1.88) nor than any dependency's own `rust-version`
//! (cargo refuses to build a dependency that needs a newer toolchain, so a
//! lower figure would promise a build that cannot happen). Standard-library
//! items newer than it are caught by clippy's `incompatible_msrv`, which CI
//! runs with `-D warnings`.

use crate::common::cargo_metadata;

/// The oldest toolchain the code itself compiles on: let-chains (`if let …
/// && let …`) were stabilised in 1.88.
const LANGUAGE_FLOOR: (u32, u32) = (1, 88);

fn version(s: &str) -> (u32, u32) {
    let mut parts = s.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn rust_version_is_no_lower_than_the_code_and_every_dependency_need() {
    let meta = cargo_metadata(&["--locked"]);
    let used: std::collections::HashSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let packages = meta["packages"].as_array().expect("packages");
    let ours = packages
        .iter()
        .find(|p| p["name"] == "holdmix")
        .and_then(|p| p["rust_version"].as_str())
        .map(version)
        .expect("holdmix has a rust-version");
    assert!(
        ours >= LANGUAGE_FLOOR,
        "rust-version {ours:?} is below the code's {LANGUAGE_FLOOR:?}"
    );
    let too_new: Vec<String> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| used.contains(id)))
        .filter_map(|p| {
            let needs = version(p["rust_version"].as_str()?);
            (needs > ours).then(|| format!("{} {} needs {needs:?}", p["name"], p["version"]))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "rust-version {ours:?} is too low: {too_new:?}"
    );
}
