//! A look-ahead peak limiter: no output sample ever exceeds the ceiling, and
//! the gain never jumps.
//!
//! It delays the signal by one block. While block k is output, block k+1 is
//! already known, so the gain can glide (linearly, across block k) down to
//! what block k+1 needs before its first sample arrives. Both ends of every
//! glide are at or below what block k needs, so no sample of block k clips.
//! The gain recovers slowly (release) when the peaks are gone.

/// Output never exceeds this magnitude (-1 dBFS).
pub const CEILING: f32 = 0.891;

#[derive(Debug)]
pub struct Limiter {
    delayed: Vec<f32>,
    /// Gain needed by the delayed block.
    delayed_need: f32,
    gain: f32,
    /// Largest gain rise per block.
    release_step: f32,
}

impl Clone for Limiter {
    fn clone(&self) -> Self {
        Limiter {
            delayed: self.delayed.clone(),
            ..*self
        }
    }

    /// Reuses the delay line's memory: a mark taken every second
    /// allocates nothing.
    fn clone_from(&mut self, source: &Self) {
        self.delayed.clone_from(&source.delayed);
        self.delayed_need = source.delayed_need;
        self.gain = source.gain;
        self.release_step = source.release_step;
    }
}

impl Limiter {
    /// `block` samples per call; the gain recovers fully in about `release_blocks` blocks.
    pub fn new(block: usize, release_blocks: u32) -> Self {
        Limiter {
            delayed: vec![0.0; block],
            delayed_need: 1.0,
            gain: 1.0,
            release_step: 1.0 / release_blocks.max(1) as f32,
        }
    }

    /// Takes a new block in `buf` and replaces it with the limited previous one.
    #[inline]
    pub fn process(&mut self, buf: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (just checked).
            unsafe { self.process_avx2(buf) };
            return;
        }
        self.process_any(buf);
    }

    /// [`Limiter::process`] eight samples an instruction instead of four
    /// (x86-64's baseline): the same operations in the same order (no
    /// fused multiply-add), so the same samples bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn process_avx2(&mut self, buf: &mut [f32]) {
        self.process_any(buf);
    }

    #[inline(always)]
    fn process_any(&mut self, buf: &mut [f32]) {
        debug_assert_eq!(buf.len(), self.delayed.len());
        let peak = peak(buf);
        let need = if peak > CEILING { CEILING / peak } else { 1.0 };
        let start = self.gain;
        let end = (start + self.release_step).min(self.delayed_need).min(need);
        let n = buf.len();
        // Exchange the new block with the delayed one sample by sample (no
        // allocation), applying the gain glide on the way out.
        let step = (end - start) / n as f32;
        // An i32 index converts to f32 in one vector instruction (a usize
        // does not on x86-64's baseline); the same values below 2^24.
        for (i, (b, d)) in (1..).zip(buf.iter_mut().zip(self.delayed.iter_mut())) {
            let out = *d * (start + step * i as f32);
            *d = *b;
            *b = out.clamp(-CEILING, CEILING);
        }
        self.gain = end;
        self.delayed_need = need;
    }

    /// Notes the delay line (see `Warm`).
    pub fn note_hot(&self, w: &mut crate::util::prefetch::Warm) {
        w.add(&self.delayed[..]);
    }

    /// Current gain (1.0 when not limiting).
    pub fn gain(&self) -> f32 {
        self.gain
    }
}

/// The largest magnitude in `buf`, in eight independent lanes the compiler
/// turns into vector maxima (one running maximum is a chain of dependent
/// scalar ones). Exact: the maximum of the same values in any order.
#[inline(always)]
fn peak(buf: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = buf.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, s) in lanes.iter_mut().zip(c) {
            *m = m.max(s.abs());
        }
    }
    let m = tail.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    lanes.iter().fold(m, |a, &b| a.max(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_path_gives_the_same_samples() {
        // Loud enough to limit, with glides both ways, NaN-free.
        let signal: Vec<f32> = (0..160 * 200)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (t * 2300.0).sin() * (1.0 + 1.5 * (t * 3.0).sin().abs())
            })
            .collect();
        let (mut a, mut b) = (Limiter::new(160, 25), Limiter::new(160, 25));
        for block in signal.chunks_exact(160) {
            let (mut x, mut y) = (block.to_vec(), block.to_vec());
            a.process(&mut x);
            b.process_any(&mut y);
            let same = x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{x:?} != {y:?}");
        }
        assert!(a.gain() < 1.0);
    }

    #[test]
    fn never_exceeds_ceiling_and_delays_one_block() {
        let mut lim = Limiter::new(4, 10);
        let mut b = [0.1, 0.2, 0.3, 0.4];
        lim.process(&mut b);
        assert_eq!(b, [0.0; 4]);
        let mut hot = [2.0, -3.0, 0.5, 1.5];
        lim.process(&mut hot);
        // The quiet block comes out untouched even though the gain starts to fall.
        assert!(hot.iter().all(|s| s.abs() <= CEILING));
        let mut next = [0.0; 4];
        lim.process(&mut next);
        assert!(next.iter().all(|s| s.abs() <= CEILING + 1e-6), "{next:?}");
        assert!(lim.gain() < 0.5);
    }
}
