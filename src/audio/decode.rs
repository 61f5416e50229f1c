//! Decodes a sound file into mono f32 samples at the file's own rate, a
//! packet at a time ([`Stream`]), so a source of any length is decoded in
//! bounded memory.
//!
//! Containers and codecs go through symphonia (WAV, MP3, FLAC, Ogg Vorbis at
//! any rate and channel count). Asterisk's headerless formats are chosen by
//! file extension, as Asterisk itself does, so an existing
//! `/var/lib/asterisk/moh` library plays as it is: signed linear and G.711
//! here, GSM 06.10 and G.722 through [`super::coded`].
//!
//! A source must be a regular file (opened without blocking, so a FIFO
//! cannot hang the process), at a rate between [`MIN_RATE`] and
//! [`MAX_RATE`], and no longer than [`MAX_SECONDS`]: what a header declares
//! is checked before anything is decoded, and what is decoded is counted as
//! it comes, so a lying header is cut off at the same limit.
//!
//! (Past 500 lines with its tests: the three readers — raw, coded,
//! container — stay together because they share these limits and counters.)

use super::coded::{self, Codec};
use super::g711;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// The lowest source rate accepted. Below it a file is not music (the
/// narrowest telephone band needs 8 kHz), and a 1 Hz header would make a
/// 60-byte file expand to megabytes at the output rate.
pub const MIN_RATE: u32 = 4_000;
/// The highest source rate accepted (twice the highest studio rate).
pub const MAX_RATE: u32 = 768_000;
/// The longest source accepted: 4 hours, a 2.8 GB entry at 48 kHz.
pub const MAX_SECONDS: u64 = 4 * 3600;
/// Decode errors tolerated in one file before the rest of it is given up.
const MAX_DAMAGED: usize = 1000;
/// Bytes read at a time from a raw file.
const RAW_CHUNK: usize = 64 * 1024;

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

impl RawEncoding {
    fn bytes_per_sample(self) -> u64 {
        match self {
            RawEncoding::S16 => 2,
            _ => 1,
        }
    }
}

/// Decodes `path` to mono, whole (tests and tools; the cache streams).
pub fn decode_file(path: &Path) -> Result<Decoded> {
    let mut s = Stream::open(path)?;
    let mut samples = Vec::new();
    let mut rate = 0;
    while let Some(r) = s.next(&mut samples)? {
        rate = r;
    }
    Ok(Decoded {
        rate,
        samples,
        damaged_packets: s.damaged(),
    })
}

/// Opens `path` for reading without blocking (a FIFO would otherwise wait
/// for a writer forever) and refuses anything but a regular file.
/// (Hand-written here for audio files; other file kinds have their own
/// check, as their limits differ.)
pub fn open_regular(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    let kind = file
        .metadata()
        .with_context(|| format!("{}: cannot read", path.display()))?
        .file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        bail!("{}: {what}, not a regular audio file", path.display());
    }
    Ok(file)
}

/// A source being decoded, a packet (or a raw chunk) at a time.
pub struct Stream {
    path: PathBuf,
    inner: Inner,
    damaged: usize,
    /// Seconds decoded so far (the sum over rate changes).
    seconds: f64,
    produced: u64,
    done: bool,
}

enum Inner {
    Raw {
        file: File,
        rate: u32,
        enc: RawEncoding,
        buf: Vec<u8>,
        /// The odd byte of a 16-bit sample split across reads.
        carry: Option<u8>,
    },
    /// `.gsm` and `.g722`: frames decoded by [`Codec`].
    Coded {
        file: File,
        kind: coded::Kind,
        codec: Codec,
        buf: Vec<u8>,
    },
    Container(Box<Container>),
}

struct Container {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    interleaved: Vec<f32>,
}

impl Stream {
    /// Opens `path` and checks what its header declares against the limits.
    pub fn open(path: &Path) -> Result<Stream> {
        let file = open_regular(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let inner = if let Some(kind) = coded::by_extension(ext) {
            if size < kind.min_bytes() {
                bail!(
                    "{}: {size} bytes, too short for one {} frame ({} bytes)",
                    path.display(),
                    kind.describe(),
                    kind.min_bytes()
                );
            }
            check_length(path, kind.samples_in(size), kind.rate())?;
            Inner::Coded {
                file,
                kind,
                codec: Codec::new(kind),
                buf: vec![0; RAW_CHUNK],
            }
        } else if let Some((rate, enc)) = raw_format(ext) {
            if size < 2 {
                bail!("{}: empty audio file", path.display());
            }
            check_length(path, size / enc.bytes_per_sample(), rate)?;
            Inner::Raw {
                file,
                rate,
                enc,
                buf: vec![0; RAW_CHUNK],
                carry: None,
            }
        } else {
            Inner::Container(Box::new(open_container(path, ext, file)?))
        };
        Ok(Stream {
            path: path.to_path_buf(),
            inner,
            damaged: 0,
            seconds: 0.0,
            produced: 0,
            done: false,
        })
    }

    /// The rate the header declares, when it declares one.
    pub fn declared_rate(&self) -> Option<u32> {
        match &self.inner {
            Inner::Raw { rate, .. } => Some(*rate),
            Inner::Coded { kind, .. } => Some(kind.rate()),
            Inner::Container(c) => {
                c.reader
                    .tracks()
                    .iter()
                    .find(|t| t.id == c.track_id)
                    .and_then(|t| match &t.codec_params {
                        Some(symphonia::core::codecs::CodecParameters::Audio(p)) => p.sample_rate,
                        _ => None,
                    })
            }
        }
    }

    /// Packets that failed to decode and were skipped so far.
    pub fn damaged(&self) -> usize {
        self.damaged
    }

    /// Appends the next decoded samples (mono) to `out` and returns their
    /// rate, or `None` at the end. A call may append nothing.
    pub fn next(&mut self, out: &mut Vec<f32>) -> Result<Option<u32>> {
        if self.done {
            return Ok(None);
        }
        let before = out.len();
        let got = match &mut self.inner {
            Inner::Raw {
                file,
                rate,
                enc,
                buf,
                carry,
            } => read_raw(file, *enc, buf, carry, out)
                .with_context(|| format!("{}: cannot read", self.path.display()))?
                .then_some(*rate),
            Inner::Coded {
                file,
                kind,
                codec,
                buf,
            } => read_coded(&self.path, file, *kind, codec, buf, &mut self.damaged, out)?,
            Inner::Container(c) => c.next(&self.path, &mut self.damaged, out)?,
        };
        let Some(rate) = got else {
            self.done = true;
            if self.produced == 0 {
                bail!("{}: no audio could be decoded", self.path.display());
            }
            return Ok(None);
        };
        check_rate(&self.path, rate)?;
        // A float file can hold NaN or infinity (found by fuzzing): one such
        // sample would poison the loudness and the mix. Silence instead.
        for s in &mut out[before..] {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
        let n = out.len() - before;
        self.produced += n as u64;
        self.seconds += n as f64 / f64::from(rate);
        if self.seconds > MAX_SECONDS as f64 {
            bail!(
                "{}: longer than {} hours, the longest a source may be",
                self.path.display(),
                MAX_SECONDS / 3600
            );
        }
        Ok(Some(rate))
    }
}

fn check_rate(path: &Path, rate: u32) -> Result<()> {
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        bail!(
            "{}: sample rate {rate} Hz; a source must be between {MIN_RATE} and {MAX_RATE} Hz",
            path.display()
        );
    }
    Ok(())
}

/// Refuses a declared length beyond [`MAX_SECONDS`] before decoding it.
fn check_length(path: &Path, frames: u64, rate: u32) -> Result<()> {
    check_rate(path, rate)?;
    let seconds = frames / u64::from(rate);
    if seconds > MAX_SECONDS {
        bail!(
            "{}: {} h {} min of audio; a source may last at most {} hours",
            path.display(),
            seconds / 3600,
            seconds % 3600 / 60,
            MAX_SECONDS / 3600
        );
    }
    Ok(())
}

/// Reads and decodes the next raw chunk; false at the end of the file.
fn read_raw(
    file: &mut File,
    enc: RawEncoding,
    buf: &mut [u8],
    carry: &mut Option<u8>,
    out: &mut Vec<f32>,
) -> std::io::Result<bool> {
    const SCALE: f32 = 1.0 / 32768.0;
    let n = loop {
        match file.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if n == 0 {
        return Ok(false);
    }
    let bytes = &buf[..n];
    match enc {
        RawEncoding::Ulaw => out.extend(bytes.iter().map(|&b| f32::from(g711::ulaw_to_linear(b)) * SCALE)),
        RawEncoding::Alaw => out.extend(bytes.iter().map(|&b| f32::from(g711::alaw_to_linear(b)) * SCALE)),
        RawEncoding::S16 => {
            let mut rest = bytes;
            if let Some(lo) = carry.take() {
                out.push(f32::from(i16::from_le_bytes([lo, rest[0]])) * SCALE);
                rest = &rest[1..];
            }
            let pairs = rest.chunks_exact(2);
            *carry = pairs.remainder().first().copied();
            out.extend(pairs.map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * SCALE));
        }
    }
    Ok(true)
}

/// Reads and decodes the next chunk of a `.gsm` or `.g722` file; `None` at
/// the end (a trailing part of a frame is dropped, with a warning: a copy
/// cut short still plays).
fn read_coded(
    path: &Path,
    file: &mut File,
    kind: coded::Kind,
    codec: &mut Codec,
    buf: &mut [u8],
    damaged: &mut usize,
    out: &mut Vec<f32>,
) -> Result<Option<u32>> {
    let n = loop {
        match file.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    };
    if n == 0 {
        let left = codec.leftover();
        if left > 0 {
            tracing::warn!(
                "{}: the last {left} bytes are not a whole {} frame (the file was cut short?); dropped",
                path.display(),
                kind.describe()
            );
        }
        return Ok(None);
    }
    let damage = codec.push(&buf[..n], out);
    if damage.first_frame_bad {
        bail!(
            "{}: not {} audio (the first frame lacks its signature)",
            path.display(),
            kind.describe()
        );
    }
    *damaged += damage.bad_frames;
    if *damaged > MAX_DAMAGED {
        bail!(
            "{}: more than {MAX_DAMAGED} damaged {} frames",
            path.display(),
            kind.describe()
        );
    }
    Ok(Some(kind.rate()))
}

fn open_container(path: &Path, ext: &str, file: File) -> Result<Container> {
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if !ext.is_empty() {
        hint.with_extension(ext);
    }
    let reader = symphonia::default::get_probe()
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
    if let Some(rate) = params.sample_rate {
        check_length(path, track.num_frames.unwrap_or(0), rate)?;
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .with_context(|| format!("{}: unsupported codec", path.display()))?;
    Ok(Container {
        reader,
        decoder,
        track_id,
        interleaved: Vec::new(),
    })
}

impl Container {
    /// Decodes packets until one gives audio (appended to `out`); returns
    /// its rate, or `None` at the end of the stream.
    fn next(&mut self, path: &Path, damaged: &mut usize, out: &mut Vec<f32>) -> Result<Option<u32>> {
        loop {
            if *damaged > MAX_DAMAGED {
                return Ok(None);
            }
            let mut packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                // A truncated file ends in an I/O error: keep what was decoded.
                Err(SymError::IoError(_)) => {
                    *damaged += 1;
                    return Ok(None);
                }
                Err(SymError::DecodeError(_)) => {
                    *damaged += 1;
                    continue;
                }
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("{}: demux failed", path.display())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            // Concatenated MP3s (`cat a.mp3 b.mp3`): the first part's header
            // declares its own length, and the demuxer marks every packet
            // past it as wholly trimmed. A packet entirely past the declared
            // end is more audio than the header knew of: keep it. (The packet
            // that straddles the end keeps its trim: the first part's padding.)
            if packet.dur.get() > 0 && packet.trim_end >= packet.dur {
                packet.trim_end = symphonia::core::units::Duration::ZERO;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let channels = buf.spec().channels().count().max(1);
                    let rate = buf.spec().rate();
                    buf.copy_to_vec_interleaved(&mut self.interleaved);
                    downmix_into(&self.interleaved, channels, out);
                    return Ok(Some(rate));
                }
                Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => *damaged += 1,
                Err(e) => return Err(e).with_context(|| format!("{}: decode failed", path.display())),
            }
        }
    }
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

    /// A 32-bit float WAV of `samples` (mono, 8 kHz).
    fn float_wav(samples: &[f32]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&32000u32.to_le_bytes());
        w.extend_from_slice(&4u16.to_le_bytes());
        w.extend_from_slice(&32u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(&data);
        w
    }

    #[test]
    fn non_finite_samples_decode_as_silence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        let mut s = vec![0.25f32; 800];
        s[10] = f32::NAN;
        s[20] = f32::INFINITY;
        s[30] = f32::NEG_INFINITY;
        std::fs::write(&path, float_wav(&s)).unwrap();
        let d = decode_file(&path).unwrap();
        assert_eq!(d.samples.len(), 800);
        assert!(
            d.samples.iter().all(|x| x.is_finite()),
            "no NaN or infinity reaches the mix"
        );
        assert_eq!((d.samples[10], d.samples[20], d.samples[30]), (0.0, 0.0, 0.0));
        assert_eq!(d.samples[11], 0.25);
    }

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
    }

    #[test]
    fn raw_s16_split_across_reads_decodes_whole_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sln");
        let samples: Vec<i16> = (0..1001).map(|i| (i * 37 % 30000 - 15000) as i16).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut file = File::open(&path).unwrap();
        // Reads of 5 bytes: every other sample straddles two reads.
        let (mut buf, mut carry, mut out) = (vec![0u8; 5], None, Vec::new());
        while read_raw(&mut file, RawEncoding::S16, &mut buf, &mut carry, &mut out).unwrap() {}
        let want: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        assert_eq!(out, want);
        assert_eq!(decode_file(&path).unwrap().samples, want);
    }
}
