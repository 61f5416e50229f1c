//! Decodes a sound file into mono f32 samples at the file's own rate.
//!
//! Containers and codecs go through symphonia (WAV, MP3, FLAC, Ogg Vorbis at
//! any rate and channel count). Asterisk's headerless formats are chosen by
//! file extension, as Asterisk itself does, so an existing
//! `/var/lib/asterisk/moh` library plays as it is.

use super::g711;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// Decoded mono audio at its source rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub rate: u32,
    pub samples: Vec<f32>,
    /// Packets that failed to decode and were skipped (a damaged file).
    pub damaged_packets: usize,
}

/// Asterisk raw formats, by extension: (rate, encoding).
fn raw_format(ext: &str) -> Option<(u32, RawEncoding)> {
    let e = ext.to_ascii_lowercase();
    Some(match e.as_str() {
        "ulaw" | "pcmu" | "ul" | "mu" => (8_000, RawEncoding::Ulaw),
        "alaw" | "pcma" | "al" => (8_000, RawEncoding::Alaw),
        "sln" | "raw" | "slin" => (8_000, RawEncoding::S16),
        "sln12" => (12_000, RawEncoding::S16),
        "sln16" => (16_000, RawEncoding::S16),
        "sln24" => (24_000, RawEncoding::S16),
        "sln32" => (32_000, RawEncoding::S16),
        "sln44" => (44_100, RawEncoding::S16),
        "sln48" => (48_000, RawEncoding::S16),
        "sln96" => (96_000, RawEncoding::S16),
        "sln192" => (192_000, RawEncoding::S16),
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum RawEncoding {
    Ulaw,
    Alaw,
    S16,
}

/// Decodes `path` to mono.
pub fn decode_file(path: &Path) -> Result<Decoded> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if let Some((rate, enc)) = raw_format(ext) {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        if bytes.len() < 2 {
            bail!("{}: empty audio file", path.display());
        }
        return Ok(Decoded {
            rate,
            samples: decode_raw(&bytes, enc),
            damaged_packets: 0,
        });
    }
    decode_container(path, ext)
}

fn decode_raw(bytes: &[u8], enc: RawEncoding) -> Vec<f32> {
    const SCALE: f32 = 1.0 / 32768.0;
    match enc {
        RawEncoding::Ulaw => bytes
            .iter()
            .map(|&b| f32::from(g711::ulaw_to_linear(b)) * SCALE)
            .collect(),
        RawEncoding::Alaw => bytes
            .iter()
            .map(|&b| f32::from(g711::alaw_to_linear(b)) * SCALE)
            .collect(),
        RawEncoding::S16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * SCALE)
            .collect(),
    }
}

fn decode_container(path: &Path, ext: &str) -> Result<Decoded> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if !ext.is_empty() {
        hint.with_extension(ext);
    }
    let mut reader = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .with_context(|| format!("{}: not a supported audio file", path.display()))?;
    let track = reader
        .default_track(TrackType::Audio)
        .with_context(|| format!("{}: no audio track", path.display()))?;
    let track_id = track.id;
    let params = match &track.codec_params {
        Some(symphonia::core::codecs::CodecParameters::Audio(p)) => p.clone(),
        _ => bail!("{}: audio track has no codec parameters", path.display()),
    };
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .with_context(|| format!("{}: unsupported codec", path.display()))?;

    let mut rate = params.sample_rate.unwrap_or(0);
    let mut samples = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut damaged = 0usize;
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated file ends in an I/O error: keep what was decoded.
            Err(SymError::IoError(_)) => {
                damaged += 1;
                break;
            }
            Err(SymError::DecodeError(_)) => {
                damaged += 1;
                if damaged > 1000 {
                    break;
                }
                continue;
            }
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(e).with_context(|| format!("{}: demux failed", path.display())),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let channels = buf.spec().channels().count().max(1);
                rate = buf.spec().rate();
                buf.copy_to_vec_interleaved(&mut interleaved);
                downmix_into(&interleaved, channels, &mut samples);
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                damaged += 1;
                if damaged > 1000 {
                    break;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("{}: decode failed", path.display())),
        }
    }
    if rate == 0 {
        bail!("{}: unknown sample rate", path.display());
    }
    if samples.is_empty() {
        bail!("{}: no audio could be decoded", path.display());
    }
    Ok(Decoded {
        rate,
        samples,
        damaged_packets: damaged,
    })
}

/// Averages interleaved channels into mono.
fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels == 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
    }

    #[test]
    fn raw_formats_by_extension() {
        assert_eq!(raw_format("SLN16").map(|f| f.0), Some(16_000));
        assert_eq!(raw_format("pcmu").map(|f| f.0), Some(8_000));
        assert!(raw_format("mp3").is_none());
        let s = decode_raw(&[0x00, 0x40], RawEncoding::S16);
        assert_eq!(s, vec![0.5]);
    }
}
