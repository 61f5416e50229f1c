//! The output level while rendering: RMS in dBFS per fixed window, for
//! the picture of `render --plot`.

use std::time::Duration;

/// Level of a silent window, and the lowest level ever reported.
pub const FLOOR_DB: f32 = -90.0;

/// Collects the output level while rendering: RMS in dBFS per window.
pub struct LevelMeter {
    rate: u32,
    /// Samples per window.
    window: usize,
    sum_squares: f64,
    filled: usize,
    levels: Vec<f32>,
}

impl LevelMeter {
    pub fn new(rate: u32, window: Duration) -> Self {
        let rate = rate.max(1);
        let window = (f64::from(rate) * window.as_secs_f64()).round().max(1.0) as usize;
        LevelMeter {
            rate,
            window,
            sum_squares: 0.0,
            filled: 0,
            levels: Vec::new(),
        }
    }

    /// Feed output samples (f32, full scale = 1.0), any block size.
    pub fn push(&mut self, mut samples: &[f32]) {
        while !samples.is_empty() {
            let take = (self.window - self.filled).min(samples.len());
            let (head, rest) = samples.split_at(take);
            self.sum_squares += head.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>();
            self.filled += take;
            if self.filled == self.window {
                self.levels.push(dbfs(self.sum_squares / self.window as f64));
                self.sum_squares = 0.0;
                self.filled = 0;
            }
            samples = rest;
        }
    }

    /// Levels so far, dBFS per window (floor at -90). A window still being
    /// filled is not included.
    pub fn levels(&self) -> &[f32] {
        &self.levels
    }

    pub fn window_secs(&self) -> f64 {
        self.window as f64 / f64::from(self.rate)
    }
}

/// Silence gives log10(0) = -inf and a NaN sample gives NaN; `max` turns
/// both into the floor.
fn dbfs(mean_square: f64) -> f32 {
    ((10.0 * mean_square.log10()) as f32).max(FLOOR_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, secs: f64) -> Vec<f32> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn full_scale_sine_is_minus_3_dbfs_in_any_block_size() {
        let mut meter = LevelMeter::new(8000, Duration::from_millis(100));
        for block in sine(8000, 1000.0, 1.0).chunks(37) {
            meter.push(block);
        }
        assert_eq!(meter.window_secs(), 0.1);
        assert_eq!(meter.levels().len(), 10);
        for &level in meter.levels() {
            assert!((level - -3.0103).abs() < 0.01, "{level}");
        }
    }

    #[test]
    fn silence_is_the_floor() {
        let mut meter = LevelMeter::new(8000, Duration::from_millis(50));
        meter.push(&[0.0; 1000]);
        assert_eq!(meter.levels(), [-90.0; 2]);
    }
}
