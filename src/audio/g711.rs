//! G.711 μ-law and A-law companding, bit-exact with ITU-T G.711.
//!
//! Hand-written rather than taken from a crate: it is forty lines, it must be
//! bit-exact with the reference (Sun's public-domain `g711.c`, as Asterisk
//! uses: low bits are dropped, not rounded; sox rounds 16-bit input first,
//! so tests compare against sox with those bits cleared) and it runs per output sample, so it stays branch-light
//! and table-free (no per-process tables adding to private memory).

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;
const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&end| value <= end).unwrap_or(8)
}

/// Encodes one 16-bit linear sample as μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // G.711 μ-law works on 14-bit magnitudes: drop the two low bits first.
    let mut value = i32::from(sample) >> 2;
    let mask: i32 = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(value, &SEG_UEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let code = ((seg as i32) << 4) | ((value >> (seg + 1)) & 0x0F);
    (code ^ mask) as u8
}

/// Decodes one μ-law byte to 16-bit linear.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = ((i32::from(u) & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

/// Encodes one 16-bit linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes.
    let mut value = i32::from(sample) >> 3;
    let mask: i32 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &SEG_AEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut code = (seg as i32) << 4;
    code |= if seg < 2 {
        (value >> 1) & 0x0F
    } else {
        (value >> seg) & 0x0F
    };
    (code ^ mask) as u8
}

/// Decodes one A-law byte to 16-bit linear.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7E);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            // μ-law has two zeros (0x7F is "negative zero"): both decode to 0.
            if code != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(code)), code, "ulaw {code:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "alaw {code:#x}");
        }
    }
}
