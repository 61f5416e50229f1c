//! A decoded, resampled sound ready to play: mono f32 at the output rate,
//! usually a read-only memory map of a cache file shared by every process.

use crate::util::mapguard::{Guard, guard};
use memmap2::Mmap;
use std::sync::Arc;

/// Samples plus what the mixer needs to know about them.
pub struct Clip {
    name: Arc<str>,
    samples: Samples,
    lufs: Option<f64>,
}

enum Samples {
    /// A cache file: `len` f32 samples starting `offset` bytes into the map.
    /// The guard comes first so it is dropped (unregistered) before the
    /// map is unmapped.
    Mapped {
        _guard: Guard,
        map: Mmap,
        offset: usize,
        len: usize,
    },
    /// Decoded in memory (no writable cache, or tests).
    Owned(Vec<f32>),
}

impl Clip {
    pub fn from_vec(name: Arc<str>, samples: Vec<f32>, lufs: Option<f64>) -> Self {
        Clip {
            name,
            samples: Samples::Owned(samples),
            lufs,
        }
    }

    /// Wraps a map; `None` if the sample area is out of range or misaligned.
    pub fn from_map(name: Arc<str>, map: Mmap, offset: usize, len: usize, lufs: Option<f64>) -> Option<Self> {
        let end = offset.checked_add(len.checked_mul(4)?)?;
        if end > map.len() {
            return None;
        }
        bytemuck::try_cast_slice::<u8, f32>(&map[offset..end]).ok()?;
        // A cache entry truncated under the map reads as silence instead
        // of ending the process (see mapguard).
        let _guard = guard(map.as_ptr(), map.len());
        Some(Clip {
            name,
            samples: Samples::Mapped {
                _guard,
                map,
                offset,
                len,
            },
            lufs,
        })
    }

    pub fn samples(&self) -> &[f32] {
        match &self.samples {
            Samples::Owned(v) => v,
            // Checked in `from_map`, so the cast cannot fail here.
            Samples::Mapped { map, offset, len, .. } => {
                bytemuck::try_cast_slice(&map[*offset..*offset + len * 4]).unwrap_or(&[])
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.samples {
            Samples::Owned(v) => v.len(),
            Samples::Mapped { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Display name (the source file name) for logs and the timeline.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Integrated loudness measured at cache time.
    pub fn lufs(&self) -> Option<f64> {
        self.lufs
    }
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clip")
            .field("name", &self.name)
            .field("len", &self.len())
            .finish()
    }
}
