//! The cache entry format: a 64-byte header, then mono f32 samples
//! (little-endian). The header carries the rate, the length, the measured
//! loudness and a CRC-32 of the header and the samples, so an entry that a
//! disk, a stray write or a half-copied backup damaged is refused (and
//! rebuilt) rather than played as full-scale noise.
//!
//! | bytes  | field                                                      |
//! |--------|------------------------------------------------------------|
//! | 0..8   | magic `HMXCACHE`                                           |
//! | 8..12  | format version (2)                                         |
//! | 12..16 | rate in Hz                                                 |
//! | 16..24 | number of samples                                          |
//! | 24..32 | integrated loudness in LUFS (f64), 0 when there is none    |
//! | 32..36 | CRC-32 of the samples, then of this header with 32..36 zero |
//! | 36..40 | flags: bit 0 = the loudness field holds a measurement      |
//! | 40..64 | zero                                                       |

use crate::audio::clip::Clip;
use anyhow::{Context, Result, bail};
use memmap2::Mmap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

pub(super) const MAGIC: &[u8; 8] = b"HMXCACHE";
/// Version 1 had no checksum and stored "no loudness" as NaN. The version
/// is part of the entry's name too, so version-1 entries are never opened.
pub(super) const VERSION: u32 = 2;
/// Header size; a multiple of 4 keeps the samples f32-aligned in the map.
pub const HEADER: usize = 64;
const HAS_LOUDNESS: u32 = 1;
/// The loudness a real source can measure: the R128 gate drops blocks below
/// -70 LUFS, and a full-scale square wave measures about +3.
const LUFS_RANGE: std::ops::RangeInclusive<f64> = -75.0..=10.0;
/// Bytes read per `pread` while verifying.
const VERIFY_CHUNK: usize = 256 * 1024;

/// Writes an entry as samples arrive, into a file opened for it (the
/// caller renames it into place once [`EntryWriter::finish`] returns).
pub struct EntryWriter {
    out: BufWriter<File>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl EntryWriter {
    /// Starts an entry in `file` (empty, opened for writing).
    pub fn new(file: File) -> Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(&[0u8; HEADER])?;
        Ok(EntryWriter {
            out,
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<()> {
        for s in samples {
            let b = s.to_le_bytes();
            self.crc.update(&b);
            self.out.write_all(&b)?;
        }
        self.len += samples.len() as u64;
        Ok(())
    }

    /// Writes the header (length, loudness, checksum) and returns the file.
    pub fn finish(self, rate: u32, lufs: Option<f64>) -> Result<File> {
        let mut header = header(rate, self.len, lufs);
        let mut crc = self.crc;
        crc.update(&header);
        header[32..36].copy_from_slice(&crc.finalize().to_le_bytes());
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header)?;
        Ok(file)
    }
}

/// A header with its checksum field zero.
fn header(rate: u32, len: u64, lufs: Option<f64>) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&rate.to_le_bytes());
    h[16..24].copy_from_slice(&len.to_le_bytes());
    if let Some(l) = lufs {
        h[24..32].copy_from_slice(&l.to_le_bytes());
        h[36..40].copy_from_slice(&HAS_LOUDNESS.to_le_bytes());
    }
    h
}

/// What a header says, once it is known to be well-formed for `rate`.
struct Header {
    len: usize,
    lufs: Option<f64>,
    crc: u32,
}

/// Why an entry is refused: `Missing` is an entry of another rate or
/// format (not damage); `Bad` is a damaged entry, to log and rebuild.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Missing(&'static str),
    #[error("{0}")]
    Bad(String),
}

fn parse(header: &[u8; HEADER], rate: u32, size: u64) -> Result<Header, Refused> {
    let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let quad = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        b
    };
    if &header[..8] != MAGIC {
        return Err(Refused::Bad("bad magic".into()));
    }
    if word(8) != VERSION {
        return Err(Refused::Missing("another format version"));
    }
    if word(12) != rate {
        return Err(Refused::Missing("another rate"));
    }
    let len = u64::from_le_bytes(quad(16));
    if Some(size) != len.checked_mul(4).and_then(|b| b.checked_add(HEADER as u64)) {
        return Err(Refused::Bad(format!("{size} bytes for {len} samples")));
    }
    let len = usize::try_from(len).map_err(|_| Refused::Bad("too long for this host".into()))?;
    let flags = word(36);
    let raw = f64::from_le_bytes(quad(24));
    let lufs = match flags {
        0 if raw.to_bits() == 0 => None,
        HAS_LOUDNESS if LUFS_RANGE.contains(&raw) => Some(raw),
        HAS_LOUDNESS => return Err(Refused::Bad(format!("loudness {raw} LUFS out of range"))),
        _ => return Err(Refused::Bad("bad flags".into())),
    };
    if header[40..].iter().any(|&b| b != 0) {
        return Err(Refused::Bad("bad header padding".into()));
    }
    Ok(Header {
        len,
        lufs,
        crc: word(32),
    })
}

/// Reads and checks an entry's header, verifies its checksum over the whole
/// file when `verify` (read with `pread`, so the samples are not faulted
/// into this process's map), and maps it. (`verify` is false only for the
/// file this process has just written.)
pub fn open(file: &File, rate: u32, name: Arc<str>, verify: bool) -> Result<Clip, Refused> {
    let io = |e: std::io::Error| Refused::Bad(format!("cannot read: {e}"));
    let size = file.metadata().map_err(io)?.len();
    let mut header = [0u8; HEADER];
    if size < HEADER as u64 {
        return Err(Refused::Bad(format!("{size} bytes, shorter than a header")));
    }
    file.read_exact_at(&mut header, 0).map_err(io)?;
    let h = parse(&header, rate, size)?;
    if verify {
        check_sum(file, &header, h.crc).map_err(|e| Refused::Bad(format!("{e:#}")))?;
    }
    // SAFETY: entries are only ever replaced by rename, never written in
    // place, so the mapped bytes cannot change under us.
    let map = unsafe { Mmap::map(file) }.map_err(io)?;
    if map.len() as u64 != size {
        return Err(Refused::Bad("changed while opening".into()));
    }
    Clip::from_map(name, map, HEADER, h.len, h.lufs).ok_or_else(|| Refused::Bad("misaligned".into()))
}

fn check_sum(file: &File, header: &[u8; HEADER], want: u32) -> Result<()> {
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; VERIFY_CHUNK];
    let mut at = HEADER as u64;
    loop {
        let n = file.read_at(&mut buf, at).context("cannot read")?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        at += n as u64;
    }
    let mut h = *header;
    h[32..36].fill(0);
    crc.update(&h);
    let got = crc.finalize();
    if got != want {
        bail!("checksum {got:08x}, header says {want:08x}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(samples: &[f32], lufs: Option<f64>) -> (tempfile::NamedTempFile, File) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut w = EntryWriter::new(tmp.reopen().unwrap()).unwrap();
        w.push(samples).unwrap();
        let f = w.finish(8000, lufs).unwrap();
        (tmp, f)
    }

    #[test]
    fn write_then_open_round_trip() {
        let (_t, f) = write(&[0.25, -0.5, 1.0], Some(-20.5));
        let clip = open(&f, 8000, Arc::from("x"), true).unwrap();
        assert_eq!(clip.samples(), &[0.25, -0.5, 1.0]);
        assert_eq!(clip.lufs(), Some(-20.5));
        assert!(matches!(
            open(&f, 16000, Arc::from("x"), true),
            Err(Refused::Missing(_))
        ));
        let (_t, f) = write(&[0.0; 5], None);
        assert_eq!(open(&f, 8000, Arc::from("x"), true).unwrap().lufs(), None);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let (t, _) = write(&[0.25, -0.5, 1.0], Some(-20.5));
        let good = std::fs::read(t.path()).unwrap();
        for byte in (0..good.len()).filter(|&b| !(32..36).contains(&b) || b == 33) {
            let mut bad = good.clone();
            bad[byte] ^= 0x10;
            std::fs::write(t.path(), &bad).unwrap();
            let f = File::open(t.path()).unwrap();
            assert!(
                open(&f, 8000, Arc::from("x"), true).is_err(),
                "byte {byte} flipped was trusted"
            );
        }
    }
}
