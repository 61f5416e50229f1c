//! A voice: one clip being played from a position, with its own gain ramp
//! and short declick fades at the clip's edges, mixed into a block.

use super::clip::Clip;
use super::ramp::{Curve, Ramp};

/// Length of the edge fades that keep a clip's first and last samples from
/// clicking, in milliseconds.
pub const DECLICK_MS: u32 = 5;

#[derive(Debug, Clone, Copy)]
pub struct Voice {
    /// Next sample to play.
    pub pos: usize,
    pub ramp: Ramp,
    /// Loudness normalisation gain of the clip.
    pub gain: f32,
    declick: usize,
}

impl Voice {
    pub fn new(pos: usize, gain: f32, ramp: Ramp, rate: u32) -> Self {
        Voice {
            pos,
            ramp,
            gain,
            declick: (rate * DECLICK_MS / 1000) as usize,
        }
    }

    /// Fades the voice from its current gain to `to` over `len` samples.
    pub fn fade_to(&mut self, to: f32, len: u32, curve: Curve) {
        self.ramp = Ramp::new(self.ramp.current(), to, len, curve);
    }

    /// Whether the next `n` samples take the steady path of
    /// [`Voice::mix_into`] (no ramp, clear of both edge fades).
    #[inline]
    pub fn is_steady_for(&self, clip: &Clip, n: usize) -> bool {
        let d = self.declick.max(1);
        self.ramp.is_done() && self.pos >= d && self.pos + n + d <= clip.samples().len()
    }

    /// Writes the next `out.len()` samples over `out`; only where
    /// [`Voice::is_steady_for`] holds. The same values as zeroing `out` and
    /// mixing into it (`0.0 + x` keeps a negative zero's sign as the mix
    /// does), without a call to `memset`.
    #[inline]
    pub fn play_steady(&mut self, clip: &Clip, out: &mut [f32]) {
        self.steady(clip, out, |o, x| *o = 0.0 + x);
    }

    /// Adds the next `out.len()` samples into `out`; only where
    /// [`Voice::is_steady_for`] holds.
    #[inline]
    pub fn add_steady(&mut self, clip: &Clip, out: &mut [f32]) {
        self.steady(clip, out, |o, x| *o += x);
    }

    /// The steady block: each sample times the gain, put into `out` by `put`.
    #[inline(always)]
    fn steady(&mut self, clip: &Clip, out: &mut [f32], put: impl Fn(&mut f32, f32)) {
        let n = out.len();
        let g = self.ramp.target() * self.gain;
        for (o, s) in out.iter_mut().zip(&clip.samples()[self.pos..self.pos + n]) {
            put(o, s * g);
        }
        self.pos += n;
    }

    /// Adds the clip from `pos` into `out`. Returns how many samples of `out`
    /// it covered: fewer than `out.len()` when the clip ended.
    pub fn mix_into(&mut self, clip: &Clip, out: &mut [f32]) -> usize {
        let samples = clip.samples();
        let n = samples.len().saturating_sub(self.pos).min(out.len());
        let d = self.declick.max(1);
        let len = samples.len();
        // Steady state (no ramp, away from both edges), nearly every block
        // of a call: one multiply-add loop the compiler vectorises.
        if self.is_steady_for(clip, n) {
            self.add_steady(clip, &mut out[..n]);
            return n;
        }
        for (i, o) in out[..n].iter_mut().enumerate() {
            let p = self.pos + i;
            let mut g = self.ramp.next_gain() * self.gain;
            // Edge fades: only the first and last few ms pay for this.
            let edge = p.min(len - 1 - p);
            if edge < d {
                // Raised cosine: no corner in the gain, so no click either.
                g *= 0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / d as f32).cos();
            }
            *o += samples[p] * g;
        }
        self.pos += n;
        n
    }

    pub fn finished(&self, clip: &Clip) -> bool {
        self.pos >= clip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn mixes_and_reports_end() {
        let clip = Clip::from_vec(Arc::from("t"), vec![1.0; 100], None);
        let mut v = Voice::new(0, 0.5, Ramp::hold(1.0), 8000);
        let mut out = vec![0.0; 64];
        assert_eq!(v.mix_into(&clip, &mut out), 64);
        // Declick: first sample is silent, later ones at the clip gain.
        assert_eq!(out[0], 0.0);
        assert_eq!(out[40], 0.5);
        let mut out = vec![0.0; 64];
        assert_eq!(v.mix_into(&clip, &mut out), 36);
        assert_eq!(out[35], 0.0);
        assert!(v.finished(&clip));
    }

    #[test]
    fn steady_blocks_match_the_sample_by_sample_path() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
        let clip = Clip::from_vec(Arc::from("t"), samples.clone(), None);
        let mut v = Voice::new(0, 0.5, Ramp::hold(1.0), 8000);
        let mut got = Vec::new();
        let mut out = vec![0.0; 160];
        while !v.finished(&clip) {
            out.fill(0.0);
            let n = v.mix_into(&clip, &mut out);
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got.len(), 1000);
        for (i, (g, s)) in got.iter().zip(&samples).enumerate() {
            let edge = i.min(999 - i);
            if edge >= 40 {
                assert_eq!(*g, s * 0.5, "sample {i}");
            } else {
                assert!(g.abs() <= (s * 0.5).abs() + 1e-6, "sample {i}");
            }
        }
    }
}
