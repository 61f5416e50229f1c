//! Finding the audio files a directory or a glob names, within limits.
//!
//! A playlist may point anywhere on the host, and the glob crate's own walk
//! follows directory symlinks with no memory: two links to a parent
//! (`r1 -> ..`, `r2 -> ..`) make it exponential. Here `walkdir` does the
//! walking (it follows links and stops at loops to an ancestor) and a set of
//! visited directories by (device, inode) makes every directory, linked
//! or not, walked once; `glob::Pattern` does the matching. One [`Budget`]
//! per playlist bounds the entries looked at, the files found and the time
//! spent, so loading a playlist costs a bounded time whatever it names.

use super::super::is_audio;
use glob::{MatchOptions, Pattern, PatternError};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directory entries one playlist's directories and globs may look at.
pub const MAX_ENTRIES: usize = 200_000;
/// Audio files one playlist's directories and globs may find.
pub const MAX_FILES: usize = 50_000;
/// Time one playlist's directories and globs may take to walk.
pub const MAX_TIME: Duration = Duration::from_secs(2);

/// What is left of a playlist's allowance for walking directories.
#[derive(Debug, Clone)]
pub struct Budget {
    pub(super) entries: usize,
    pub(super) files: usize,
    pub(super) time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            entries: MAX_ENTRIES,
            files: MAX_FILES,
            time: MAX_TIME,
        }
    }
}

/// The limit a walk stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Entries,
    Files,
    Time,
}

impl Limit {
    /// What was reached, for a diagnostic.
    pub fn describe(self) -> String {
        match self {
            Limit::Entries => format!("looked at {MAX_ENTRIES} directory entries, the limit per playlist"),
            Limit::Files => format!("found {MAX_FILES} audio files, the limit per playlist"),
            Limit::Time => format!(
                "walked directories for {} s, the limit per playlist",
                MAX_TIME.as_secs()
            ),
        }
    }
}

/// Audio files found (sorted, each once), and the limit that cut the walk
/// short, if one did (the files found until then are kept).
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    pub stopped: Option<Limit>,
}

/// The audio files directly in `dir`, sorted by name.
pub fn dir(dir: &Path, budget: &mut Budget) -> Found {
    walk(dir, Some(1), budget, |_| true, |_, _| true)
}

/// The audio files matching `pattern` (glob syntax: `*`, `?`, `[a-z]`, and
/// `**` for any depth), sorted. As with `glob::glob`, `*` stays within a
/// path component and matches a leading dot.
pub fn glob(pattern: &str, budget: &mut Budget) -> Result<Found, PatternError> {
    let whole = Pattern::new(pattern)?;
    let options = MatchOptions {
        require_literal_separator: true,
        ..MatchOptions::new()
    };
    // Walk from the longest part with no wildcard: `music/*/x.wav` reads
    // `music` only.
    let parts: Vec<&str> = pattern.split('/').collect();
    let first_wild = parts
        .iter()
        .position(|p| p.contains(['*', '?', '[']))
        .unwrap_or(parts.len());
    let root = match parts[..first_wild].join("/") {
        r if !r.is_empty() => PathBuf::from(r),
        _ if pattern.starts_with('/') => PathBuf::from("/"),
        _ => PathBuf::from("."),
    };
    let rest = &parts[first_wild..];
    let recursive = rest.contains(&"**");
    // Without `**` the depth is known and a directory whose name cannot
    // match its component is not entered.
    let components = if recursive {
        Vec::new()
    } else {
        rest.iter()
            .map(|p| Pattern::new(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    let depth = (!recursive).then_some(rest.len());
    // A relative pattern with no literal start matches `a.wav`, not `./a.wav`.
    let dot = !pattern.starts_with("./") && root == Path::new(".");
    let shown = |p: &Path| {
        if dot {
            p.strip_prefix(".").unwrap_or(p).to_path_buf()
        } else {
            p.to_path_buf()
        }
    };
    let enter = |depth: usize, name: &str| {
        components
            .get(depth - 1)
            .is_none_or(|c| c.matches_with(name, options))
    };
    let mut found = walk(
        &root,
        depth,
        budget,
        |p| whole.matches_path_with(&shown(p), options),
        enter,
    );
    if dot {
        for f in &mut found.files {
            *f = shown(f);
        }
    }
    Ok(found)
}

/// Walks `root` (following symlinks, each directory once) down to `depth`
/// (`None`: any), keeping the audio files `keep` accepts and entering the
/// directories `enter` accepts (given their depth and name).
fn walk(
    root: &Path,
    depth: Option<usize>,
    budget: &mut Budget,
    keep: impl Fn(&Path) -> bool,
    enter: impl Fn(usize, &str) -> bool,
) -> Found {
    let started = Instant::now();
    let mut found = Found::default();
    let mut visited: HashSet<(u64, u64)> = HashSet::new();
    let mut it = walkdir::WalkDir::new(root)
        .follow_links(true)
        .max_depth(depth.unwrap_or(usize::MAX))
        .into_iter();
    // Unsorted on purpose: walkdir's sorting reads a whole directory
    // before the first entry, and a directory may hold millions; the
    // result is sorted at the end.
    while let Some(entry) = it.next() {
        if budget.entries == 0 {
            found.stopped = Some(Limit::Entries);
            break;
        }
        budget.entries -= 1;
        if started.elapsed() >= budget.time {
            budget.time = Duration::ZERO;
            found.stopped = Some(Limit::Time);
            break;
        }
        // Unreadable entries, broken links and loops to an ancestor are
        // skipped, as `glob::glob` skips them.
        let Ok(entry) = entry else { continue };
        let kind = entry.file_type();
        if kind.is_dir() {
            let Ok(meta) = entry.metadata() else {
                it.skip_current_dir();
                continue;
            };
            let name = entry.file_name().to_string_lossy();
            let inside = entry.depth() == 0 || enter(entry.depth(), &name);
            if !inside || !visited.insert((meta.dev(), meta.ino())) {
                it.skip_current_dir();
            }
            continue;
        }
        // `file_type` is the link's target's: FIFOs, devices and sockets
        // are never taken for tracks (opening a FIFO blocks).
        if !kind.is_file() || !is_audio(entry.path()) || !keep(entry.path()) {
            continue;
        }
        if budget.files == 0 {
            found.stopped = Some(Limit::Files);
            break;
        }
        budget.files -= 1;
        found.files.push(entry.into_path());
    }
    if found.stopped != Some(Limit::Time) {
        budget.time = budget.time.saturating_sub(started.elapsed());
    }
    found.files.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"").unwrap();
    }

    fn names(found: &Found, base: &Path) -> Vec<String> {
        found
            .files
            .iter()
            .map(|f| f.strip_prefix(base).unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// A small tree: what `glob::glob` finds, this finds, in the same order.
    #[test]
    fn matches_what_glob_finds_in_a_plain_tree() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path();
        for f in [
            "a.wav",
            "B.mp3",
            ".hidden.wav",
            "notes.txt",
            "m/x.wav",
            "m/y.flac",
            "m/deep/z.ogg",
            "m/deep/er/w.wav",
            "n/x.wav",
            "[odd]/q.wav",
        ] {
            touch(&b.join(f));
        }
        for pattern in [
            "*.wav",
            "*",
            "m/*.wav",
            "*/x.wav",
            "**/*.wav",
            "m/**/*",
            "**/deep/*",
            "?/*.wav",
            "[mn]/x.wav",
        ] {
            let full = format!("{}/{pattern}", b.display());
            let mut budget = Budget::default();
            let ours = glob(&full, &mut budget).unwrap();
            let mut theirs: Vec<PathBuf> = ::glob::glob(&full)
                .unwrap()
                .filter_map(Result::ok)
                .filter(|f| f.is_file() && is_audio(f))
                .collect();
            theirs.sort();
            assert_eq!(ours.files, theirs, "{pattern}");
            assert!(!theirs.is_empty(), "{pattern}");
            assert_eq!(ours.stopped, None);
        }
    }

    #[test]
    fn a_relative_pattern_gives_relative_paths() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("m/x.wav"));
        let cwd = std::env::current_dir().unwrap();
        // Relative to the temp dir without changing the process's directory.
        let rel = pathdiff(t.path(), &cwd);
        let found = glob(&format!("{}/m/*.wav", rel.display()), &mut Budget::default()).unwrap();
        assert_eq!(found.files, vec![rel.join("m/x.wav")]);
    }

    /// `..` components to the temp dir from `from`.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let ups = from.components().count() - 1;
        let mut p = PathBuf::new();
        for _ in 0..ups {
            p.push("..");
        }
        p.join(to.strip_prefix("/").unwrap())
    }

    /// Two links to a parent made the walk exponential; now each directory
    /// is walked once and each file found once.
    #[test]
    fn links_to_a_parent_are_walked_once() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("music");
        touch(&m.join("a.wav"));
        touch(&m.join("sub/b.wav"));
        symlink("..", m.join("sub/r1")).unwrap();
        symlink("..", m.join("sub/r2")).unwrap();
        symlink("../..", m.join("sub/r3")).unwrap();
        let started = Instant::now();
        let found = glob(&format!("{}/**/*.wav", m.display()), &mut Budget::default()).unwrap();
        assert_eq!(names(&found, &m), ["a.wav", "sub/b.wav"]);
        assert_eq!(found.stopped, None);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A directory reached by two links is walked through one of them.
    #[test]
    fn a_directory_linked_twice_gives_its_files_once() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path();
        touch(&b.join("real/x.wav"));
        fs::create_dir(b.join("m")).unwrap();
        symlink(b.join("real"), b.join("m/one")).unwrap();
        symlink(b.join("real"), b.join("m/two")).unwrap();
        let found = glob(&format!("{}/m/**/*.wav", b.display()), &mut Budget::default()).unwrap();
        assert_eq!(found.files.len(), 1);
        assert!(found.files[0].ends_with("x.wav"));
    }

    #[test]
    fn the_entry_limit_stops_the_walk_and_keeps_what_was_found() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..30 {
            touch(&t.path().join(format!("d{i}/t.wav")));
        }
        let mut budget = Budget {
            entries: 20,
            ..Budget::default()
        };
        let found = glob(&format!("{}/**/*.wav", t.path().display()), &mut budget).unwrap();
        assert_eq!(found.stopped, Some(Limit::Entries));
        assert!(
            !found.files.is_empty() && found.files.len() < 20,
            "{}",
            found.files.len()
        );
        // The budget is the playlist's: the next walk stops at once.
        let next = dir(t.path(), &mut budget);
        assert_eq!(next.stopped, Some(Limit::Entries));
        assert!(next.files.is_empty());
    }

    #[test]
    fn the_file_and_time_limits_stop_the_walk() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..10 {
            touch(&t.path().join(format!("t{i}.wav")));
        }
        let mut budget = Budget {
            files: 4,
            ..Budget::default()
        };
        let found = dir(t.path(), &mut budget);
        assert_eq!((found.files.len(), found.stopped), (4, Some(Limit::Files)));
        let mut budget = Budget {
            time: Duration::ZERO,
            ..Budget::default()
        };
        assert_eq!(dir(t.path(), &mut budget).stopped, Some(Limit::Time));
    }

    #[test]
    fn a_directory_lists_its_own_audio_files_sorted() {
        let t = tempfile::tempdir().unwrap();
        for f in ["c.wav", "a.WAV", "b.txt", "sub/d.wav"] {
            touch(&t.path().join(f));
        }
        let found = dir(t.path(), &mut Budget::default());
        assert_eq!(names(&found, t.path()), ["a.WAV", "c.wav"]);
    }
}
