//! Asterisk's `.gsm` and `.g722` sound files: GSM 06.10 bit-exact with
//! sox's decoder, G.722 against ffmpeg's and the source, damaged and short
//! files, and `check`/`render` accepting both (issue 22).

use crate::common;
use holdmix::audio::decode::decode_file;
use std::path::Path;
use std::process::Command;

/// Runs a reference tool; fails (never skips) when it is missing.
pub fn tool(name: &str, args: &[&str]) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{name}` ({e}): scripts/test.sh installs sox and ffmpeg"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 16-bit mono file of `rate` Hz made by sox's synth: `effects` are what
/// follows the output name (`"synth", "1", "sine", "440"`, …).
pub fn synth(out: &Path, rate: u32, effects: &[&str]) {
    let rate = rate.to_string();
    let mut args = vec!["-n", "-r", &rate, "-c", "1", "-b", "16", s(out)];
    args.extend_from_slice(effects);
    tool("sox", &args);
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Raw s16 little-endian samples as floats.
pub fn read_s16le(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("read raw")
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// Pearson correlation of equal-length slices.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
        b.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
    );
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        num += x * y;
        da += x * x;
        db += y * y;
    }
    num / (da.sqrt() * db.sqrt()).max(1e-12)
}

/// The best correlation of `b` delayed by 0..=`max_lag` samples against
/// `a`, over `a`'s middle, and that lag.
pub fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> (f64, usize) {
    let edge = a.len() / 20 + max_lag;
    let len = a.len().min(b.len()) - 2 * edge;
    (0..=max_lag)
        .map(|lag| {
            (
                correlation(&a[edge..edge + len], &b[edge + lag..edge + lag + len]),
                lag,
            )
        })
        .fold((f64::MIN, 0), |best, c| if c.0 > best.0 { c } else { best })
}

#[test]
fn gsm_decodes_bit_exact_with_sox() {
    let dir = common::tempdir();
    let (wav, gsm, reference) = (
        dir.path().join("sweep.wav"),
        dir.path().join("sweep.gsm"),
        dir.path().join("ref.raw"),
    );
    // A sweep and a chord: voiced, unvoiced and silent stretches exercise
    // every field of the frame.
    synth(
        &wav,
        8000,
        &[
            "synth",
            "3",
            "sine",
            "200-3000",
            "vol",
            "0.5",
            ":",
            "synth",
            "1",
            "pinknoise",
            "vol",
            "0.3",
            ":",
            "synth",
            "0.5",
            "sine",
            "0",
            "vol",
            "0",
        ],
    );
    tool("sox", &[s(&wav), s(&gsm)]);
    tool(
        "sox",
        &[s(&gsm), "-t", "raw", "-e", "signed", "-b", "16", s(&reference)],
    );
    let want = read_s16le(&reference);
    let got = decode_file(&gsm).unwrap();
    assert_eq!(got.rate, 8000);
    assert_eq!(got.damaged_packets, 0);
    assert_eq!(got.samples.len(), want.len(), "160 samples per 33-byte frame");
    let differing = got.samples.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "bit-exact with sox's libgsm decoder");
    // And it is the source's audio (GSM is a vocoder: close, not exact).
    let (source_rate, source) = common::read_wav(&wav);
    assert_eq!(source_rate, 8000);
    let (corr, lag) = best_correlation(&source[..24_000], &got.samples[..24_000], 40);
    assert!(
        corr > 0.9,
        "GSM decode vs the sweep: correlation {corr:.4} at lag {lag}"
    );
    let (a, b) = (
        common::rms(&source[..24_000]),
        common::rms(&got.samples[..24_000]),
    );
    assert!((common::db(a) - common::db(b)).abs() < 1.5, "RMS {a} vs {b}");
}

#[test]
fn g722_fixture_decodes_like_ffmpeg_and_the_source() {
    let dir = common::tempdir();
    let fixture = common::root().join("tests/codecs/sweep.g722");
    let (reference, source) = (dir.path().join("ff.raw"), dir.path().join("sweep.wav"));
    tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "g722",
            "-i",
            s(&fixture),
            "-f",
            "s16le",
            "-ar",
            "16000",
            s(&reference),
        ],
    );
    let got = decode_file(&fixture).unwrap();
    assert_eq!(got.rate, 16_000);
    assert_eq!(got.samples.len(), 32_000, "two samples per byte");
    let ff = read_s16le(&reference);
    let (corr, lag) = best_correlation(&ff, &got.samples, 4);
    assert!(
        corr >= 0.99,
        "vs ffmpeg's decoder: correlation {corr:.4} at lag {lag}"
    );
    let (a, b) = (common::rms(&ff), common::rms(&got.samples));
    assert!(
        (common::db(a) - common::db(b)).abs() < 0.5,
        "RMS {a} vs ffmpeg {b}"
    );
    // The source the fixture was made from (tests/codecs/README.md).
    synth(&source, 16000, &["synth", "2", "sine", "200-6000", "vol", "0.5"]);
    let (_, src) = common::read_wav(&source);
    let (corr, lag) = best_correlation(&src, &got.samples, 40);
    assert!(
        corr >= 0.99,
        "vs the source sweep: correlation {corr:.4} at lag {lag}"
    );
    let (a, b) = (common::rms(&src), common::rms(&got.samples));
    assert!(
        (common::db(a) - common::db(b)).abs() < 0.5,
        "RMS {a} vs source {b}"
    );
}

#[test]
fn a_gsm_file_cut_mid_frame_plays_its_whole_frames() {
    let dir = common::tempdir();
    let (wav, gsm) = (dir.path().join("t.wav"), dir.path().join("t.gsm"));
    synth(&wav, 8000, &["synth", "1", "sine", "440"]);
    tool("sox", &[s(&wav), s(&gsm)]);
    let mut bytes = std::fs::read(&gsm).unwrap();
    assert_eq!(bytes.len(), 50 * 33);
    bytes.truncate(10 * 33 + 17);
    std::fs::write(&gsm, &bytes).unwrap();
    let d = decode_file(&gsm).unwrap();
    assert_eq!(d.samples.len(), 10 * 160, "the partial 11th frame is dropped");
    assert!(common::rms(&d.samples) > 0.1);
}

#[test]
fn bad_gsm_and_g722_files_are_refused_naming_the_file() {
    let dir = common::tempdir();
    let short = dir.path().join("short.gsm");
    std::fs::write(&short, [0xD0; 20]).unwrap();
    let e = format!("{:#}", decode_file(&short).unwrap_err());
    assert!(
        e.contains("short.gsm") && e.contains("too short for one GSM 06.10 frame"),
        "{e}"
    );

    let wav_named_gsm = dir.path().join("really-a-wav.gsm");
    common::write_wav(&wav_named_gsm, 8000, 1, &common::sine(440.0, 0.5, 1.0, 8000));
    let e = format!("{:#}", decode_file(&wav_named_gsm).unwrap_err());
    assert!(
        e.contains("really-a-wav.gsm") && e.contains("not GSM 06.10 audio"),
        "{e}"
    );

    let empty = dir.path().join("empty.g722");
    std::fs::write(&empty, []).unwrap();
    let e = format!("{:#}", decode_file(&empty).unwrap_err());
    assert!(e.contains("empty.g722") && e.contains("too short"), "{e}");
}

#[test]
fn check_and_render_accept_asterisk_gsm_and_g722_sounds() {
    let dir = common::tempdir();
    let (wav, gsm) = (dir.path().join("t.wav"), dir.path().join("music.gsm"));
    synth(&wav, 8000, &["synth", "4", "sine", "440", "vol", "0.5"]);
    tool("sox", &[s(&wav), s(&gsm)]);
    std::fs::copy(
        common::root().join("tests/codecs/sweep.g722"),
        dir.path().join("sweep.g722"),
    )
    .unwrap();
    let playlist = common::playlist(
        dir.path(),
        "p.toml",
        "[music]\ntracks = [\"music.gsm\", \"sweep.g722\"]\n",
    );
    let out = common::ok(common::holdmix(dir.path()).arg("check").arg(&playlist));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("does not look like audio"), "{text}");
    let rendered = dir.path().join("out.wav");
    common::ok(
        common::holdmix(dir.path())
            .args(["render", "--duration", "5s", "--seed", "1", "-o"])
            .arg(&rendered)
            .arg(&playlist),
    );
    let (rate, samples) = common::read_wav(&rendered);
    assert_eq!(rate, 8000);
    assert!(
        common::rms(&samples[8000..32_000]) > 0.02,
        "the .gsm/.g722 music is heard"
    );
}
