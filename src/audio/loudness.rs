//! EBU R128 integrated loudness, measured once per source at cache time,
//! on the stream as it is decoded: the meter keeps its filter state and one
//! energy (8 bytes) per 100 ms block, so a source's 4-hour limit bounds it
//! to about 1 MB whatever the file.

use ebur128::{EbuR128, Mode};

/// Integrated loudness of mono `samples` in LUFS, or `None` when the clip is
/// too short or too quiet to have one (gating leaves nothing).
pub fn integrated_lufs(samples: &[f32], rate: u32) -> Option<f64> {
    let mut m = Meter::new(rate);
    m.add(samples);
    m.lufs()
}

/// A loudness measurement fed a chunk at a time. (The exact block list, not
/// ebur128's histogram mode: the figure is the same as measuring the whole
/// clip at once, to the last bit.)
pub struct Meter(Option<EbuR128>);

impl Meter {
    pub fn new(rate: u32) -> Self {
        Meter(EbuR128::new(1, rate, Mode::I).ok())
    }

    pub fn add(&mut self, samples: &[f32]) {
        if let Some(m) = &mut self.0
            && m.add_frames_f32(samples).is_err()
        {
            self.0 = None;
        }
    }

    /// The integrated loudness so far; `None` as for [`integrated_lufs`].
    pub fn lufs(&self) -> Option<f64> {
        let lufs = self.0.as_ref()?.loudness_global().ok()?;
        lufs.is_finite().then_some(lufs)
    }
}

/// The linear gain that brings `measured` LUFS to `target` LUFS.
pub fn gain_for(measured: Option<f64>, target: f64) -> f32 {
    match measured {
        // Never boost by more than 30 dB: a near-silent file stays quiet.
        Some(m) => 10f64.powf(((target - m).min(30.0)) / 20.0) as f32,
        None => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_loudness_and_gain() {
        let rate = 8_000;
        let samples: Vec<f32> = (0..rate * 5)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin())
            .collect();
        let l = integrated_lufs(&samples, rate).unwrap();
        // A 1 kHz sine at -6 dBFS peak is about -9 LUFS.
        assert!((l + 9.0).abs() < 1.0, "{l}");
        let g = gain_for(Some(l), l - 6.0);
        assert!((g - 0.501).abs() < 0.01);
        assert_eq!(gain_for(None, -20.0), 1.0);
        assert!(integrated_lufs(&[0.0; 100], rate).is_none());
    }

    #[test]
    fn measuring_in_pieces_gives_the_same_figure() {
        let rate = 16_000;
        let mut rng = fastrand::Rng::with_seed(3);
        let samples: Vec<f32> = (0..rate * 7)
            .map(|i| (i as f32 * 0.01).sin() * rng.f32())
            .collect();
        let mut m = Meter::new(rate);
        let mut at = 0;
        while at < samples.len() {
            let n = rng.usize(1..3000).min(samples.len() - at);
            m.add(&samples[at..at + n]);
            at += n;
        }
        assert_eq!(m.lufs(), integrated_lufs(&samples, rate));
        assert!(m.lufs().is_some());
    }
}
