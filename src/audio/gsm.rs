//! GSM 06.10 full-rate decoding (ETSI EN 300 961), the codec of Asterisk's
//! `.gsm` files: raw 33-byte frames, each 20 ms (160 samples) at 8 kHz.
//! Debian's `asterisk-core-sounds-*-gsm` and `asterisk-moh-opsound-gsm`
//! ship their sounds this way, so a library in this format plays as it is.
//!
//! Hand-written from the specification: crates.io has no maintained
//! pure-Rust GSM 06.10 decoder (`gsm-sys` binds the C libgsm through `cc`,
//! which the project keeps out of its pure-Rust build), and the decoder is
//! small — RPE decoding, the long-term and short-term synthesis filters and
//! de-emphasis, all in 16-bit fixed point. It is bit-exact with the
//! reference arithmetic (libgsm, as sox and Asterisk use; tests/codecs.rs
//! compares with sox sample for sample). Only decoding: holdmix never
//! writes GSM. The frame is sans-IO: [`Decoder::decode_frame`] takes 33
//! bytes and fills 160 samples, so it is fuzzable on its own.

/// Bytes in one frame.
pub const FRAME_BYTES: usize = 33;
/// Samples in one frame (20 ms at 8 kHz).
pub const FRAME_SAMPLES: usize = 160;
/// The rate every GSM full-rate stream is at.
pub const RATE: u32 = 8_000;
/// The high nibble of every frame's first byte.
const SIGNATURE: u8 = 0xD;

/// A frame that is not GSM 06.10 (its first nibble is not the signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

/// Decoder state carried from frame to frame.
pub struct Decoder {
    /// Reconstructed long-term residual: 120 past samples, then the
    /// current 40-sample subframe.
    drp: [i16; 160],
    /// The last valid long-term lag.
    nrp: i16,
    /// The previous frame's decoded log-area ratios (for interpolation).
    larpp_prev: [i16; 8],
    /// The short-term synthesis filter's lattice state.
    v: [i16; 9],
    /// De-emphasis memory.
    msr: i16,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            drp: [0; 160],
            nrp: 40,
            larpp_prev: [0; 8],
            v: [0; 9],
            msr: 0,
        }
    }
}

/// The parameters of one frame, as transmitted.
struct Params {
    larc: [i16; 8],
    nc: [i16; 4],
    bc: [i16; 4],
    mc: [i16; 4],
    xmaxc: [i16; 4],
    xmc: [[i16; 13]; 4],
}

/// Reads fields most significant bit first.
struct Bits<'a> {
    bytes: &'a [u8; FRAME_BYTES],
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, width: usize) -> i16 {
        let mut v = 0i16;
        for _ in 0..width {
            let bit = (self.bytes[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | i16::from(bit);
            self.pos += 1;
        }
        v
    }
}

fn unpack(frame: &[u8; FRAME_BYTES]) -> Result<Params, BadSignature> {
    if frame[0] >> 4 != SIGNATURE {
        return Err(BadSignature);
    }
    let mut b = Bits { bytes: frame, pos: 4 };
    let mut p = Params {
        larc: [0; 8],
        nc: [0; 4],
        bc: [0; 4],
        mc: [0; 4],
        xmaxc: [0; 4],
        xmc: [[0; 13]; 4],
    };
    for (lar, width) in p.larc.iter_mut().zip([6, 6, 5, 5, 4, 4, 3, 3]) {
        *lar = b.take(width);
    }
    for j in 0..4 {
        p.nc[j] = b.take(7);
        p.bc[j] = b.take(2);
        p.mc[j] = b.take(2);
        p.xmaxc[j] = b.take(6);
        for x in &mut p.xmc[j] {
            *x = b.take(3);
        }
    }
    Ok(p)
}

// The specification's 16-bit operators (section 5.1).
fn sat(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}
fn add(a: i16, b: i16) -> i16 {
    sat(i32::from(a) + i32::from(b))
}
fn sub(a: i16, b: i16) -> i16 {
    sat(i32::from(a) - i32::from(b))
}
fn mult_r(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b) + 16384) >> 15) as i16
}
fn asr(a: i16, n: i16) -> i16 {
    if n >= 16 {
        -i16::from(a < 0)
    } else if n <= -16 {
        0
    } else if n < 0 {
        a.wrapping_shl(u32::from(n.unsigned_abs()))
    } else {
        a >> n
    }
}
fn asl(a: i16, n: i16) -> i16 {
    if n >= 16 {
        0
    } else if n <= -16 {
        -i16::from(a < 0)
    } else if n < 0 {
        asr(a, -n)
    } else {
        a.wrapping_shl(n as u32)
    }
}

/// The APCM inverse quantiser's mantissa factors (`FAC`, section 4.2.16;
/// table 4.6's `NRFAC` is the encoder's).
const FAC: [i16; 8] = [18431, 20479, 22527, 24575, 26623, 28671, 30719, 32767];
/// Long-term gains (table 4.3b).
const QLB: [i16; 4] = [3277, 11469, 21299, 32767];

/// RPE decoding (4.2.15–4.2.17): one subframe's excitation.
fn rpe_decode(xmaxc: i16, mc: i16, xmc: &[i16; 13], ep: &mut [i16; 40]) {
    let mut exp = 0i16;
    if xmaxc > 15 {
        exp = (xmaxc >> 3) - 1;
    }
    let mut mant = xmaxc - (exp << 3);
    if mant == 0 {
        exp = -4;
        mant = 7;
    } else {
        while mant <= 7 {
            mant = (mant << 1) | 1;
            exp -= 1;
        }
        mant -= 8;
    }
    let temp1 = FAC[mant as usize];
    let temp2 = sub(6, exp);
    let temp3 = asl(1, sub(temp2, 1));
    ep.fill(0);
    for (i, &x) in xmc.iter().enumerate() {
        // Restores the sign: 0..7 stands for -7..7 in odd steps.
        let t = ((x << 1) - 7) << 12;
        let t = add(mult_r(temp1, t), temp3);
        ep[mc as usize + 3 * i] = asr(t, temp2);
    }
}

/// Decodes the coded log-area ratios (4.2.7): `(B, MIC, INVA)` per ratio.
const LAR_DECODE: [(i16, i16, i16); 8] = [
    (0, -32, 13107),
    (0, -32, 13107),
    (2048, -16, 13107),
    (-2560, -16, 13107),
    (94, -8, 19223),
    (-1792, -8, 17476),
    (-341, -4, 31454),
    (-1144, -4, 29708),
];

/// Log-area ratios to reflection coefficients (4.2.8).
fn lar_to_rp(lar: &mut [i16; 8]) {
    for l in lar.iter_mut() {
        let t = if *l == i16::MIN { i16::MAX } else { l.abs() };
        let r = if t < 11059 {
            t << 1
        } else if t < 20070 {
            t + 11059
        } else {
            add(t >> 2, 26112)
        };
        *l = if *l < 0 { -r } else { r };
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes one 33-byte frame into 160 16-bit samples. A frame without
    /// the signature leaves the state untouched and `out` silent.
    pub fn decode_frame(
        &mut self,
        frame: &[u8; FRAME_BYTES],
        out: &mut [i16; FRAME_SAMPLES],
    ) -> Result<(), BadSignature> {
        let p = match unpack(frame) {
            Ok(p) => p,
            Err(e) => {
                out.fill(0);
                return Err(e);
            }
        };
        let mut wt = [0i16; FRAME_SAMPLES];
        let mut ep = [0i16; 40];
        for j in 0..4 {
            rpe_decode(p.xmaxc[j], p.mc[j], &p.xmc[j], &mut ep);
            self.long_term(p.nc[j], p.bc[j], &ep);
            wt[j * 40..j * 40 + 40].copy_from_slice(&self.drp[120..160]);
        }
        self.short_term(&p.larc, &wt, out);
        // De-emphasis, truncation and upscaling (4.3.5–4.3.7).
        for s in out.iter_mut() {
            self.msr = add(*s, mult_r(self.msr, 28180));
            *s = add(self.msr, self.msr) & !7;
        }
        Ok(())
    }

    /// Long-term synthesis filtering (4.3.2) of one subframe into
    /// `drp[120..160]`, then the history shifted by 40.
    fn long_term(&mut self, nc: i16, bc: i16, erp: &[i16; 40]) {
        let nr = if (40..=120).contains(&nc) { nc } else { self.nrp };
        self.nrp = nr;
        let brp = QLB[bc as usize];
        for (k, &e) in erp.iter().enumerate() {
            let past = self.drp[120 + k - nr as usize];
            self.drp[120 + k] = add(e, mult_r(brp, past));
        }
        // The history moves back by a subframe; the current one also stays
        // at 120..160 for the caller to read.
        self.drp.copy_within(40..160, 0);
    }

    /// Short-term synthesis (4.3.3–4.3.4): the ratios decoded, interpolated
    /// with the previous frame's over the first 40 samples, and the lattice
    /// filter run over the frame.
    fn short_term(&mut self, larc: &[i16; 8], wt: &[i16; 160], out: &mut [i16; 160]) {
        let mut cur = [0i16; 8];
        for ((c, &code), &(b, mic, inva)) in cur.iter_mut().zip(larc).zip(&LAR_DECODE) {
            let t = add(code, mic) << 10;
            let t = mult_r(inva, sub(t, b << 1));
            *c = add(t, t);
        }
        let prev = self.larpp_prev;
        let spans: [(usize, usize); 4] = [(0, 13), (13, 27), (27, 40), (40, 160)];
        for (n, &(from, to)) in spans.iter().enumerate() {
            let mut lar = [0i16; 8];
            for i in 0..8 {
                lar[i] = match n {
                    0 => add(add(prev[i] >> 2, cur[i] >> 2), prev[i] >> 1),
                    1 => add(prev[i] >> 1, cur[i] >> 1),
                    2 => add(add(prev[i] >> 2, cur[i] >> 2), cur[i] >> 1),
                    _ => cur[i],
                };
            }
            lar_to_rp(&mut lar);
            self.lattice(&lar, &wt[from..to], &mut out[from..to]);
        }
        self.larpp_prev = cur;
    }

    fn lattice(&mut self, rrp: &[i16; 8], wt: &[i16], sr: &mut [i16]) {
        let v = &mut self.v;
        for (&w, s) in wt.iter().zip(sr) {
            let mut sri = w;
            for i in (0..8).rev() {
                sri = sub(sri, mult_r(rrp[i], v[i]));
                v[i + 1] = add(v[i], mult_r(rrp[i], sri));
            }
            v[0] = sri;
            *s = sri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_without_the_signature_is_refused_and_silent() {
        let mut d = Decoder::new();
        let mut out = [1i16; FRAME_SAMPLES];
        assert_eq!(d.decode_frame(&[0u8; FRAME_BYTES], &mut out), Err(BadSignature));
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn any_frame_with_the_signature_decodes_without_overflow() {
        // Debug builds check every operation for overflow: random fields,
        // including the extremes of each, must stay in range.
        let mut rng = fastrand::Rng::with_seed(22);
        let mut d = Decoder::new();
        let mut out = [0i16; FRAME_SAMPLES];
        for n in 0..20_000 {
            let mut frame = [0u8; FRAME_BYTES];
            let fill = match n % 3 {
                0 => 0x00,
                1 => 0xFF,
                _ => 0x55,
            };
            for b in &mut frame {
                *b = if n < 300 { fill } else { rng.u8(..) };
            }
            frame[0] = (SIGNATURE << 4) | (frame[0] & 0x0F);
            d.decode_frame(&frame, &mut out).unwrap();
        }
    }

    #[test]
    fn shifts_saturate_as_the_specification_says() {
        assert_eq!(asl(1, 16), 0);
        assert_eq!(asr(-5, 16), -1);
        assert_eq!(asr(5, 16), 0);
        assert_eq!(asl(3, -1), 1);
        assert_eq!(asr(3, -1), 6);
        assert_eq!(mult_r(i16::MIN, i16::MIN), i16::MAX);
    }

    #[test]
    fn fields_unpack_most_significant_bit_first() {
        let mut frame = [0u8; FRAME_BYTES];
        frame[0] = 0xD2; // LARc[0] high bits 10
        frame[1] = 0x40; // LARc[0] low bits 01
        let p = unpack(&frame).unwrap();
        assert_eq!(p.larc[0], 0b1001);
        assert_eq!(p.larc[1], 0);
    }
}
