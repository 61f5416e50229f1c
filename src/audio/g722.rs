//! G.722 at 64 kbit/s (mode 1): Asterisk's `.g722` files (raw codewords,
//! one byte per pair of 16 kHz samples, no header) and the `mohfile.9`
//! that Kamailio's mohqueue hands to rtpproxy.
//!
//! The codec is `ezk-g722`'s `libg722` module, a pure-Rust translation of
//! the public-domain SpanDSP/CMU coder that rtpproxy's own `makeann` and
//! Asterisk's `codec_g722` are built on: a maintained crate, the same
//! arithmetic as the systems that read our files, and no C toolchain.
//! Only its codec core is used (not its RTP and media-graph types).
//! This module wraps it in the block interface the rest of holdmix uses.

use ezk_g722::libg722::{Bitrate, decoder, encoder};

/// The audio rate of a G.722 stream (its RTP clock says 8000, RFC 3551).
pub const RATE: u32 = 16_000;
/// Bytes per second at 64 kbit/s.
pub const BYTES_PER_SECOND: u64 = 8_000;

/// A G.722 decoder: codewords in, 16 kHz samples out (two per byte).
pub struct Decoder(decoder::Decoder);

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        // Unpacked (one codeword per byte) at 16 kHz, as the files hold it.
        Decoder(decoder::Decoder::new(Bitrate::Mode1_64000, false, false))
    }

    /// Decodes `bytes`, appending `2 × bytes.len()` samples to `out`.
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        out.extend(self.0.decode(bytes));
    }
}

/// A G.722 encoder: 16 kHz samples in, one codeword per pair out.
pub struct Encoder {
    inner: encoder::Encoder,
    /// The odd sample of a block, kept for the next one.
    carry: Option<i16>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        // Note the crate's argument order here: (rate, eight_k, packed).
        Encoder {
            inner: encoder::Encoder::new(Bitrate::Mode1_64000, false, false),
            carry: None,
        }
    }

    /// Encodes `samples`, appending one byte per pair to `out` (an odd
    /// sample waits for the next call).
    pub fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        let mut rest = samples;
        if let Some(first) = self.carry.take() {
            match rest.split_first() {
                Some((&second, tail)) => {
                    out.extend(self.inner.encode(&[first, second]));
                    rest = tail;
                }
                None => {
                    self.carry = Some(first);
                    return;
                }
            }
        }
        let even = rest.len() & !1;
        out.extend(self.inner.encode(&rest[..even]));
        self.carry = rest.get(even).copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 16_000.0).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn a_tone_survives_a_round_trip() {
        let input = tone(16_000);
        let mut bytes = Vec::new();
        Encoder::new().encode(&input, &mut bytes);
        assert_eq!(bytes.len(), 8_000, "one byte per two samples");
        let mut out = Vec::new();
        Decoder::new().decode(&bytes, &mut out);
        assert_eq!(out.len(), 16_000);
        // The codec's QMF delays the signal by 22 samples.
        let (mut num, mut da, mut db) = (0f64, 0f64, 0f64);
        for (a, b) in input[1000..15_000].iter().zip(&out[1022..15_022]) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            num += a * b;
            da += a * a;
            db += b * b;
        }
        let corr = num / (da.sqrt() * db.sqrt());
        assert!(corr > 0.99, "correlation {corr}");
    }

    #[test]
    fn odd_blocks_encode_like_one_block() {
        let input = tone(1001);
        let mut whole = Vec::new();
        Encoder::new().encode(&input[..1000], &mut whole);
        let mut split = Vec::new();
        let mut e = Encoder::new();
        for part in input[..1000].chunks(7) {
            e.encode(part, &mut split);
        }
        assert_eq!(whole, split);
    }
}
