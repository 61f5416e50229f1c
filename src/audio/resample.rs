//! Band-limited sample-rate conversion with rubato's synchronous FFT
//! resampler: a windowed-sinc low-pass applied by FFT, which keeps aliases
//! below -60 dB when music is brought down to telephone rates (tested for
//! every common source rate) at a fraction of the time-domain sinc's cost.

use anyhow::{Context, Result};
use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Converts mono `input` from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    // Rates are whole numbers, so the synchronous FFT resampler applies: the
    // same windowed-sinc band limit as the async one, computed by FFT.
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 4096, 1, FixedSync::Input)
        .context("cannot build resampler")?;
    let input_adapter = InterleavedSlice::new(input, 1, input.len()).context("resampler input")?;
    let needed = resampler.process_all_needed_output_len(input.len());
    let mut output = vec![0.0f32; needed];
    let mut output_adapter = InterleavedSlice::new_mut(&mut output, 1, needed).context("resampler output")?;
    let (_, produced) = resampler
        .process_all_into_buffer(&input_adapter, &mut output_adapter, input.len(), None)
        .context("resampling failed")?;
    output.truncate(produced);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms_mid(x: &[f32]) -> f32 {
        let m = &x[x.len() / 10..x.len() * 9 / 10];
        (m.iter().map(|v| v * v).sum::<f32>() / m.len() as f32).sqrt()
    }

    #[test]
    fn no_aliasing_from_common_rates() {
        for from in [11_025u32, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000] {
            let tone = |f: f32| -> Vec<f32> {
                (0..from)
                    .map(|i| 0.5 * (2.0 * std::f32::consts::PI * f * i as f32 / from as f32).sin())
                    .collect()
            };
            let pass = rms_mid(&resample(&tone(1000.0), from, 8000).unwrap());
            let stop = rms_mid(&resample(&tone(5000.0), from, 8000).unwrap());
            let db = 20.0 * (stop / pass).log10();
            assert!(db < -60.0, "{from} Hz: 5 kHz alias at {db:.1} dB");
        }
    }

    #[test]
    fn length_follows_ratio() {
        let input = vec![0.0f32; 44_100];
        let out = resample(&input, 44_100, 8_000).unwrap();
        assert!((out.len() as i64 - 8_000).abs() <= 2, "{}", out.len());
    }
}
