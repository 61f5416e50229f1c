//! Removing checkpoints from outside their calls: all of one call's at
//! once when the call is over (the hub sees its `Hangup`; Asterisk has
//! SIGHUPed the generator already at `MusicOnHoldStop`, which leaves its
//! file for a respawn), and a bound on the directory's file count, the
//! oldest swept first, so a host that never sees the hangups (no hub, a
//! lost AMI session) still keeps a tmpfs of bounded size.

use super::StateDir;
use super::layout::{self, call_name};

/// Checkpoint files kept at most: more than the calls on hold of any one
/// host (the hub serves 4096 by default), about 80 MB of tmpfs at the
/// 8 KiB each allocates.
pub const MAX_FILES: usize = 10_000;

impl StateDir {
    /// The call is over: every checkpoint of it goes, whoever wrote it (a
    /// generator still running writes on into its unlinked file, and
    /// nothing resumes from it). The number removed.
    pub fn remove_call(&self, uniqueid: &str) -> usize {
        let Some(name) = call_name(uniqueid) else {
            return 0;
        };
        let removed = self
            .files_of(name)
            .into_iter()
            .filter(|(path, _)| std::fs::remove_file(path).is_ok())
            .count();
        layout::remove_if_empty(self.path(), name);
        removed
    }

    /// Keeps at most `max` checkpoint files, removing the least recently
    /// written first (never this process's own). The number removed.
    pub fn bound(&self, max: usize) -> usize {
        // A listing of a directory that something floods stops at four
        // times the bound: the next bound goes on.
        let found = layout::walk(self.path(), 4 * max.max(1), &self.flat);
        self.bound_among(found, max)
    }

    /// [`StateDir::bound`] over the files a walk found (the sweep's own,
    /// not a second walk).
    pub(super) fn bound_among(&self, found: Vec<layout::Found>, max: usize) -> usize {
        let me = std::process::id();
        let mut files: Vec<_> = found
            .into_iter()
            .filter_map(|f| (f.pid != me).then_some((f.modified?, f.path)))
            .collect();
        if files.len() <= max {
            return 0;
        }
        files.sort_unstable();
        let over = files.len() - max;
        files[..over]
            .iter()
            .filter(|(_, path)| std::fs::remove_file(path).is_ok())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::Snapshot;
    use std::time::{Duration, SystemTime};

    fn touch(dir: &std::path::Path, name: &str, age_s: u64) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
    }

    #[test]
    fn a_call_over_loses_every_checkpoint_and_only_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = StateDir::open(Some(&tmp.path().join("calls"))).unwrap();
        let mut w = sd.writer("1795452414.1").unwrap();
        w.write(&Snapshot::default());
        // An earlier generator's file (dead pid) and another call's.
        touch(sd.path(), "1795452414.1/4000000", 5);
        touch(sd.path(), "1795452414.10/4000001", 5);
        assert_eq!(sd.remove_call("1795452414.1"), 2);
        assert!(sd.load("1795452414.1").is_none());
        assert!(
            !sd.path().join("1795452414.1").exists(),
            "the call's directory goes"
        );
        assert!(sd.path().join("1795452414.10/4000001").exists());
        assert_eq!(sd.remove_call("../x"), 0);
    }

    #[test]
    fn the_oldest_go_first_past_the_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let sd = StateDir::open(Some(&tmp.path().join("calls"))).unwrap();
        // Five calls' files, and a sixth's flat one (an upgrade's).
        for i in 0..5u64 {
            touch(
                sd.path(),
                &format!("17000000{i}.1/{}", 4_000_000 + i),
                100 - i * 10,
            );
        }
        touch(sd.path(), "170000005.1.4000005", 50);
        touch(sd.path(), ".swept", 1000);
        assert_eq!(sd.bound(10), 0);
        assert_eq!(sd.bound(4), 2);
        // The next walk removes the emptied directories.
        assert_eq!(sd.bound(4), 0);
        let mut left: Vec<String> = walkdir(sd.path());
        left.sort();
        assert_eq!(
            left,
            [
                ".swept",
                "170000002.1/4000002",
                "170000003.1/4000003",
                "170000004.1/4000004",
                "170000005.1.4000005"
            ]
        );
    }

    /// What a directory holds: its files, and those of its directories as
    /// `dir/file`.
    fn walkdir(dir: &std::path::Path) -> Vec<String> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                    names.push(format!("{name}/{}", f.file_name().into_string().unwrap()));
                }
            } else {
                names.push(name);
            }
        }
        names
    }
}
