//! Band-limited sample-rate conversion with rubato's sinc resampler.
//!
//! Runs once per source file at cache time, so it favours quality: a long
//! Blackman-Harris windowed sinc whose stop band keeps aliases below -60 dB
//! when 44.1 kHz music is brought down to telephone rates.

use anyhow::{Context, Result};
use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

/// Converts mono `input` from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let ratio = f64::from(to) / f64::from(from);
    let params = SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: Some(0.92),
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut resampler = Async::<f32>::new_sinc(ratio, 1.0, &params, 4096, 1, FixedAsync::Input)
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

    #[test]
    fn length_follows_ratio() {
        let input = vec![0.0f32; 44_100];
        let out = resample(&input, 44_100, 8_000).unwrap();
        assert!((out.len() as i64 - 8_000).abs() <= 2, "{}", out.len());
    }
}
