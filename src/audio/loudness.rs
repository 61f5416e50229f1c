//! EBU R128 integrated loudness, measured once per source at cache time.

use ebur128::{EbuR128, Mode};

/// Integrated loudness of mono `samples` in LUFS, or `None` when the clip is
/// too short or too quiet to have one (gating leaves nothing).
pub fn integrated_lufs(samples: &[f32], rate: u32) -> Option<f64> {
    let mut meter = EbuR128::new(1, rate, Mode::I).ok()?;
    meter.add_frames_f32(samples).ok()?;
    let lufs = meter.loudness_global().ok()?;
    lufs.is_finite().then_some(lufs)
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
}
