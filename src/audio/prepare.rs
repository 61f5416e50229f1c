//! Getting a source ready to play, as a stream: decode a packet, convert it
//! to the output rate, measure its loudness and hand it to a sink (a cache
//! entry being written, or memory), so preparing a source of any length
//! holds only a packet and a resampler chunk at a time.

use super::{decode, loudness, resample};
use anyhow::{Context, Result};
use std::path::Path;

/// Where prepared samples go.
pub trait Sink {
    fn push(&mut self, samples: &[f32]) -> Result<()>;
}

impl Sink for Vec<f32> {
    fn push(&mut self, samples: &[f32]) -> Result<()> {
        self.extend_from_slice(samples);
        Ok(())
    }
}

/// What preparing a source measured.
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    /// Samples handed to the sink.
    pub len: u64,
    /// Integrated loudness, when the source has one.
    pub lufs: Option<f64>,
    /// Packets that failed to decode and were skipped (a damaged file).
    pub damaged: usize,
}

/// Decodes `source`, converts it to `rate` and measures it, a packet at a
/// time, into `sink`. A source whose rate changes part-way (chained or
/// concatenated files) is converted part by part.
pub fn prepare_into(source: &Path, rate: u32, sink: &mut dyn Sink) -> Result<Prepared> {
    prepare_stream(decode::Stream::open(source)?, source, rate, sink)
}

/// As [`prepare_into`], for a source already opened (and its header checked).
pub fn prepare_stream(
    mut stream: decode::Stream,
    source: &Path,
    rate: u32,
    sink: &mut dyn Sink,
) -> Result<Prepared> {
    let mut meter = loudness::Meter::new(rate);
    let mut decoded = Vec::new();
    let mut converted = Vec::new();
    let mut converter: Option<(u32, resample::Stream)> = None;
    let mut len = 0u64;
    let failed = || format!("{}: resampling failed", source.display());
    loop {
        decoded.clear();
        let got = stream.next(&mut decoded)?;
        if converter.as_ref().map(|c| c.0) != got
            && let Some((_, mut old)) = converter.take()
        {
            old.finish(&mut converted).with_context(failed)?;
        }
        if let Some(from) = got {
            let (_, conv) = match &mut converter {
                Some(c) => c,
                None => converter.insert((from, resample::Stream::new(from, rate).with_context(failed)?)),
            };
            conv.push(&decoded, &mut converted).with_context(failed)?;
        }
        if !converted.is_empty() {
            meter.add(&converted);
            sink.push(&converted)?;
            len += converted.len() as u64;
            converted.clear();
        }
        if got.is_none() {
            break;
        }
    }
    Ok(Prepared {
        len,
        lufs: meter.lufs(),
        damaged: stream.damaged(),
    })
}
