//! A file truncated under a memory map must not kill the call. Reading a
//! mapped page past the file's new end raises SIGBUS, whose default action
//! ends the process: one `truncate` of a cache entry (an operator's `>`, a
//! tool, a full disk's cleanup) would silence every call playing it.
//!
//! Registered ranges are guarded by a SIGBUS handler that maps zero pages
//! over the rest of the range and returns: the faulting read is retried and
//! reads silence, the stream goes on, and [`truncations`] counts it so the
//! audio thread can log it once. A fault anywhere else goes to the handler
//! that was there before (Rust's own, for stack overflows) or to the
//! default action, as if this module did not exist.
//!
//! Hand-written: no crate guards mapped files this way (memmap2 documents
//! the SIGBUS and leaves it to the caller). The handler only reads atomics
//! and calls `mmap` and `sigaction`, both plain system calls.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Ranges guarded at once; more are mapped unguarded (logged once).
const SLOTS: usize = 4096;

/// `(start, len)` of each guarded range; start 0 is a free slot.
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Slots ever used: the handler scans no further.
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// Where the next search for a free slot starts (most are found at once).
static NEXT: AtomicUsize = AtomicUsize::new(0);
static TRUNCATIONS: AtomicUsize = AtomicUsize::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static FULL: Once = Once::new();
/// The SIGBUS action before ours, to pass on what is not ours.
static mut PREVIOUS: Option<libc::sigaction> = None;

/// How many guarded reads found their file truncated, so far.
pub fn truncations() -> usize {
    TRUNCATIONS.load(Ordering::Relaxed)
}

/// A guarded range; unguarded when dropped (drop it before unmapping).
#[derive(Debug)]
pub struct Guard(Option<usize>);

/// Guards `len` bytes mapped at `start`.
pub fn guard(start: *const u8, len: usize) -> Guard {
    install();
    if start.is_null() || len == 0 {
        return Guard(None);
    }
    let hint = NEXT.fetch_add(1, Ordering::Relaxed);
    for k in 0..SLOTS {
        let i = (hint + k) % SLOTS;
        if STARTS[i]
            .compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            LENS[i].store(len, Ordering::Release);
            HIGH.fetch_max(i + 1, Ordering::AcqRel);
            return Guard(Some(i));
        }
    }
    FULL.call_once(|| {
        tracing::warn!(
            slots = SLOTS,
            "too many mapped sounds to guard against truncation"
        )
    });
    Guard(None)
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            LENS[i].store(0, Ordering::Release);
            STARTS[i].store(0, Ordering::Release);
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no memory effects; sigaction is given a fully
        // initialised struct and a place for the previous action, written
        // once here before the handler can run.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &new, &mut old) == 0 {
                PREVIOUS = Some(old);
            }
        }
    });
}

/// The guarded range holding `addr`, if any.
fn find(addr: usize) -> Option<(usize, usize)> {
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    for i in 0..high {
        let start = STARTS[i].load(Ordering::Acquire);
        let len = LENS[i].load(Ordering::Acquire);
        if start != 0 && addr >= start && addr - start < len {
            return Some((start, len));
        }
    }
    None
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some((start, len)) = find(addr) {
        let page = PAGE.load(Ordering::Relaxed);
        let from = addr & !(page - 1);
        let end = (start + len).div_ceil(page) * page;
        // SAFETY: replaces pages of a mapping this process owns (registered
        // by `guard`, unregistered before it is unmapped) with zero pages.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            TRUNCATIONS.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    // Not ours: as if we were not here.
    // SAFETY: PREVIOUS was written once before this handler was installed;
    // a previous SA_SIGINFO handler is called with what we were given,
    // otherwise the default action is restored and the fault recurs.
    unsafe {
        let prev = *std::ptr::addr_of!(PREVIOUS);
        match prev {
            Some(p)
                if p.sa_flags & libc::SA_SIGINFO != 0
                    && p.sa_sigaction != libc::SIG_DFL
                    && p.sa_sigaction != libc::SIG_IGN =>
            {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(p.sa_sigaction);
                f(sig, info, ctx);
            }
            _ => {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_truncated_guarded_map_reads_zeros_instead_of_killing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; 64 * 1024]).unwrap();
        f.sync_all().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a file of this test's own; its truncation is the point.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let g = guard(map.as_ptr(), map.len());
        assert_eq!(map[40 * 1024], 7);
        let before = truncations();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        // Past the new end: SIGBUS without the guard.
        let v = std::hint::black_box(&map[..])[40 * 1024];
        assert_eq!(v, 0, "silence where the file was cut");
        assert_eq!(map[50], 7, "what is still in the file reads as before");
        assert!(truncations() > before);
        drop(g);
    }

    #[test]
    fn slots_are_given_back() {
        let data = [1u8; 16];
        let high = {
            let _g = guard(data.as_ptr(), data.len());
            HIGH.load(Ordering::Acquire)
        };
        let _again = guard(data.as_ptr(), data.len());
        assert!(HIGH.load(Ordering::Acquire) <= high.max(1) + 1);
        assert!(find(data.as_ptr() as usize).is_some());
    }
}
