//! Entries already verified on this boot. Checking an entry's checksum
//! reads all of it (a 60 s bed at 8 kHz: 1.9 MB, about a millisecond of
//! CPU), and every process that maps it used to pay that: a hundred calls
//! taken over at once when a hub dies paid it a hundred times. Once an
//! entry passes, a marker records the file's identity, and a process that
//! finds the same identity maps the entry without reading it again.
//!
//! The identity is (device, inode, size, mtime, ctime) to the nanosecond:
//! any write to the file (a rebuild renamed into place, a stray write that
//! flips a bit, a backup copied over it) sets its ctime to the time of the
//! write, which no process can set back. A marker is written only for an
//! entry whose ctime is at least [`MARGIN`] old, longer than any file
//! system's timestamp step: a write after the marker then always gives a
//! later ctime, even where timestamps are coarse (as git's "racy" check).
//!
//! Markers are symlinks (one `readlink` to look one up), named by the
//! entry's path, pointing at the identity; they live in tmpfs, in a
//! directory private to the user (gone at reboot, and nobody else can
//! plant one): `/dev/shm/holdmix-UID/verified`, where the hub and its
//! calls share it whatever their `XDG_RUNTIME_DIR`, else
//! `$XDG_RUNTIME_DIR/holdmix/verified`. With neither, every entry is
//! verified as before.

use std::fs::Metadata;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How old an entry's ctime must be before its marker is written.
pub(super) const MARGIN: Duration = Duration::from_secs(2);
/// More markers than this (stale ones of entries rebuilt since) are all
/// removed at the next write, at most once per [`SWEEP_EVERY`].
const MAX_MARKERS: usize = 10_000;
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Where markers are kept (resolved at the first use, so commands that
/// never open an entry create no directory).
#[derive(Debug)]
pub struct Verified {
    /// Whether markers are looked up (they are written either way).
    trust: bool,
    dir: OnceLock<Option<PathBuf>>,
    /// The directory asked for; `None`: this user's default.
    at: Option<PathBuf>,
    margin: Duration,
}

impl Verified {
    /// This user's markers.
    pub fn for_user() -> Verified {
        Verified {
            trust: true,
            dir: OnceLock::new(),
            at: None,
            margin: MARGIN,
        }
    }

    /// Markers in `dir` (created private if missing), written for entries
    /// whose ctime is `margin` old (tests: their own, with a short margin).
    #[cfg(test)]
    pub fn at(dir: PathBuf, margin: Duration) -> Verified {
        Verified {
            trust: true,
            dir: OnceLock::new(),
            at: Some(dir),
            margin,
        }
    }

    /// The same markers, written but never trusted: every entry is read
    /// whole. For the commands that look for damage (`check`, `cache
    /// warm`): a marker cannot see a bit flipped below the file system,
    /// which leaves the file's identity as it was.
    pub fn untrusting(self) -> Verified {
        Verified { trust: false, ..self }
    }

    fn dir(&self) -> Option<&Path> {
        self.dir
            .get_or_init(|| match &self.at {
                Some(d) => private(d),
                None => default_dir(),
            })
            .as_deref()
    }

    /// Whether the entry at `path`, of these metadata, passed on this boot.
    pub fn trusted(&self, path: &Path, meta: &Metadata) -> bool {
        if !self.trust {
            return false;
        }
        let Some(dir) = self.dir() else { return false };
        std::fs::read_link(dir.join(name(path)))
            .is_ok_and(|target| target.as_os_str().as_encoded_bytes() == identity(meta).as_bytes())
    }

    /// The entry at `path`, of these metadata, has just passed.
    pub fn remember(&self, path: &Path, meta: &Metadata) {
        let Some(dir) = self.dir() else { return };
        let changed = UNIX_EPOCH + Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec() as u32);
        let settled = SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age >= self.margin);
        if !settled {
            return;
        }
        if crate::util::marker::due(&dir.join(".swept"), SWEEP_EVERY) {
            sweep(dir);
        }
        // Made aside and renamed over: a reader sees the old marker or the
        // new, never none or half of one.
        let name = name(path);
        let tmp = dir.join(format!(".{}.{name}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(identity(meta), &tmp).is_ok()
            && std::fs::rename(&tmp, dir.join(&name)).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The file's identity, as a marker's target.
fn identity(m: &Metadata) -> String {
    format!(
        "{:x}.{:x}.{:x}.{}.{}.{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

/// A marker's name: a hash of the entry's path, so an entry has one marker
/// however often it is rebuilt.
fn name(path: &Path) -> String {
    let mut h = super::Fnv::new();
    h.write(path.as_os_str().as_encoded_bytes());
    format!("{:016x}", h.finish())
}

fn default_dir() -> Option<PathBuf> {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let mine = shm.join(format!("holdmix-{uid}"));
        if let Some(d) = private(&mine).and_then(|_| private(&mine.join("verified"))) {
            return Some(d);
        }
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty())?;
    private(&PathBuf::from(runtime).join("holdmix/verified"))
}

/// `dir`, created if missing, if it is ours alone (see `state`).
fn private(dir: &Path) -> Option<PathBuf> {
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
    match crate::state::private_dir(dir) {
        Ok(()) => Some(dir.to_path_buf()),
        Err(e) => {
            tracing::debug!("{e}: cache entries are verified each time");
            None
        }
    }
}

/// Removes every marker once there are too many (stale ones of entries
/// since rebuilt): each costs only a verification to write again.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<_> = entries
        .flatten()
        .take(MAX_MARKERS + 1)
        .map(|e| e.file_name())
        .collect();
    if names.len() <= MAX_MARKERS {
        return;
    }
    for n in names.iter().filter(|n| n.to_str().is_some_and(|n| n.len() == 16)) {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Cache;
    use super::super::entry::EntryWriter;
    use super::*;
    use std::sync::Arc;

    const SAMPLES: usize = 256 * 1024;
    const BYTES: u64 = 4 * SAMPLES as u64;

    /// An entry of 1 MiB of samples at `path`.
    fn entry(path: &Path) {
        let mut w = EntryWriter::new(std::fs::File::create(path).unwrap()).unwrap();
        let samples: Vec<f32> = (0..SAMPLES).map(|i| (i % 100) as f32 / 100.0).collect();
        w.push(&samples).unwrap();
        w.finish(8000, None).unwrap();
    }

    /// Bytes this thread has read with read(2)/pread(2) so far.
    fn read_by_me() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        let line = io.lines().find(|l| l.starts_with("rchar:")).unwrap();
        line["rchar:".len()..].trim().parse().unwrap()
    }

    /// Whether `check` maps the entry, and how many bytes it read to.
    fn check(cache: &Cache, path: &Path) -> (bool, u64) {
        let before = read_by_me();
        let ok = cache.check(path, 8000, Arc::from("x"), false).is_some();
        (ok, read_by_me() - before)
    }

    fn cache(dir: &Path, markers: PathBuf, margin: Duration) -> Cache {
        Cache {
            dir: Some(dir.to_path_buf()),
            verified: Arc::new(Verified::at(markers, margin)),
        }
    }

    #[test]
    fn a_verified_entry_is_trusted_without_a_read_and_a_changed_one_is_read_and_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("e.f32");
        entry(&path);
        let margin = Duration::from_millis(100);
        // The entry's ctime must be older than the margin to be marked.
        std::thread::sleep(margin + Duration::from_millis(50));
        let c = cache(tmp.path(), tmp.path().join("m"), margin);
        let (ok, read) = check(&c, &path);
        assert!(ok && read >= BYTES, "first open: verified ({read} bytes read)");
        let (ok, read) = check(&c, &path);
        assert!(ok && read < 4096, "second open: trusted ({read} bytes read)");

        // One bit of one sample, the file rewritten in place (same inode,
        // same size): its ctime moves, so it is read again and refused.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[super::super::HEADER + 4 * 1000 + 1] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        let (ok, read) = check(&c, &path);
        assert!(
            !ok && read >= BYTES,
            "changed: re-verified and refused ({read} bytes read)"
        );
        let (ok, _) = check(&c, &path);
        assert!(!ok, "a refused entry stays refused");
    }

    #[test]
    fn damage_under_a_marker_is_found_only_by_an_untrusting_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("e.f32");
        entry(&path);
        // A sample damaged below the file system: the marker (made here
        // after the damage, for want of a disk that flips bits) still
        // names the file's identity.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[super::super::HEADER + 4 * 1000 + 1] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        let markers = tmp.path().join("m");
        Verified::at(markers.clone(), Duration::ZERO).remember(&path, &std::fs::metadata(&path).unwrap());
        let trusting = cache(tmp.path(), markers.clone(), Duration::ZERO);
        let (ok, read) = check(&trusting, &path);
        assert!(ok && read < 4096, "a call trusts the marker ({read} bytes read)");
        let untrusting = Cache {
            dir: Some(tmp.path().to_path_buf()),
            verified: Arc::new(Verified::at(markers, Duration::ZERO).untrusting()),
        };
        let (ok, read) = check(&untrusting, &path);
        assert!(!ok && read >= BYTES, "read whole and refused ({read} bytes read)");
    }

    #[test]
    fn a_just_written_entry_is_not_marked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("e.f32");
        entry(&path);
        let c = cache(tmp.path(), tmp.path().join("m"), Duration::from_secs(3600));
        for _ in 0..2 {
            let (ok, read) = check(&c, &path);
            assert!(ok && read >= BYTES, "verified each time ({read} bytes read)");
        }
        let markers = std::fs::read_dir(tmp.path().join("m")).unwrap().count();
        assert_eq!(markers, 0);
    }

    #[test]
    fn markers_in_a_directory_open_to_others_are_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("e.f32");
        entry(&path);
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        // Another user's marker for this very entry.
        let meta = std::fs::metadata(&path).unwrap();
        std::os::unix::fs::symlink(identity(&meta), shared.join(name(&path))).unwrap();
        let c = cache(tmp.path(), shared, Duration::ZERO);
        let (ok, read) = check(&c, &path);
        assert!(ok && read >= BYTES, "verified anyway ({read} bytes read)");
    }
}
