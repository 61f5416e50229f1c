//! Decoding: the bundled music in every container, Asterisk raw formats by extension, downmix, damaged and invalid files, and alias-free resampling to telephone rates.

use crate::common;
use holdmix::audio::cache::Cache;
use holdmix::audio::decode::decode_file;
use holdmix::audio::g711;
use holdmix::audio::resample::resample;
use std::path::Path;
use std::process::Command;

/// Duration in seconds as `soxi -D` reports it; fails (never skips) without sox.
fn soxi_duration(path: &Path) -> f64 {
    let out = Command::new("soxi").arg("-D").arg(path).output().unwrap_or_else(|e| {
        panic!("cannot run `soxi` ({e}): install Debian's sox and libsox-fmt-mp3 (scripts/test.sh installs sox)")
    });
    assert!(
        out.status.success(),
        "soxi -D {} failed (MP3 needs Debian's libsox-fmt-mp3): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("soxi -D {}: {text:?}: {e}", path.display()))
}

/// The middle of `s`, skipping 50 ms at each edge.
fn middle(s: &[f32], rate: u32) -> &[f32] {
    let edge = rate as usize / 20;
    assert!(s.len() > 2 * edge, "signal too short: {} samples", s.len());
    &s[edge..s.len() - edge]
}

fn to_i16(s: f32) -> i16 {
    (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

#[test]
fn bundled_music_decodes_to_mono_44100_with_the_soxi_duration() {
    let dir = common::root().join("sample-audio/music");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read sample-audio/music") {
        let path = entry.expect("dir entry").path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let d = decode_file(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert_eq!(d.rate, 44_100, "{}", path.display());
        assert_eq!(d.damaged_packets, 0, "{}: damaged packets", path.display());
        // Mono: a stereo file interleaved would come out twice as long.
        let ours = d.samples.len() as f64 / 44_100.0;
        let expected = soxi_duration(&path);
        // soxi estimates an MP3's length from its bitrate, counting the
        // encoder delay and padding (up to ~3 frames of 1152) that a gapless
        // decoder trims: allow the decode to be that much shorter.
        let shorter_ok = if ext == "mp3" {
            0.05 + 3.0 * 1152.0 / 44_100.0
        } else {
            0.05
        };
        assert!(
            ours <= expected + 0.05 && ours >= expected - shorter_ok,
            "{}: decoded {ours:.3} s, soxi says {expected:.3} s",
            path.display()
        );
        seen.push(ext);
        let level = common::db(common::rms(&d.samples));
        assert!(
            level > -40.0,
            "{}: nearly silent ({level:.1} dBFS)",
            path.display()
        );
        let peak = d.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak <= 1.01, "{}: peak {peak} beyond full scale", path.display());
    }
    seen.sort();
    assert_eq!(
        seen,
        ["flac", "mp3", "ogg", "wav"],
        "sample-audio/music should hold one file per container"
    );
}

#[test]
fn asterisk_raw_formats_by_extension() {
    let dir = common::tempdir();
    let secs = 1.0;
    let amp = 0.5;
    let expected_rms = amp / 2f32.sqrt();
    type Encoder = fn(&[f32]) -> Vec<u8>;
    let slin: Encoder = |s| s.iter().flat_map(|&x| to_i16(x).to_le_bytes()).collect();
    let ulaw: Encoder = |s| s.iter().map(|&x| g711::linear_to_ulaw(to_i16(x))).collect();
    let alaw: Encoder = |s| s.iter().map(|&x| g711::linear_to_alaw(to_i16(x))).collect();
    // (extension, rate, encoder, minimum sample-by-sample SNR in dB)
    let cases: [(&str, u32, Encoder, f32); 7] = [
        ("sln", 8_000, slin, 80.0),
        ("sln16", 16_000, slin, 80.0),
        ("sln48", 48_000, slin, 80.0),
        ("ulaw", 8_000, ulaw, 30.0),
        ("pcmu", 8_000, ulaw, 30.0),
        ("alaw", 8_000, alaw, 30.0),
        ("pcma", 8_000, alaw, 30.0),
    ];
    for (ext, rate, encode, min_snr) in cases {
        let tone = common::sine(1000.0, amp, secs, rate);
        let path = dir.path().join(format!("tone.{ext}"));
        std::fs::write(&path, encode(&tone)).expect("write raw");
        let d = decode_file(&path).unwrap_or_else(|e| panic!("{ext}: {e:#}"));
        assert_eq!(d.rate, rate, "{ext}: rate");
        assert_eq!(d.samples.len(), tone.len(), "{ext}: length");
        let level = common::db(common::rms(&d.samples)) - common::db(expected_rms);
        assert!(level.abs() <= 0.5, "{ext}: tone level off by {level:.2} dB");
        let noise: Vec<f32> = d.samples.iter().zip(&tone).map(|(a, b)| a - b).collect();
        let snr = common::db(common::rms(&tone)) - common::db(common::rms(&noise));
        assert!(
            snr >= min_snr,
            "{ext}: decoded waveform SNR {snr:.1} dB < {min_snr} dB"
        );
    }
}

#[test]
fn stereo_downmixes_to_the_average_of_left_and_right() {
    let dir = common::tempdir();
    let path = dir.path().join("lr.wav");
    let left = common::sine(440.0, 0.6, 0.5, 44_100);
    let right = common::sine(1500.0, 0.3, 0.5, 44_100);
    let interleaved: Vec<f32> = left.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
    common::write_wav(&path, 44_100, 2, &interleaved);
    let d = decode_file(&path).expect("decode stereo wav");
    assert_eq!(d.rate, 44_100);
    assert_eq!(d.samples.len(), left.len(), "one mono sample per stereo frame");
    let worst = d
        .samples
        .iter()
        .zip(left.iter().zip(&right))
        .map(|(&m, (&l, &r))| (m - (l + r) / 2.0).abs())
        .fold(0.0f32, f32::max);
    // 16-bit quantisation of each channel: well under 1e-4.
    assert!(worst < 1e-4, "downmix differs from (L+R)/2 by up to {worst}");
}

#[test]
fn truncated_mp3_decodes_what_is_there() {
    let dir = common::tempdir();
    let source = common::root().join("sample-audio/music/bed-2-bright.mp3");
    let bytes = std::fs::read(&source).expect("read mp3");
    let path = dir.path().join("half.mp3");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write half mp3");
    let full = decode_file(&source).expect("decode full mp3");
    let half = decode_file(&path).unwrap_or_else(|e| panic!("truncated mp3 should still decode: {e:#}"));
    assert_eq!(half.rate, 44_100);
    let (full_s, half_s) = (
        full.samples.len() as f64 / 44_100.0,
        half.samples.len() as f64 / 44_100.0,
    );
    assert!(
        (half_s - full_s / 2.0).abs() < 1.0,
        "half the bytes gave {half_s:.2} s of {full_s:.2} s"
    );
    // What was decoded is the start of the file.
    let n = half.samples.len().min(44_100 * 5);
    assert_eq!(
        half.samples[..n],
        full.samples[..n],
        "truncated decode differs from the full file's start"
    );
}

/// `decode_file` fails and the error names the file.
fn assert_err_names_path(path: &Path) {
    match decode_file(path) {
        Ok(d) => panic!(
            "{}: decoded {} samples, expected an error",
            path.display(),
            d.samples.len()
        ),
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(
                msg.contains(&path.display().to_string()),
                "error does not name {}: {msg}",
                path.display()
            );
        }
    }
}

#[test]
fn invalid_files_are_errors_naming_the_path() {
    let dir = common::tempdir();
    // Deterministic noise (xorshift), 64 KiB.
    let mut x: u32 = 0x9E37_79B9;
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let random = dir.path().join("x.mp3");
    std::fs::write(&random, &noise).expect("write noise");
    assert_err_names_path(&random);

    for name in ["empty.wav", "empty.mp3"] {
        let empty = dir.path().join(name);
        std::fs::write(&empty, b"").expect("write empty file");
        assert_err_names_path(&empty);
    }
    assert_err_names_path(&dir.path().join("missing.wav"));
    assert_err_names_path(&dir.path().join("missing.sln"));
}

/// RMS over the middle of `freq` Hz at -6 dBFS (44.1 kHz stereo WAV) brought to
/// `rate`, both through `decode_file` + `resample` and through the cache.
fn converted_rms(dir: &Path, freq: f32, rate: u32) -> f32 {
    let path = dir.join(format!("sine-{freq}.wav"));
    if !path.exists() {
        common::write_wav(
            &path,
            44_100,
            2,
            &common::stereo(&common::sine(freq, 0.5, 2.0, 44_100)),
        );
    }
    let d = decode_file(&path).expect("decode sine");
    let direct = resample(&d.samples, d.rate, rate).expect("resample");
    let expected_len = 2 * rate as usize;
    assert!(
        direct.len().abs_diff(expected_len) <= 2,
        "{freq} Hz → {rate} Hz: {} samples",
        direct.len()
    );
    let cached = Cache::open(Some(&dir.join("cache")))
        .load(&path, rate)
        .expect("cache load");
    assert_eq!(
        cached.samples(),
        &direct[..],
        "{freq} Hz → {rate} Hz: cache differs from decode + resample"
    );
    common::rms(middle(&direct, rate))
}

#[test]
fn downsampling_to_8k_keeps_aliases_60db_down() {
    let dir = common::tempdir();
    let pass = converted_rms(dir.path(), 1000.0, 8_000);
    let alias = converted_rms(dir.path(), 5000.0, 8_000);
    // The 1 kHz tone itself comes through at its level (0.5 / √2).
    let pass_level = common::db(pass) - common::db(0.5 / 2f32.sqrt());
    assert!(
        pass_level.abs() < 0.5,
        "1 kHz at 8 kHz is off by {pass_level:.2} dB"
    );
    let rejection = common::db(pass) - common::db(alias);
    assert!(
        rejection >= 60.0,
        "5 kHz aliases at 8 kHz only {rejection:.1} dB below the 1 kHz tone"
    );
}

#[test]
fn resampling_to_16k_keeps_a_5khz_tone() {
    let dir = common::tempdir();
    let pass = converted_rms(dir.path(), 1000.0, 16_000);
    let high = converted_rms(dir.path(), 5000.0, 16_000);
    let diff = common::db(high) - common::db(pass);
    assert!(
        diff.abs() <= 1.0,
        "5 kHz at 16 kHz is {diff:.2} dB from the 1 kHz tone"
    );
    let pass_level = common::db(pass) - common::db(0.5 / 2f32.sqrt());
    assert!(
        pass_level.abs() < 0.5,
        "1 kHz at 16 kHz is off by {pass_level:.2} dB"
    );
}
