//! Rendered audio, measured: duck depth and ramp, crossfades, clicks, frame
//! counts, loudness normalisation and the limiter.

use crate::common::*;
use std::path::Path;

const RATE: u32 = 8000;

/// Writes tone files: music A (200 Hz), music B (300 Hz), a silent prompt and
/// a tone prompt that starts and ends at full amplitude (a click if undamped).
fn fixtures(dir: &Path) {
    write_wav(
        &dir.join("a.wav"),
        44_100,
        2,
        &stereo(&sine(200.0, 0.25, 30.0, 44_100)),
    );
    write_wav(
        &dir.join("b.wav"),
        44_100,
        2,
        &stereo(&sine(300.0, 0.25, 30.0, 44_100)),
    );
    write_wav(&dir.join("quiet.wav"), 16_000, 1, &vec![0.0; 16_000 * 4]);
    let cos: Vec<f32> = (0..16_000 * 3)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 250.0 * i as f32 / 16_000.0).cos())
        .collect();
    write_wav(&dir.join("voice.wav"), 16_000, 1, &cos);
}

const PLAYLIST: &str = r#"
[music]
tracks = ["a.wav", "b.wav"]
crossfade = "1s"
[prompts]
quiet = "quiet.wav"
voice = "voice.wav"
[keys]
3 = { action = "next-music", debounce = "3s" }
4 = { action = "say", say = ["quiet"] }
6 = { action = "say", say = ["voice"] }
7 = { action = "skip-prompt" }
"#;

fn render(dir: &Path, secs: u32, events: &[&str], extra: &[&str]) -> (Vec<f32>, Vec<serde_json::Value>) {
    render_playlist(dir, PLAYLIST, secs, events, extra)
}

fn render_playlist(
    dir: &Path,
    text: &str,
    secs: u32,
    events: &[&str],
    extra: &[&str],
) -> (Vec<f32>, Vec<serde_json::Value>) {
    let pl = playlist(dir, "p.toml", text);
    render_call(dir, &pl, secs, events, extra)
}

/// RMS envelope over exact periods of 200 Hz (40 samples).
fn envelope(s: &[f32]) -> Vec<f32> {
    s.chunks(40).map(rms).collect()
}

#[test]
fn duck_is_minus_20_db_with_a_full_second_sine_ramp() {
    let dir = tempdir();
    fixtures(dir.path());
    // A prompt due by the clock: a key's answer ducks faster (issue 19,
    // tests/keys.rs).
    let text = format!("{PLAYLIST}[[repeat]]\nfirst = \"5s\"\nsay = [\"quiet\"]\n");
    let (s, tl) = render_playlist(dir.path(), &text, 14, &[], &[]);
    let t0 = first_t(&tl, "duck_start");
    let t1 = first_t(&tl, "prompt_start");
    let t2 = first_t(&tl, "prompt_end");
    let t3 = first_t(&tl, "duck_end");
    assert!((t0 - 5.02).abs() < 1e-6, "duck_start at {t0}");
    assert!((t1 - t0 - 1.0).abs() < 0.021, "ramp down {t0}..{t1}");
    assert!((t3 - t2 - 1.0).abs() < 0.041, "ramp up {t2}..{t3}");

    let before = rms(window(&s, RATE, 3.0, 4.9));
    let during = rms(window(&s, RATE, t1 + 0.2, t2 - 0.2));
    let depth = db(during / before);
    assert!((depth + 20.0).abs() <= 1.5, "duck depth {depth:.2} dB");
    let after = rms(window(&s, RATE, t3 + 0.1, t3 + 1.0));
    assert!(db(after / before).abs() < 0.5, "music back to full level");

    // The ramp: from the first 0.05 dB drop to within 0.05 dB of the duck level.
    let env = envelope(&s);
    let period = 40.0 / RATE as f64;
    let from = ((t0 - 0.3) / period) as usize;
    let start = env
        .iter()
        .skip(from)
        .position(|&e| db(e / before) < -0.05)
        .expect("duck begins")
        + from;
    let level = during;
    let end = env
        .iter()
        .skip(start)
        .position(|&e| db(e / level) < 0.05)
        .expect("duck ends")
        + start;
    let ramp = (end - start) as f64 * period;
    assert!(ramp >= 0.9, "duck ramp lasted {ramp:.3} s");
    // And it only goes down.
    assert!(
        env[start..end].windows(2).all(|w| w[1] <= w[0] * 1.01),
        "ramp is monotonic"
    );
}

#[test]
fn switching_music_crossfades_with_equal_power() {
    let dir = tempdir();
    fixtures(dir.path());
    let (s, tl) = render(dir.path(), 10, &["4s:dtmf:3"], &[]);
    let sw = events(&tl, "music_switch");
    assert_eq!(sw.len(), 1);
    assert_eq!(sw[0]["from"], "a.wav");
    assert_eq!(sw[0]["to"], "b.wav");
    let t = sw[0]["t"].as_f64().expect("t");
    let amp = |a: f64, b: f64, f: f32| tone_amplitude(window(&s, RATE, a, b), f, RATE);
    let a_before = amp(t - 1.0, t - 0.1, 200.0);
    assert!(amp(t - 1.0, t - 0.1, 300.0) < a_before * 0.01);
    // Mid-crossfade both play at about -3 dB.
    let (a_mid, b_mid) = (amp(t + 0.45, t + 0.55, 200.0), amp(t + 0.45, t + 0.55, 300.0));
    assert!(
        (db(a_mid / a_before) + 3.0).abs() < 1.0,
        "A mid {:.2} dB",
        db(a_mid / a_before)
    );
    assert!(
        (db(b_mid / a_before) + 3.0).abs() < 1.0,
        "B mid {:.2} dB",
        db(b_mid / a_before)
    );
    // After it, only B, at A's level (both normalised to the same loudness).
    let (a_after, b_after) = (amp(t + 1.2, t + 2.0, 200.0), amp(t + 1.2, t + 2.0, 300.0));
    assert!(a_after < a_before * 0.01);
    assert!(db(b_after / a_before).abs() < 0.5);
    // Equal power: the level never dips during the fade.
    for k in 0..10 {
        let a = t + k as f64 * 0.1;
        let r = rms(window(&s, RATE, a, a + 0.1));
        assert!(
            db(r / rms(window(&s, RATE, t - 1.0, t - 0.1))).abs() < 1.0,
            "level at {a:.1}s"
        );
    }
}

/// Second differences show clicks: a smooth sine of amplitude A and angular
/// step w has |d2| <= A w^2, while a jump J shows as |d2| ~ J.
fn max_d2(s: &[f32]) -> f32 {
    s.windows(3)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn no_clicks_at_any_transition() {
    let dir = tempdir();
    fixtures(dir.path());
    // Prompt over music, a switch during a prompt, a skipped prompt, a loop
    // of the track list (30 s tracks), and the stream start.
    let (s, tl) = render(
        dir.path(),
        70,
        &[
            "2s:dtmf:6",
            "3.5s:dtmf:3",
            "10s:dtmf:6",
            "12.3s:dtmf:7",
            "20s:dtmf:3",
            "40s:dtmf:6",
        ],
        &[],
    );
    assert_eq!(
        events(&tl, "prompt_end")
            .iter()
            .filter(|e| e["skipped"] == true)
            .count(),
        1
    );
    assert!(events(&tl, "music_start").len() >= 4, "tracks looped");
    // What the sources contain: the loudest steady passage (prompt over ducked music).
    let steady = [
        window(&s, RATE, 1.0, 1.9),
        window(&s, RATE, 4.0, 4.5),
        window(&s, RATE, 14.0, 19.0),
    ];
    let bound = steady.iter().map(|w| max_d2(w)).fold(0.0, f32::max);
    assert!(bound > 0.0);
    let worst = max_d2(&s);
    let at = s
        .windows(3)
        .position(|w| (w[2] - 2.0 * w[1] + w[0]).abs() == worst)
        .unwrap_or(0);
    assert!(
        worst <= bound * 1.5,
        "click: second difference {worst:.4} at {:.3}s vs {bound:.4} in steady passages",
        at as f64 / RATE as f64
    );
}

#[test]
fn frame_counts_are_exact_in_every_format() {
    let dir = tempdir();
    fixtures(dir.path());
    let pl = playlist(dir.path(), "p.toml", PLAYLIST);
    for (format, bytes_per_second) in [
        ("slin", 16_000u64),
        ("slin16", 32_000),
        ("ulaw", 8_000),
        ("alaw", 8_000),
    ] {
        let out = dir.path().join(format!("out.{format}"));
        ok(holdmix(dir.path())
            .args(["render", "--duration", "90s", "--format", format, "-o"])
            .arg(&out)
            .arg(&pl));
        assert_eq!(
            std::fs::metadata(&out).expect("out").len(),
            90 * bytes_per_second,
            "{format}"
        );
    }
    // A duration that is not a whole number of frames rounds up to one.
    let out = dir.path().join("odd.raw");
    ok(holdmix(dir.path())
        .args(["render", "--duration", "1.005s", "-o"])
        .arg(&out)
        .arg(&pl));
    assert_eq!(std::fs::metadata(&out).expect("out").len(), 51 * 320);
    // WAV: the sample count.
    let wav = dir.path().join("o.wav");
    ok(holdmix(dir.path())
        .args(["render", "--duration", "90s", "-o"])
        .arg(&wav)
        .arg(&pl));
    assert_eq!(read_wav(&wav).1.len(), 720_000);
}

#[test]
fn music_and_voice_are_equally_loud() {
    let dir = tempdir();
    let root = root();
    let music = root.join("sample-audio/music/bed-4-pulse.ogg");
    let p = |n: &str| {
        root.join(format!("sample-audio/prompts/en/{n}.wav"))
            .display()
            .to_string()
    };
    let text = format!(
        "[music]\ntracks = [{music:?}]\n[prompts]\nwelcome = {:?}\nhelp = {:?}\nthere = {:?}\n[welcome]\nsay = [\"welcome\", \"help\", \"there\"]\n",
        p("welcome"),
        p("key-help"),
        p("still-there"),
    );
    let pl = playlist(dir.path(), "p.toml", &text);
    let out = dir.path().join("out.wav");
    let tl = dir.path().join("tl.jsonl");
    ok(holdmix(dir.path())
        .args(["render", "--duration", "40s", "-o"])
        .arg(&out)
        .arg("--timeline")
        .arg(&tl)
        .arg(&pl));
    let (_, s) = read_wav(&out);
    let tl = timeline(&tl);
    let start = first_t(&tl, "prompt_start");
    let end = events(&tl, "prompt_end")
        .last()
        .and_then(|e| e["t"].as_f64())
        .expect("prompt end");
    let duck_end = first_t(&tl, "duck_end");
    let voice = lufs(window(&s, RATE, start, end), RATE);
    let music = lufs(window(&s, RATE, duck_end + 0.5, 40.0), RATE);
    assert!(
        (voice - music).abs() <= 1.5,
        "voice {voice:.2} LUFS vs music {music:.2} LUFS"
    );
    assert!(
        (music + 20.0).abs() <= 1.5,
        "music at {music:.2} LUFS, target -20"
    );
}

#[test]
fn hot_files_never_clip() {
    let dir = tempdir();
    let square: Vec<f32> = (0..44_100 * 10)
        .map(|i| if (i / 50) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    write_wav(&dir.path().join("hot.wav"), 44_100, 2, &stereo(&square));
    let noise: Vec<f32> = (0..16_000 * 4u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) as f32 / (1u32 << 25) as f32) * 2.0 - 1.0)
        .collect();
    write_wav(&dir.path().join("loud.wav"), 16_000, 1, &noise);
    let text = "[music]\ntracks = [\"hot.wav\"]\n[levels]\nloudness = -3.0\nduck = 0.9\n[prompts]\nloud = \"loud.wav\"\n[welcome]\nsay = [\"loud\"]\n";
    let pl = playlist(dir.path(), "p.toml", text);
    let out = dir.path().join("out.raw");
    ok(holdmix(dir.path())
        .args(["render", "--duration", "10s", "-o"])
        .arg(&out)
        .arg(&pl));
    let s = read_slin(&out);
    let peak = s.iter().map(|&x| i32::from(x).abs()).max().unwrap_or(0);
    assert!(peak < 32767, "clipped: peak {peak}");
    // The limiter was working (the mix would be far over full scale without it).
    assert!(peak > 26_000, "peak {peak}");
}

#[test]
fn debounce_is_exact_to_the_millisecond() {
    let dir = tempdir();
    fixtures(dir.path());
    let (_, tl) = render(
        dir.path(),
        20,
        &[
            "5s:dtmf:3",
            "7.999s:dtmf:3",
            "8s:dtmf:3",
            "10.999s:dtmf:3",
            "11s:dtmf:3",
        ],
        &[],
    );
    let actions: Vec<&str> = events(&tl, "dtmf")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["next-music", "debounced", "next-music", "debounced", "next-music"]
    );
    assert_eq!(events(&tl, "music_switch").len(), 3);
}
