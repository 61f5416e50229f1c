//! G.711 μ-law / A-law: bit-exact against Debian's `sox` for every input and code, and the `--format ulaw|alaw` renders.

use crate::common;
use holdmix::audio::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};
use std::path::Path;
use std::process::Command;

/// Runs the reference `sox`; fails (never skips) when it is not installed.
fn sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `sox` ({e}): the G.711 reference codec is Debian's sox; \
             install it (`apt-get install sox`, as scripts/test.sh does)"
        )
    });
    assert!(
        out.status.success(),
        "sox {args:?} failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Every s16 value, ascending.
fn all_inputs() -> Vec<i16> {
    (i16::MIN..=i16::MAX).collect()
}

/// sox's encoding of `inputs` (s16) with `encoding` (`u-law` or `a-law`).
/// `-D`: no dither, or sox would add noise before reducing to 14/13 bits.
fn sox_encode(dir: &Path, encoding: &str, inputs: &[i16]) -> Vec<u8> {
    let input = dir.join("in.raw");
    let bytes: Vec<u8> = inputs.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(&input, bytes).expect("write input");
    let output = dir.join(format!("out-{encoding}.raw"));
    sox(&[
        "-D",
        "-t",
        "raw",
        "-r",
        "8000",
        "-e",
        "signed",
        "-b",
        "16",
        "-c",
        "1",
        path_str(&input),
        "-t",
        "raw",
        "-e",
        encoding,
        path_str(&output),
    ]);
    std::fs::read(&output).expect("read sox output")
}

/// sox's decoding of each of the 256 codes of `encoding` to s16.
fn sox_decode_all(dir: &Path, encoding: &str) -> Vec<i16> {
    let input = dir.join(format!("codes-{encoding}.raw"));
    std::fs::write(&input, (0..=255u8).collect::<Vec<u8>>()).expect("write codes");
    let output = dir.join(format!("decoded-{encoding}.raw"));
    sox(&[
        "-D",
        "-t",
        "raw",
        "-r",
        "8000",
        "-e",
        encoding,
        "-b",
        "8",
        "-c",
        "1",
        path_str(&input),
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        path_str(&output),
    ]);
    common::read_slin(&output)
}

/// Compares `ours` with sox for all 65536 inputs. G.711 companding works on
/// 14-bit (μ-law) / 13-bit (A-law) linear values; Sun's g711.c and Asterisk
/// (`AST_LIN2MU`, `AST_LIN2A`) reach them from 16 bits by dropping the low
/// bits, sox 14.4 by rounding (`SOX_SAMPLE_TO_UNSIGNED(14, ..)` in raw.c).
/// So sox is given each input with its low `drop` bits already cleared: its
/// rounding is then exact and every input is checked byte for byte.
fn assert_encoder_matches(encoding: &str, drop: u32, ours: fn(i16) -> u8) {
    let dir = common::tempdir();
    let inputs = all_inputs();
    let mask = !((1i16 << drop) - 1);
    let on_grid: Vec<i16> = inputs.iter().map(|&s| s & mask).collect();
    let reference = sox_encode(dir.path(), encoding, &on_grid);
    assert_eq!(
        reference.len(),
        65_536,
        "sox wrote {} {encoding} bytes for 65536 samples",
        reference.len()
    );
    let mismatches: Vec<String> = inputs
        .iter()
        .zip(&reference)
        .filter(|&(&s, &r)| ours(s) != r)
        .map(|(&s, &r)| format!("{s}: ours {:#04x}, sox {r:#04x}", ours(s)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of 65536 inputs encode differently from sox {encoding}, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)]
    );
    // All 2^14 / 2^13 grid values (and both ends of the range) were exercised.
    let distinct: std::collections::BTreeSet<i16> = on_grid.iter().copied().collect();
    assert_eq!(distinct.len(), 1 << (16 - drop));
    let codes: std::collections::BTreeSet<u8> = reference.iter().copied().collect();
    assert!(
        codes.len() >= 255,
        "only {} distinct {encoding} codes produced",
        codes.len()
    );
}

fn assert_decoder_matches(encoding: &str, decode: fn(u8) -> i16) {
    let dir = common::tempdir();
    let reference = sox_decode_all(dir.path(), encoding);
    assert_eq!(
        reference.len(),
        256,
        "sox decoded {} {encoding} codes",
        reference.len()
    );
    for (code, &r) in (0..=255u8).zip(&reference) {
        assert_eq!(
            decode(code),
            r,
            "{encoding} code {code:#04x}: ours {}, sox {r}",
            decode(code)
        );
    }
}

#[test]
fn ulaw_encoder_matches_sox_for_every_input() {
    assert_encoder_matches("u-law", 2, linear_to_ulaw);
}

#[test]
fn alaw_encoder_matches_sox_for_every_input() {
    assert_encoder_matches("a-law", 3, linear_to_alaw);
}

#[test]
fn ulaw_decoder_matches_sox_and_round_trips() {
    assert_decoder_matches("u-law", ulaw_to_linear);
    for code in 0..=255u8 {
        let back = linear_to_ulaw(ulaw_to_linear(code));
        if code == 0x7F {
            // "Negative zero": decodes to 0, which encodes as positive zero.
            assert_eq!((ulaw_to_linear(code), back), (0, 0xFF));
        } else {
            assert_eq!(
                back,
                code,
                "ulaw {code:#04x} decodes to {} which encodes to {back:#04x}",
                ulaw_to_linear(code)
            );
        }
    }
}

#[test]
fn alaw_decoder_matches_sox_and_round_trips() {
    assert_decoder_matches("a-law", alaw_to_linear);
    for code in 0..=255u8 {
        let back = linear_to_alaw(alaw_to_linear(code));
        assert_eq!(
            back,
            code,
            "alaw {code:#04x} decodes to {} which encodes to {back:#04x}",
            alaw_to_linear(code)
        );
    }
}

/// Renders `secs` seconds of a one-track playlist (a generated 440 Hz tone)
/// in `format` to a raw file and returns its bytes.
fn render_raw(dir: &Path, playlist: &Path, format: &str, secs: u32) -> Vec<u8> {
    let out = dir.join(format!("out.{format}"));
    common::ok(
        common::holdmix(dir)
            .args([
                "render",
                "--duration",
                &format!("{secs}s"),
                "--format",
                format,
                "-o",
            ])
            .arg(&out)
            .arg(playlist),
    );
    std::fs::read(&out).expect("read render")
}

#[test]
fn ulaw_and_alaw_renders_are_g711_of_the_slin_render() {
    let dir = common::tempdir();
    let d = dir.path();
    // A 1 kHz + 300 Hz mix, so the signal spans several G.711 segments.
    let tone: Vec<f32> = common::sine(1000.0, 0.4, 4.0, 44_100)
        .iter()
        .zip(common::sine(300.0, 0.3, 4.0, 44_100))
        .map(|(a, b)| a + b)
        .collect();
    common::write_wav(&d.join("tone.wav"), 44_100, 2, &common::stereo(&tone));
    let playlist = common::playlist(d, "tone.toml", "[music]\ntracks = [\"tone.wav\"]\n");
    let secs = 3;
    let frames = secs as usize * 50;

    let slin: Vec<i16> = render_raw(d, &playlist, "slin", secs)
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(slin.len(), frames * 160, "slin: 160 samples per 20 ms frame");
    let signal: Vec<f32> = slin.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let level = common::db(common::rms(common::window(&signal, 8000, 1.0, 3.0)));
    assert!(level > -40.0, "slin render is (nearly) silent: {level:.1} dBFS");

    type Codec = (&'static str, fn(i16) -> u8, fn(u8) -> i16);
    let codecs: [Codec; 2] = [
        ("ulaw", linear_to_ulaw, ulaw_to_linear),
        ("alaw", linear_to_alaw, alaw_to_linear),
    ];
    for (format, encode, decode) in codecs {
        let bytes = render_raw(d, &playlist, format, secs);
        assert_eq!(
            bytes.len(),
            frames * 160,
            "{format}: 160 bytes per 20 ms frame over {frames} frames"
        );
        // The engine is deterministic: the G.711 stream is the slin stream, encoded.
        let expected: Vec<u8> = slin.iter().map(|&s| encode(s)).collect();
        let differing = bytes.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing, 0,
            "{format}: {differing} bytes differ from G.711 of the slin render"
        );

        let decoded: Vec<f32> = bytes.iter().map(|&b| f32::from(decode(b)) / 32768.0).collect();
        let noise: Vec<f32> = decoded.iter().zip(&signal).map(|(a, b)| a - b).collect();
        let snr = common::db(common::rms(&signal)) - common::db(common::rms(&noise));
        assert!(snr > 30.0, "{format}: SNR against the slin render is {snr:.1} dB");
    }
}
