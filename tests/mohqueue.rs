//! `render --mohqueue DIR`: Kamailio mohqueue's `mohfile.<pt>` loops,
//! decoded by sox and ffmpeg and compared with a plain render of the same
//! call, their sizes, the loop point played through twice, and one
//! directory per route (issue 22).

use crate::codecs::{best_correlation, read_s16le, s, synth, tool};
use crate::common;
use std::path::{Path, PathBuf};

/// The render starts this far into the call (the crossfade's length).
const FADE_MS: usize = 50;

/// A playlist whose music is a loud, ever-changing sweep: any jump at the
/// loop point would stand out from its steps.
fn sweep_playlist(dir: &Path) -> PathBuf {
    let music = dir.join("music.wav");
    synth(&music, 16000, &["synth", "7.3", "sine", "300-1700", "vol", "0.5"]);
    common::playlist(dir, "p.toml", "[music]\ntracks = [\"music.wav\"]\n")
}

fn export(dir: &Path, playlist: &Path, secs: u32) -> PathBuf {
    let out = dir.join("moh");
    common::ok(
        common::holdmix(dir)
            .args([
                "render",
                "--seed",
                "5",
                "--duration",
                &format!("{secs}s"),
                "--mohqueue",
            ])
            .arg(&out)
            .arg(playlist),
    );
    out
}

/// A plain render of the same call at `format`, as s16le samples.
fn plain(dir: &Path, playlist: &Path, format: &str, secs: u32) -> Vec<f32> {
    let out = dir.join(format!("plain-{format}.raw"));
    common::ok(
        common::holdmix(dir)
            .args([
                "render",
                "--seed",
                "5",
                "--duration",
                &format!("{}s", secs + 1),
                "--format",
                format,
                "-o",
            ])
            .arg(&out)
            .arg(playlist),
    );
    read_s16le(&out)
}

/// `file` decoded by the reference tool to mono s16le at `rate`.
fn decode(dir: &Path, file: &Path, rate: u32) -> Vec<f32> {
    let out = dir.join(format!(
        "{}.decoded.raw",
        file.file_name().unwrap().to_string_lossy()
    ));
    let r = rate.to_string();
    let input: Vec<&str> = match file.extension().and_then(|e| e.to_str()).unwrap() {
        "0" => vec!["-t", "ul", "-r", "8000", "-c", "1"],
        "8" => vec!["-t", "al", "-r", "8000", "-c", "1"],
        "10" => vec![
            "-t", "raw", "-e", "signed", "-b", "16", "-B", "-r", "44100", "-c", "2",
        ],
        "11" => vec![
            "-t", "raw", "-e", "signed", "-b", "16", "-B", "-r", "44100", "-c", "1",
        ],
        "9" | "twice9" => {
            tool(
                "ffmpeg",
                &[
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "g722",
                    "-i",
                    s(file),
                    "-ar",
                    &r,
                    "-f",
                    "s16le",
                    s(&out),
                ],
            );
            return read_s16le(&out);
        }
        other => panic!("no decoder for .{other}"),
    };
    let mut args = input;
    args.push(s(file));
    args.extend([
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        "-c",
        "1",
        "-r",
        &r,
        s(&out),
    ]);
    tool("sox", &args);
    read_s16le(&out)
}

#[test]
fn mohqueue_files_are_the_render_in_every_payload_type() {
    let dir = common::tempdir();
    let playlist = sweep_playlist(dir.path());
    let moh = export(dir.path(), &playlist, 30);
    for (name, bytes) in [
        ("mohfile.0", 240_000),
        ("mohfile.8", 240_000),
        ("mohfile.9", 240_000),
        ("mohfile.10", 30 * 44_100 * 4),
        ("mohfile.11", 30 * 44_100 * 2),
    ] {
        let len = std::fs::metadata(moh.join(name)).unwrap().len();
        assert_eq!(len, bytes, "{name}: duration x rate x bytes per sample");
    }
    let plain8 = plain(dir.path(), &playlist, "slin", 30);
    let plain16 = plain(dir.path(), &playlist, "slin16", 30);
    for (name, rate, reference) in [
        ("mohfile.0", 8000, &plain8),
        ("mohfile.8", 8000, &plain8),
        ("mohfile.9", 16_000, &plain16),
        ("mohfile.10", 16_000, &plain16),
        ("mohfile.11", 16_000, &plain16),
    ] {
        let decoded = decode(dir.path(), &moh.join(name), rate);
        // The file starts FADE_MS into the call; its last FADE_MS are the
        // crossfade. Compare the rest (G.722 delays by 22 samples).
        let start = FADE_MS * rate as usize / 1000;
        let body = 29 * rate as usize;
        let (corr, lag) = best_correlation(&reference[start..start + body], &decoded[..body + 64], 48);
        assert!(
            corr >= 0.95,
            "{name} vs the plain render: correlation {corr:.4} at lag {lag}"
        );
        let (a, b) = (
            common::rms(&reference[start..start + body]),
            common::rms(&decoded[..body]),
        );
        assert!(
            (common::db(a) - common::db(b)).abs() < 1.0,
            "{name}: RMS {b} vs the render's {a}"
        );
        eprintln!(
            "{name}: correlation {corr:.4} at lag {lag}, RMS {:.2} dB vs {:.2} dB",
            common::db(b),
            common::db(a)
        );
        if name != "mohfile.9" {
            // The file's last 10 ms are the call's 10 ms before the file's
            // first sample: its end flows into its start. (G.722's delay
            // puts its end past a single decode; the loop test covers it.)
            let len = 30 * rate as usize;
            let n = rate as usize / 100;
            let end = crate::codecs::correlation(&decoded[len - n..len], &reference[start - n..start]);
            eprintln!("{name}: end vs the call's start: correlation {end:.4}");
            assert!(
                end >= 0.9,
                "{name}: the file's end is not the audio before its start ({end:.4})"
            );
        }
    }
}

#[test]
fn mohqueue_files_loop_without_a_click() {
    let dir = common::tempdir();
    let playlist = sweep_playlist(dir.path());
    let moh = export(dir.path(), &playlist, 5);
    for (name, rate) in [
        ("mohfile.0", 8000),
        ("mohfile.8", 8000),
        ("mohfile.9", 16_000),
        ("mohfile.10", 44_100),
        ("mohfile.11", 44_100),
    ] {
        // Played twice through, as rtpproxy does at the end of the file
        // (for G.722, one decoder across the jump, as the receiver has).
        let bytes = std::fs::read(moh.join(name)).unwrap();
        let ext = name.rsplit('.').next().unwrap();
        let twice = dir.path().join(format!("twice.{ext}"));
        std::fs::write(&twice, [bytes.as_slice(), bytes.as_slice()].concat()).unwrap();
        let y = decode(dir.path(), &twice, rate);
        let jump = y.len() / 2;
        let steps: Vec<f32> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let mut sorted = steps.clone();
        sorted.sort_by(f32::total_cmp);
        let p99 = sorted[sorted.len() * 99 / 100];
        let around = &steps[jump - rate as usize / 100..jump + rate as usize / 100];
        let worst = around.iter().copied().fold(0.0, f32::max);
        assert!(
            worst <= p99 * 1.05,
            "{name}: the largest step within 10 ms of the loop point is {worst:.4}, \
             neighbouring samples differ by up to {p99:.4} (99th percentile)"
        );
        let level = common::rms(&y[jump - rate as usize / 10..jump + rate as usize / 10]);
        assert!(
            level > 0.05,
            "{name}: the music plays through the loop point ({level})"
        );
    }
}

#[test]
fn mohqueue_routes_get_a_directory_each() {
    let dir = common::tempdir();
    let playlist = sweep_playlist(dir.path());
    let quiet = dir.path().join("quiet.wav");
    synth(&quiet, 8000, &["synth", "3", "sine", "440", "vol", "0.1"]);
    common::playlist(dir.path(), "q.toml", "[music]\ntracks = [\"quiet.wav\"]\n");
    let routes = common::playlist(
        dir.path(),
        "routes.toml",
        "[[route]]\nname = \"main\"\nplaylist = \"p.toml\"\ndefault = true\n\n\
         [[route]]\nname = \"sales\"\nplaylist = \"q.toml\"\nwhen = { queue = [\"sales\"] }\n",
    );
    let out = dir.path().join("moh");
    common::ok(
        common::holdmix(dir.path())
            .args(["render", "--seed", "5", "--duration", "3s", "--mohqueue"])
            .arg(&out)
            .arg("--routes")
            .arg(&routes)
            .arg(&playlist),
    );
    let main = decode(dir.path(), &out.join("main/mohfile.0"), 8000);
    let sales = decode(dir.path(), &out.join("sales/mohfile.0"), 8000);
    for route in ["main", "sales"] {
        for pt in [0, 8, 9, 10, 11] {
            assert!(
                out.join(route).join(format!("mohfile.{pt}")).is_file(),
                "{route}/mohfile.{pt}"
            );
        }
    }
    // Each route plays its own playlist: the sweep and the 440 Hz tone.
    let a440 = common::tone_amplitude(&sales[..16_000], 440.0, 8000);
    assert!(a440 > 0.05, "sales plays its 440 Hz music ({a440})");
    assert!(common::tone_amplitude(&main[..16_000], 440.0, 8000) < a440 / 4.0);
}

/// `--format` with `--mohqueue` (which writes every format) is refused
/// with a message naming both, and nothing is written.
#[test]
fn mohqueue_refuses_a_format_it_would_ignore() {
    let tmp = common::tempdir();
    let dir = tmp.path();
    let playlist = sweep_playlist(dir);
    let out = dir.join("moh");
    let run = common::holdmix(dir)
        .args(["render", "--duration", "5s", "--format", "ulaw", "--mohqueue"])
        .arg(&out)
        .arg(&playlist)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("--format") && err.contains("--mohqueue"), "{err}");
    assert!(!out.exists(), "files written: {}", out.display());
}
