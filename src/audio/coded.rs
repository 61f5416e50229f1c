//! Asterisk's headerless compressed sound files, chosen by extension as
//! Asterisk chooses them: `.gsm` (GSM 06.10 frames, [`super::gsm`]) and
//! `.g722` (G.722 codewords, [`super::g722`]). [`Codec`] turns the bytes of
//! such a file, read in chunks of any size, into samples: it keeps the part
//! of a frame split across two reads, and says what was left over at the
//! end, so the decoder in [`super::decode`] only reads and counts.

use super::{g722, gsm};

/// The formats, by extension.
pub fn by_extension(ext: &str) -> Option<Kind> {
    match ext.to_ascii_lowercase().as_str() {
        "gsm" => Some(Kind::Gsm),
        "g722" => Some(Kind::G722),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gsm,
    G722,
}

impl Kind {
    pub fn rate(self) -> u32 {
        match self {
            Kind::Gsm => gsm::RATE,
            Kind::G722 => g722::RATE,
        }
    }

    /// The samples a file of `bytes` bytes holds (whole frames only).
    pub fn samples_in(self, bytes: u64) -> u64 {
        match self {
            Kind::Gsm => bytes / gsm::FRAME_BYTES as u64 * gsm::FRAME_SAMPLES as u64,
            Kind::G722 => bytes * 2,
        }
    }

    /// The smallest file that holds any audio.
    pub fn min_bytes(self) -> u64 {
        match self {
            Kind::Gsm => gsm::FRAME_BYTES as u64,
            Kind::G722 => 1,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Gsm => "GSM 06.10",
            Kind::G722 => "G.722",
        }
    }
}

/// What a chunk held that was not audio.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Frames without the GSM signature (decoded as silence).
    pub bad_frames: usize,
    /// True when the very first frame was one: the file is not GSM at all.
    pub first_frame_bad: bool,
}

/// A decoder of one file's bytes.
pub enum Codec {
    Gsm {
        dec: Box<gsm::Decoder>,
        /// The start of a frame split across reads.
        pending: Vec<u8>,
        frames: u64,
    },
    G722(Box<g722::Decoder>),
}

impl Codec {
    pub fn new(kind: Kind) -> Codec {
        match kind {
            Kind::Gsm => Codec::Gsm {
                dec: Box::default(),
                pending: Vec::with_capacity(gsm::FRAME_BYTES),
                frames: 0,
            },
            Kind::G722 => Codec::G722(Box::default()),
        }
    }

    /// Decodes `bytes` (full scale ±1.0) onto `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<f32>) -> Damage {
        const SCALE: f32 = 1.0 / 32768.0;
        let mut damage = Damage::default();
        match self {
            Codec::G722(dec) => {
                let mut pcm = Vec::with_capacity(bytes.len() * 2);
                dec.decode(bytes, &mut pcm);
                out.extend(pcm.iter().map(|&s| f32::from(s) * SCALE));
            }
            Codec::Gsm { dec, pending, frames } => {
                let mut pcm = [0i16; gsm::FRAME_SAMPLES];
                while !bytes.is_empty() {
                    let take = (gsm::FRAME_BYTES - pending.len()).min(bytes.len());
                    pending.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    let Ok(frame) = <&[u8; gsm::FRAME_BYTES]>::try_from(pending.as_slice()) else {
                        break;
                    };
                    if dec.decode_frame(frame, &mut pcm).is_err() {
                        damage.bad_frames += 1;
                        damage.first_frame_bad |= *frames == 0;
                    }
                    *frames += 1;
                    pending.clear();
                    out.extend(pcm.iter().map(|&s| f32::from(s) * SCALE));
                }
            }
        }
        damage
    }

    /// Bytes of an unfinished frame left at the end of the file.
    pub fn leftover(&self) -> usize {
        match self {
            Codec::Gsm { pending, .. } => pending.len(),
            Codec::G722(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_split_across_reads_decodes_whole() {
        let mut frame = [0u8; gsm::FRAME_BYTES];
        frame[0] = 0xD5;
        frame[7] = 0x93;
        let bytes: Vec<u8> = frame
            .iter()
            .cycle()
            .take(gsm::FRAME_BYTES * 3 + 5)
            .copied()
            .collect();
        let mut whole = Vec::new();
        let mut c = Codec::new(Kind::Gsm);
        c.push(&bytes, &mut whole);
        assert_eq!(whole.len(), 3 * gsm::FRAME_SAMPLES);
        assert_eq!(c.leftover(), 5);
        let mut split = Vec::new();
        let mut c = Codec::new(Kind::Gsm);
        for part in bytes.chunks(4) {
            c.push(part, &mut split);
        }
        assert_eq!(whole, split);
        assert_eq!(c.leftover(), 5);
    }

    #[test]
    fn frames_without_the_signature_are_counted() {
        let mut c = Codec::new(Kind::Gsm);
        let mut out = Vec::new();
        let d = c.push(&[0u8; gsm::FRAME_BYTES * 2], &mut out);
        assert_eq!(
            d,
            Damage {
                bad_frames: 2,
                first_frame_bad: true
            }
        );
        assert_eq!(out.len(), 2 * gsm::FRAME_SAMPLES);
    }

    #[test]
    fn extensions() {
        assert_eq!(by_extension("GSM"), Some(Kind::Gsm));
        assert_eq!(by_extension("g722"), Some(Kind::G722));
        assert_eq!(by_extension("wav"), None);
        assert_eq!(Kind::Gsm.samples_in(33 * 2 + 10), 320);
        assert_eq!(Kind::G722.samples_in(8000), 16_000);
    }
}
