//! `random-start`: the first track starts at a random whole second drawn
//! from the call's seed, measured in the rendered PCM (each second of the
//! tracks is a tone of its own) and in the timeline, and it fades in
//! without a click although every second starts at a peak of its tone.

use super::common::*;
use std::f32::consts::PI;
use std::path::Path;

const RATE: u32 = 8000;
const TRACK_SECS: u32 = 20;

/// The tone of second `s` of every track: 200, 240, … 960 Hz.
fn tone(s: u32) -> f32 {
    200.0 + 40.0 * s as f32
}

/// Four 20 s tracks (random starts then fall on 0..=10 s); second `s` of
/// each is a cosine of [`tone`]`(s)`, so a whole-second start begins at
/// the tone's peak: the worst case for a click.
fn tracks(dir: &Path) {
    let samples: Vec<f32> = (0..TRACK_SECS * RATE)
        .map(|n| {
            let f = tone(n / RATE);
            0.4 * (2.0 * PI * f * (n % RATE) as f32 / RATE as f32).cos()
        })
        .collect();
    for name in ["a", "b", "c", "d"] {
        write_wav(&dir.join(format!("{name}.wav")), RATE, 1, &samples);
    }
}

/// A 3 s call with `seed`: its samples, and the first music start's file
/// and offset (s) from the timeline.
fn call(dir: &Path, seed: u64) -> (Vec<f32>, String, f64) {
    let pl = playlist(
        dir,
        "rs.toml",
        "[music]\ntracks = [\"a.wav\", \"b.wav\", \"c.wav\", \"d.wav\"]\norder = \"random-start\"\n",
    );
    let (pcm, tl) = render_call(dir, &pl, 3, &[], &["--seed", &seed.to_string()]);
    let start = events(&tl, "music_start")[0];
    let file = start["file"].as_str().expect("file").to_string();
    (pcm, file, start["offset"].as_f64().expect("offset"))
}

/// The second of the track playing in `w` (the strongest of the tones).
fn second_heard(w: &[f32]) -> u32 {
    (0..TRACK_SECS)
        .max_by(|&a, &b| tone_amplitude(w, tone(a), RATE).total_cmp(&tone_amplitude(w, tone(b), RATE)))
        .expect("tones")
}

#[test]
fn the_first_track_starts_at_a_seeded_second_and_fades_in() {
    let dir = tempdir();
    tracks(dir.path());
    let calls: Vec<_> = (1..=4).map(|seed| call(dir.path(), seed)).collect();
    let places: Vec<_> = calls.iter().map(|(_, f, o)| (f.clone(), *o)).collect();
    // Reproducible: the same seed, the same samples.
    let again = call(dir.path(), 1);
    assert_eq!((&again.1, again.2), (&calls[0].1, calls[0].2));
    assert!(again.0 == calls[0].0, "seed 1 rendered different samples");
    // Other seeds, other places, inside the tracks.
    let distinct: std::collections::BTreeSet<_> = places.iter().map(|(f, o)| (f, *o as u32)).collect();
    assert_eq!(distinct.len(), 4, "{places:?}");
    assert!(places.iter().filter(|(_, o)| *o > 0.0).count() >= 3, "{places:?}");
    for (pcm, _, offset) in &calls {
        assert!(offset.fract() == 0.0 && *offset <= 10.0, "{places:?}");
        let o = *offset as u32;
        // What is heard after the fade-in is the track one second on.
        let steady = window(pcm, RATE, 1.3, 1.8);
        assert_eq!(second_heard(steady), o + 1, "{places:?}");
        if o == 0 {
            continue;
        }
        // No click: from the silence before it, no step larger than the
        // music's own (a cosine of peak A steps at most 2A·sin(πf/rate)),
        // where cutting in at the peak would step by A.
        let peak = steady.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let own = 2.0 * peak * (PI * tone(o) / RATE as f32).sin();
        let mut start = vec![0.0];
        start.extend_from_slice(window(pcm, RATE, 0.0, 0.3));
        assert!(max_step(&start) <= 1.1 * own, "step {} > {own}", max_step(&start));
        assert!(peak > 2.0 * own, "the test tone must make a cut-in a click");
        // It fades in (over the crossfade, 1 s).
        assert!(rms(window(pcm, RATE, 0.0, 0.05)) < 0.2 * rms(steady));
    }
}
