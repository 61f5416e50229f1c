//! Help for a process that wakes 25 times a second with cold caches: the
//! memory lines a tick will touch are noted at the end of the tick before
//! (while the addresses are at hand) and asked for all at once at the wake,
//! so their misses overlap instead of following one another down a chain
//! of pointers. Prefetching never faults, so a stale address costs a
//! wasted fetch at worst.

const LINE: usize = 64;
/// Most lines fetched per wake: enough for a tick's state, few enough not to
/// flood the CPU's miss buffers.
const MAX_LINES: usize = 64;

pub struct Warm {
    lines: [usize; MAX_LINES],
    n: usize,
}

impl Default for Warm {
    fn default() -> Self {
        Warm {
            lines: [0; MAX_LINES],
            n: 0,
        }
    }
}

impl Warm {
    pub fn clear(&mut self) {
        self.n = 0;
    }

    /// Every line of `value`.
    pub fn add<T: ?Sized>(&mut self, value: &T) {
        self.add_range(
            std::ptr::from_ref(value).cast::<u8>() as usize,
            std::mem::size_of_val(value),
        );
    }

    /// Every line of `len` bytes from `addr` (up to the limit).
    pub fn add_range(&mut self, addr: usize, len: usize) {
        let mut line = addr & !(LINE - 1);
        while line < addr + len.max(1) && self.n < MAX_LINES {
            self.lines[self.n] = line;
            self.n += 1;
            line += LINE;
        }
    }

    /// The first line of `value` only: the hardware prefetcher follows a
    /// stream once it has started.
    pub fn add_head<T: ?Sized>(&mut self, value: &T) {
        self.add_range(std::ptr::from_ref(value).cast::<u8>() as usize, 1);
    }

    /// Asks for every line noted.
    #[inline]
    pub fn fetch(&self) {
        #[cfg(target_arch = "x86_64")]
        for &line in &self.lines[..self.n] {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
        }
    }

    /// How many lines are noted.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_each_line_once_and_stays_bounded() {
        let mut w = Warm::default();
        let buf = [0u8; 256];
        w.add(&buf);
        // 256 bytes span 4 or 5 lines, depending on alignment.
        assert!((4..=5).contains(&w.len()), "{}", w.len());
        w.add_head(&buf[..]);
        assert!((5..=6).contains(&w.len()));
        w.fetch();
        w.add_range(0, 1 << 20);
        assert_eq!(w.len(), MAX_LINES);
        w.fetch();
        w.clear();
        assert!(w.is_empty());
    }
}
