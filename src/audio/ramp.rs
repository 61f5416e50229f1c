//! Gain ramps: a smooth move from one gain to another over a fixed number of
//! samples. The duck uses the raised-cosine ("sine") curve; crossfades use
//! the equal-power quarter-sine curves so the sum keeps its loudness.

use std::f32::consts::FRAC_PI_2;
use std::f32::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// Raised cosine: slow start, slow end.
    Sine,
    /// Quarter sine rising: equal-power fade-in.
    PowerIn,
    /// Quarter cosine falling: equal-power fade-out.
    PowerOut,
}

impl Curve {
    /// Shape at `x` in 0..=1, from 0 to 1.
    fn shape(self, x: f32) -> f32 {
        match self {
            Curve::Sine => 0.5 - 0.5 * (PI * x).cos(),
            Curve::PowerIn => (FRAC_PI_2 * x).sin(),
            Curve::PowerOut => 1.0 - (FRAC_PI_2 * x).cos(),
        }
    }
}

/// A gain moving from `from` to `to` over `len` samples, then holding `to`.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    from: f32,
    to: f32,
    len: u32,
    pos: u32,
    curve: Curve,
}

impl Ramp {
    /// A constant gain.
    pub fn hold(gain: f32) -> Self {
        Ramp {
            from: gain,
            to: gain,
            len: 0,
            pos: 0,
            curve: Curve::Sine,
        }
    }

    pub fn new(from: f32, to: f32, len: u32, curve: Curve) -> Self {
        Ramp {
            from,
            to,
            len,
            pos: 0,
            curve,
        }
    }

    /// The gain of the next sample, advancing the ramp.
    #[inline]
    pub fn next_gain(&mut self) -> f32 {
        if self.pos >= self.len {
            return self.to;
        }
        let g = self.from + (self.to - self.from) * self.curve.shape(self.pos as f32 / self.len as f32);
        self.pos += 1;
        g
    }

    /// The gain the next sample would get, without advancing.
    pub fn current(&self) -> f32 {
        if self.pos >= self.len {
            self.to
        } else {
            self.from + (self.to - self.from) * self.curve.shape(self.pos as f32 / self.len as f32)
        }
    }

    pub fn target(&self) -> f32 {
        self.to
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.len
    }

    /// Samples left before the ramp holds its target.
    pub fn remaining(&self) -> u32 {
        self.len.saturating_sub(self.pos)
    }

    /// Multiplies `buf` by the ramp, sample by sample.
    pub fn apply(&mut self, buf: &mut [f32]) {
        if self.is_done() {
            if self.to != 1.0 {
                buf.iter_mut().for_each(|s| *s *= self.to);
            }
            return;
        }
        for s in buf {
            *s *= self.next_gain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_ramp_endpoints_and_midpoint() {
        let mut r = Ramp::new(1.0, 0.1, 100, Curve::Sine);
        assert_eq!(r.next_gain(), 1.0);
        for _ in 1..50 {
            r.next_gain();
        }
        assert!((r.current() - 0.55).abs() < 1e-3);
        for _ in 50..100 {
            r.next_gain();
        }
        assert!(r.is_done());
        assert_eq!(r.next_gain(), 0.1);
    }

    #[test]
    fn equal_power_sums_to_unit_power() {
        let mut a = Ramp::new(0.0, 1.0, 64, Curve::PowerIn);
        let mut b = Ramp::new(1.0, 0.0, 64, Curve::PowerOut);
        for _ in 0..64 {
            let (x, y) = (a.next_gain(), b.next_gain());
            assert!((x * x + y * y - 1.0).abs() < 1e-4);
        }
    }
}
