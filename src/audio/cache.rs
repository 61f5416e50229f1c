//! The decoded-audio cache: each source is decoded, resampled and
//! loudness-measured once per host and stored as raw f32 PCM that every
//! holdmix process maps read-only, so concurrent calls share it through the
//! page cache. Entries are keyed by path, size, mtime and output rate.
//!
//! A cold source is decoded by one process at a time (a lock beside the
//! entry, [`lock`]), as a stream written straight into a temporary file that
//! is renamed into place when whole: memory stays bounded whatever the
//! source's length, two processes never decode the same source at once, and
//! none ever sees a torn entry. Each entry carries a checksum ([`entry`]);
//! a damaged one is logged, removed and rebuilt. An entry is read whole to
//! check it once per boot, not by every process ([`verified`]).

use super::clip::Clip;
use super::prepare::{self, Prepared, Sink};
use anyhow::{Context, Result, bail};
use entry::{EntryWriter, Refused};
use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use verified::Verified;

mod entry;
mod lock;
mod verified;

pub use entry::HEADER;

/// How long a process waits for another one's decode of the same source
/// before decoding it itself: far longer than decoding a 4-hour source
/// takes, so only a hung decoder (not a dead one: its lock is gone) is
/// waited out.
const PATIENCE: Duration = Duration::from_secs(600);

/// Where cache entries live. `dir == None` means decode into memory only.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
    /// The entries verified on this boot.
    verified: Arc<Verified>,
}

impl Cache {
    /// Opens the cache at `dir`, or the default location: `$XDG_CACHE_HOME/holdmix`,
    /// else `/var/cache/holdmix`, else `$HOME/.cache/holdmix`. A location that
    /// cannot be created is skipped; with none, sources are decoded in memory.
    pub fn open(dir: Option<&Path>) -> Cache {
        let candidates: Vec<PathBuf> = match dir {
            Some(d) => vec![d.to_path_buf()],
            None => {
                let mut c = Vec::new();
                if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
                    c.push(PathBuf::from(x).join("holdmix"));
                }
                c.push(PathBuf::from("/var/cache/holdmix"));
                if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
                    c.push(PathBuf::from(h).join(".cache/holdmix"));
                }
                c
            }
        };
        for c in candidates {
            let why = match fs::create_dir_all(&c) {
                Ok(()) if writable(&c) => {
                    return Cache {
                        dir: Some(c),
                        verified: Arc::new(Verified::for_user()),
                    };
                }
                Ok(()) => "not writable".to_string(),
                Err(e) => e.to_string(),
            };
            tracing::warn!(dir = %c.display(), "cache directory not usable: {why}");
        }
        Cache::in_memory()
    }

    /// A cache that never touches disk.
    pub fn in_memory() -> Cache {
        Cache {
            dir: None,
            verified: Arc::new(Verified::for_user()),
        }
    }

    /// This cache, reading every entry whole to check it whatever the
    /// markers of this boot say (see [`verified`]): for `check` and `cache
    /// warm`, which are run to find damage. Calls trust the markers.
    pub fn reading_whole(self) -> Cache {
        Cache {
            verified: Arc::new(Verified::for_user().untrusting()),
            ..self
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cache file for `source` at `rate`, if there is a cache directory.
    pub fn entry_path(&self, source: &Path, rate: u32) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else { return Ok(None) };
        let meta = fs::metadata(source).with_context(|| format!("{}: cannot read", source.display()))?;
        if !meta.is_file() {
            bail!("{}: not a regular file", source.display());
        }
        let canonical = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let mut h = Fnv::new();
        h.write(&entry::VERSION.to_le_bytes());
        h.write(canonical.as_os_str().as_encoded_bytes());
        h.write(&meta.len().to_le_bytes());
        h.write(&mtime.as_secs().to_le_bytes());
        h.write(&mtime.subsec_nanos().to_le_bytes());
        h.write(&rate.to_le_bytes());
        let stem: String = source
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        Ok(Some(dir.join(format!("{stem}-{:016x}-{rate}.f32", h.finish()))))
    }

    /// The clip for `source` at `rate` if it is cached already (and whole:
    /// its checksum is verified). A damaged entry is logged and reported as
    /// not cached; the next [`Cache::load`] rebuilds it.
    pub fn lookup(&self, source: &Path, rate: u32) -> Result<Option<Clip>> {
        let Some(entry) = self.entry_path(source, rate)? else {
            return Ok(None);
        };
        Ok(self.check(&entry, rate, display_name(source), true))
    }

    /// As [`Cache::lookup`], but only for an entry of at most `max_bytes`:
    /// verifying an entry reads all of it (about 1 ms per MB here), which
    /// the first frame cannot wait for with an hour of music; a larger one
    /// is `None`, for a helper thread to [`Cache::load`] (and verify).
    pub fn lookup_within(&self, source: &Path, rate: u32, max_bytes: u64) -> Result<Option<Clip>> {
        let Some(entry) = self.entry_path(source, rate)? else {
            return Ok(None);
        };
        match fs::metadata(&entry) {
            Ok(m) if m.len() <= max_bytes => Ok(self.check(&entry, rate, display_name(source), true)),
            _ => Ok(None),
        }
    }

    /// The clip for `source` at `rate`: from the cache, or decoded now and
    /// stored. A cache that cannot be written is not an error: the clip is
    /// then kept in memory. If another process is decoding the same source,
    /// waits for its entry.
    pub fn load(&self, source: &Path, rate: u32) -> Result<Clip> {
        match self.load_inner(source, rate, Some(PATIENCE))? {
            Some(clip) => Ok(clip),
            // Only `None` patience gives up.
            None => bail!("{}: not loaded", source.display()),
        }
    }

    /// As [`Cache::load`], but `Ok(None)` at once if another process is
    /// decoding this source right now (so a caller can do something else
    /// first and come back).
    pub fn load_unless_busy(&self, source: &Path, rate: u32) -> Result<Option<Clip>> {
        self.load_inner(source, rate, None)
    }

    fn load_inner(&self, source: &Path, rate: u32, patience: Option<Duration>) -> Result<Option<Clip>> {
        let name = display_name(source);
        let Some(entry) = self.entry_path(source, rate)? else {
            return in_memory(source, rate, name).map(Some);
        };
        if let Some(clip) = self.check(&entry, rate, name.clone(), true) {
            return Ok(Some(clip));
        }
        let lock_path = lock::path_for(&entry);
        let held = match lock::try_lock(&lock_path) {
            Ok(Some(l)) => Some(l),
            Ok(None) => {
                let Some(patience) = patience else { return Ok(None) };
                tracing::debug!(file = %source.display(), "another process is decoding it: waiting");
                match lock::lock_within(&lock_path, patience) {
                    Ok(Some(l)) => Some(l),
                    Ok(None) => {
                        tracing::warn!(file = %source.display(), "waited {} s for another process's decode: decoding here", patience.as_secs());
                        None
                    }
                    Err(e) => {
                        tracing::warn!(file = %lock_path.display(), "cannot lock: {e}");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(file = %lock_path.display(), "cannot lock: {e}");
                None
            }
        };
        // Whoever held the lock may have published the entry meanwhile.
        if let Some(clip) = self.check(&entry, rate, name.clone(), false) {
            return Ok(Some(clip));
        }
        if held.is_some() {
            // A damaged entry goes now, even if the rebuild fails.
            let _ = fs::remove_file(&entry);
        }
        let built = build(source, rate, &entry, held.is_some());
        drop(held);
        match built {
            Ok(Some(file)) => match entry::open(&file, rate, name.clone(), false) {
                Ok(clip) => Ok(Some(clip)),
                Err(e) => {
                    tracing::warn!(file = %entry.display(), "cache entry unreadable after writing: {e}");
                    in_memory(source, rate, name).map(Some)
                }
            },
            Ok(None) => in_memory(source, rate, name).map(Some),
            Err(e) => Err(e),
        }
    }

    /// Maps the entry at `path` if it is there and whole (read whole and
    /// checked, unless it passed already on this boot: [`verified`]); a
    /// damaged one is logged (when `log`) and `None`.
    fn check(&self, path: &Path, rate: u32, name: Arc<str>, log: bool) -> Option<Clip> {
        let file = File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        let known = self.verified.trusted(path, &meta);
        match entry::open(&file, rate, name, !known) {
            Ok(clip) => {
                if !known {
                    self.verified.remember(path, &meta);
                }
                Some(clip)
            }
            Err(Refused::Bad(why)) => {
                if log {
                    tracing::warn!(file = %path.display(), "damaged cache entry ({why}): rebuilding it");
                }
                None
            }
            Err(Refused::Missing(_)) => None,
        }
    }
}

/// Decodes, resamples and measures one source into memory.
pub fn prepare(source: &Path, rate: u32) -> Result<(Vec<f32>, Option<f64>, usize)> {
    let mut samples = Vec::new();
    let p = prepare::prepare_into(source, rate, &mut samples)?;
    Ok((samples, p.lufs, p.damaged))
}

fn in_memory(source: &Path, rate: u32, name: Arc<str>) -> Result<Clip> {
    let (samples, lufs, damaged) = prepare(source, rate)?;
    warn_damaged(source, damaged);
    Ok(Clip::from_vec(name, samples, lufs))
}

fn warn_damaged(source: &Path, damaged: usize) {
    if damaged > 0 {
        tracing::warn!(file = %source.display(), damaged, "damaged audio: skipped undecodable packets");
    }
}

/// An entry being written; remembers whether the failure was the cache's.
struct Writing {
    writer: EntryWriter,
    failed: bool,
}

impl Sink for Writing {
    fn push(&mut self, samples: &[f32]) -> Result<()> {
        let r = self.writer.push(samples);
        self.failed |= r.is_err();
        r
    }
}

/// Decodes `source` into a new entry at `entry`: `Ok(Some(file))` once it
/// is in place, `Ok(None)` if the cache could not take it (the caller keeps
/// it in memory), `Err` if the source cannot be decoded. With the lock
/// held, the partial file has a fixed name (`<entry>.part`), so one a
/// killed decoder left is reused, not piled up; without, a private name.
fn build(source: &Path, rate: u32, entry: &Path, locked: bool) -> Result<Option<File>> {
    // The header first: a source refused by it leaves no trace in the cache.
    let stream = super::decode::Stream::open(source)?;
    let cache_failed = |e: &dyn std::fmt::Display| {
        tracing::warn!(file = %entry.display(), "cache write failed: {e}");
        Ok(None)
    };
    let target = if locked {
        let mut p = entry.as_os_str().to_owned();
        p.push(".part");
        let part = PathBuf::from(p);
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&part)
            .map(|f| (f, Partial::Fixed(Some(part))))
    } else {
        let dir = entry.parent().unwrap_or(Path::new("."));
        tempfile::NamedTempFile::new_in(dir).and_then(|t| Ok((t.reopen()?, Partial::Private(Some(t)))))
    };
    let (file, mut partial) = match target {
        Ok(x) => x,
        Err(e) => return cache_failed(&e),
    };
    tracing::debug!(file = %source.display(), rate, "decoding into the cache");
    let mut w = match EntryWriter::new(file) {
        Ok(writer) => Writing {
            writer,
            failed: false,
        },
        Err(e) => return cache_failed(&format!("{e:#}")),
    };
    let p: Prepared = match prepare::prepare_stream(stream, source, rate, &mut w) {
        Ok(p) => p,
        Err(e) if w.failed => return cache_failed(&format!("{e:#}")),
        Err(e) => return Err(e),
    };
    warn_damaged(source, p.damaged);
    let published = w.writer.finish(rate, p.lufs).and_then(|file| {
        // Temp files are private (0600); entries must be readable by every
        // user that runs holdmix (root warms the cache, asterisk reads it).
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        // Readers may map the entry the moment it appears: publish whole files only.
        partial.publish(entry)?;
        Ok(file)
    });
    match published {
        Ok(file) => Ok(Some(file)),
        Err(e) => cache_failed(&format!("{e:#}")),
    }
}

/// The file an entry is written to before its rename: a fixed name (with
/// the lock held) or a private temp file. Removed on every way out but a
/// successful [`Partial::publish`].
enum Partial {
    Fixed(Option<PathBuf>),
    Private(Option<tempfile::NamedTempFile>),
}

impl Partial {
    fn publish(&mut self, entry: &Path) -> Result<()> {
        match self {
            Partial::Fixed(p) => {
                if let Some(path) = p {
                    fs::rename(&*path, entry)?;
                    *p = None;
                }
            }
            Partial::Private(t) => {
                if let Some(t) = t.take() {
                    t.persist(entry).map_err(|e| e.error)?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Partial::Fixed(Some(p)) = self {
            let _ = fs::remove_file(p);
        }
    }
}

fn display_name(source: &Path) -> Arc<str> {
    Arc::from(
        source
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
            .as_ref(),
    )
}

/// Whether this process may create files in `dir` (its effective ids, a
/// read-only mount): asked of the kernel, not tried with a file, which
/// every call's process would create and remove in the shared directory.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string; faccessat only reads it.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::W_OK | libc::X_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

/// 64-bit FNV-1a. Hand-written: the key must be stable across Rust releases
/// (std's `DefaultHasher` is not) and need not be cryptographic.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_value() {
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
    }
}
