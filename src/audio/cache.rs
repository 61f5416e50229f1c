//! The decoded-audio cache: each source is decoded, resampled and
//! loudness-measured once per host and stored as raw f32 PCM that every
//! holdmix process maps read-only, so concurrent calls share it through the
//! page cache. Entries are keyed by path, size, mtime and output rate, and are
//! written atomically (temp file + rename): two processes warming the same
//! file never see a torn entry.

use super::clip::Clip;
use super::{decode, loudness, resample};
use anyhow::{Context, Result, bail};
use memmap2::Mmap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

const MAGIC: &[u8; 8] = b"HMXCACHE";
const VERSION: u32 = 1;
/// Header size; a multiple of 4 keeps the samples f32-aligned in the map.
const HEADER: usize = 64;

/// Where cache entries live. `dir == None` means decode into memory only.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
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
            if fs::create_dir_all(&c).is_ok() && writable(&c) {
                return Cache { dir: Some(c) };
            }
            tracing::warn!(dir = %c.display(), "cache directory not usable");
        }
        Cache { dir: None }
    }

    /// A cache that never touches disk.
    pub fn in_memory() -> Cache {
        Cache { dir: None }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cache file for `source` at `rate`, if there is a cache directory.
    pub fn entry_path(&self, source: &Path, rate: u32) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else { return Ok(None) };
        let meta = fs::metadata(source).with_context(|| format!("{}: cannot read", source.display()))?;
        if !meta.is_file() {
            bail!("{}: not a file", source.display());
        }
        let canonical = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let mut h = Fnv::new();
        h.write(&VERSION.to_le_bytes());
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

    /// The clip for `source` at `rate` if it is cached already.
    pub fn lookup(&self, source: &Path, rate: u32) -> Result<Option<Clip>> {
        let Some(entry) = self.entry_path(source, rate)? else {
            return Ok(None);
        };
        match File::open(&entry) {
            Ok(f) => Ok(map_entry(&f, rate, display_name(source)).ok()),
            Err(_) => Ok(None),
        }
    }

    /// The clip for `source` at `rate`: from the cache, or decoded now and
    /// stored. A cache that cannot be written is not an error: the clip is
    /// then kept in memory.
    pub fn load(&self, source: &Path, rate: u32) -> Result<Clip> {
        if let Some(clip) = self.lookup(source, rate)? {
            return Ok(clip);
        }
        let (samples, lufs, damaged) = prepare(source, rate)?;
        if damaged > 0 {
            tracing::warn!(file = %source.display(), damaged, "damaged audio: skipped undecodable packets");
        }
        let name = display_name(source);
        if let Some(entry) = self.entry_path(source, rate)? {
            match store(&entry, rate, &samples, lufs).and_then(|f| map_entry(&f, rate, name.clone())) {
                Ok(clip) => return Ok(clip),
                Err(e) => tracing::warn!(file = %entry.display(), "cache write failed: {e:#}"),
            }
        }
        Ok(Clip::from_vec(name, samples, lufs))
    }
}

/// Decodes, resamples and measures one source.
pub fn prepare(source: &Path, rate: u32) -> Result<(Vec<f32>, Option<f64>, usize)> {
    let decoded = decode::decode_file(source)?;
    let samples = resample::resample(&decoded.samples, decoded.rate, rate)
        .with_context(|| format!("{}: resampling failed", source.display()))?;
    let lufs = loudness::integrated_lufs(&samples, rate);
    Ok((samples, lufs, decoded.damaged_packets))
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

fn writable(dir: &Path) -> bool {
    tempfile::NamedTempFile::new_in(dir).is_ok()
}

fn store(entry: &Path, rate: u32, samples: &[f32], lufs: Option<f64>) -> Result<File> {
    let dir = entry.parent().context("cache entry has no directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&rate.to_le_bytes());
    header[16..24].copy_from_slice(&(samples.len() as u64).to_le_bytes());
    header[24..32].copy_from_slice(&lufs.unwrap_or(f64::NAN).to_le_bytes());
    let mut w = std::io::BufWriter::new(tmp.as_file_mut());
    w.write_all(&header)?;
    for s in samples {
        w.write_all(&s.to_le_bytes())?;
    }
    w.flush()?;
    drop(w);
    // Temp files are private (0600); entries must be readable by every user
    // that runs holdmix (root warms the cache, asterisk reads it).
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    // Readers may map the entry the moment it appears: publish whole files only.
    let file = tmp.persist(entry).map_err(|e| e.error)?;
    Ok(file)
}

fn map_entry(file: &File, rate: u32, name: Arc<str>) -> Result<Clip> {
    // The header is read, not mapped: touching the mapping would fault in
    // (and charge to this process) the surrounding 64 KiB of every entry,
    // prompts that may never play included.
    let mut header = [0u8; HEADER];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut header, 0).context("bad cache header")?;
    if &header[..8] != MAGIC {
        bail!("bad cache header");
    }
    let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let mut n = [0u8; 8];
    n.copy_from_slice(&header[16..24]);
    let len = u64::from_le_bytes(n) as usize;
    n.copy_from_slice(&header[24..32]);
    let lufs = f64::from_le_bytes(n);
    let size = file.metadata()?.len();
    if word(8) != VERSION
        || word(12) != rate
        || Some(size) != (len as u64).checked_mul(4).map(|b| b + HEADER as u64)
    {
        bail!("cache entry does not match");
    }
    // SAFETY: entries are only ever replaced by rename, never written in
    // place, so the mapped bytes cannot change under us.
    let map = unsafe { Mmap::map(file)? };
    if map.len() as u64 != size {
        bail!("cache entry changed while opening");
    }
    let lufs = lufs.is_finite().then_some(lufs);
    Clip::from_map(name, map, HEADER, len, lufs).context("cache entry misaligned")
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
    fn store_then_map_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("x.f32");
        let f = store(&entry, 8000, &[0.25, -0.5, 1.0], Some(-20.5)).unwrap();
        let clip = map_entry(&f, 8000, Arc::from("x")).unwrap();
        assert_eq!(clip.samples(), &[0.25, -0.5, 1.0]);
        assert_eq!(clip.lufs(), Some(-20.5));
        assert!(map_entry(&f, 16000, Arc::from("x")).is_err());
    }

    #[test]
    fn fnv_known_value() {
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
    }
}
