//! The layout of a checkpoint file, shared by its one writer and its
//! readers: two slots for the snapshot (JSON) and two for the fields that
//! change every tick, each written in full before it is published, so a
//! writer killed mid-write (SIGKILL) leaves the last published one intact.
//! A reader copies a slot between two reads of its sequence number
//! (a seqlock) and takes it only if nothing changed under it.
//!
//! Hand-written rather than a crate: it is forty lines of offsets over a
//! memmap2 map, and no crate does published double slots in a file.

use std::sync::atomic::{AtomicU64, Ordering, fence};

pub const MAGIC: u64 = u64::from_le_bytes(*b"HOLDMIX1");
/// Room for one snapshot's JSON.
pub const SLOT_BYTES: usize = 32 * 1024;
const HEADER: usize = 128;
const FAST_AT: usize = 32;
const FAST_SLOT: usize = 32;
const SLOT_HEAD: usize = 24;
pub const FILE_BYTES: usize = HEADER + 2 * (SLOT_HEAD + SLOT_BYTES);
/// The bytes from the file's start that a tick's fields touch.
pub const FAST_BYTES: usize = FAST_AT + 2 * FAST_SLOT;

/// Offsets of the header words.
const W_MAGIC: usize = 0;
const W_ACTIVE: usize = 8;
const W_FAST_ACTIVE: usize = 16;

/// The fields written every tick: stream time and music offset, valid for
/// the snapshot of generation `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fast {
    pub generation: u64,
    pub at_ms: u64,
    pub offset: u64,
}

fn word(map: &[u8], at: usize) -> &AtomicU64 {
    debug_assert!(at.is_multiple_of(8) && at + 8 <= map.len());
    // SAFETY: `at` is 8-aligned within a page-aligned map of FILE_BYTES,
    // and the map outlives the reference.
    unsafe { AtomicU64::from_ptr(map.as_ptr().add(at) as *mut u64) }
}

fn slot_at(i: u64) -> usize {
    HEADER + (i as usize & 1) * (SLOT_HEAD + SLOT_BYTES)
}

/// Marks a slot as being written (odd sequence), whatever state an earlier
/// writer left it in.
fn begin(seq: &AtomicU64) -> u64 {
    let odd = seq.load(Ordering::Acquire) | 1;
    seq.store(odd, Ordering::Release);
    fence(Ordering::Release);
    odd
}

fn end(seq: &AtomicU64, odd: u64) {
    fence(Ordering::Release);
    seq.store(odd + 1, Ordering::Release);
}

/// Writes `json` as generation `generation` into the unpublished slot, then
/// publishes it. `false` when it does not fit.
pub fn write_snapshot(map: &mut [u8], generation: u64, json: &[u8]) -> bool {
    if json.len() > SLOT_BYTES {
        return false;
    }
    let next = word(map, W_ACTIVE).load(Ordering::Acquire) ^ 1;
    let at = slot_at(next);
    let odd = begin(word(map, at));
    word(map, at + 8).store(generation, Ordering::Relaxed);
    word(map, at + 16).store(json.len() as u64, Ordering::Relaxed);
    map[at + SLOT_HEAD..at + SLOT_HEAD + json.len()].copy_from_slice(json);
    end(word(map, at), odd);
    word(map, W_ACTIVE).store(next, Ordering::Release);
    word(map, W_MAGIC).store(MAGIC, Ordering::Release);
    true
}

pub fn write_fast(map: &mut [u8], f: Fast) {
    let next = word(map, W_FAST_ACTIVE).load(Ordering::Acquire) ^ 1;
    let at = FAST_AT + (next as usize & 1) * FAST_SLOT;
    let odd = begin(word(map, at));
    word(map, at + 8).store(f.generation, Ordering::Relaxed);
    word(map, at + 16).store(f.at_ms, Ordering::Relaxed);
    word(map, at + 24).store(f.offset, Ordering::Relaxed);
    end(word(map, at), odd);
    word(map, W_FAST_ACTIVE).store(next, Ordering::Release);
}

/// The published snapshot (generation, JSON) and fast fields, if the file
/// holds a consistent one. Retries a few times if the writer is mid-write.
pub fn read(map: &[u8]) -> Option<(u64, Vec<u8>, Option<Fast>)> {
    if map.len() < FILE_BYTES || word(map, W_MAGIC).load(Ordering::Acquire) != MAGIC {
        return None;
    }
    let snapshot = (0..8).find_map(|_| {
        let at = slot_at(word(map, W_ACTIVE).load(Ordering::Acquire));
        let s1 = word(map, at).load(Ordering::Acquire);
        let generation = word(map, at + 8).load(Ordering::Relaxed);
        let len = (word(map, at + 16).load(Ordering::Relaxed) as usize).min(SLOT_BYTES);
        let json = map[at + SLOT_HEAD..at + SLOT_HEAD + len].to_vec();
        fence(Ordering::Acquire);
        let s2 = word(map, at).load(Ordering::Acquire);
        (s1 == s2 && s1.is_multiple_of(2) && s1 > 0).then_some((generation, json))
    })?;
    let fast = (0..8).find_map(|_| {
        let at = FAST_AT + (word(map, W_FAST_ACTIVE).load(Ordering::Acquire) as usize & 1) * FAST_SLOT;
        let s1 = word(map, at).load(Ordering::Acquire);
        let f = Fast {
            generation: word(map, at + 8).load(Ordering::Relaxed),
            at_ms: word(map, at + 16).load(Ordering::Relaxed),
            offset: word(map, at + 24).load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let s2 = word(map, at).load(Ordering::Acquire);
        (s1 == s2 && s1.is_multiple_of(2)).then_some((s1 > 0).then_some(f))
    })?;
    Some((snapshot.0, snapshot.1, fast))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A u64-aligned buffer, as a page-aligned map is.
    fn buffer() -> Vec<u64> {
        vec![0u64; FILE_BYTES / 8 + 1]
    }

    fn bytes(b: &mut [u64]) -> &mut [u8] {
        bytemuck::cast_slice_mut(b)
    }

    #[test]
    fn the_last_published_slot_survives_a_torn_write() {
        let mut b = buffer();
        let map = bytes(&mut b);
        assert_eq!(read(map), None);
        assert!(write_snapshot(map, 1, b"{\"a\":1}"));
        write_fast(
            map,
            Fast {
                generation: 1,
                at_ms: 40,
                offset: 320,
            },
        );
        assert!(write_snapshot(map, 2, b"{\"a\":2}"));
        let (generation, json, fast) = read(map).unwrap();
        assert_eq!((generation, json.as_slice()), (2, &b"{\"a\":2}"[..]));
        assert_eq!(
            fast,
            Some(Fast {
                generation: 1,
                at_ms: 40,
                offset: 320
            })
        );
        // A writer killed halfway through the next slot: odd sequence,
        // never published. The reader still gets generation 2.
        let next = slot_at(word(map, W_ACTIVE).load(Ordering::Relaxed) ^ 1);
        word(map, next).fetch_add(1, Ordering::Relaxed);
        map[next + SLOT_HEAD] = b'#';
        assert_eq!(read(map).unwrap().0, 2);
        assert!(!write_snapshot(map, 3, &vec![b' '; SLOT_BYTES + 1]));
    }
}
