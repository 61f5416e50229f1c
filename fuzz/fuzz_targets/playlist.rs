//! A playlist file, any bytes: `check`'s diagnostics (quick: no audio is
//! decoded), each printed as `check` prints it. Must never panic; every
//! diagnostic about the playlist names a line inside it.

#![no_main]

use holdmix::audio::cache::Cache;
use holdmix::cmd::check::diagnose;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// A directory of its own for the whole run: the playlist is rewritten
/// there for each input (playlists are read by path).
fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("holdmix-fuzz-playlist-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("playlist.toml");
    std::fs::write(&path, data).expect("write");
    let cache = Cache::open(Some(&dir().join("cache")));
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    for d in diagnose(&path, true, &cache) {
        let shown = d.to_string();
        assert!(!shown.is_empty());
        // A diagnostic may be about another file the playlist names.
        if d.file == path {
            assert!(d.line <= lines, "line {} of {lines}: {shown}", d.line);
        }
    }
});
