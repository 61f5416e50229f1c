//! Where a `random-start` call's first track begins: at a whole second
//! drawn from the call's seed, so callers who start on the same track
//! still hear different bars, and never in the track's last stretch.

/// What a random start leaves of the track at least (or half of a track
/// shorter than twice this): a start just before the end would be heard as
/// a snippet and then a change of track.
const TAIL_SECS: usize = 30;

/// Samples into a track of `len` samples at `rate` Hz for `fraction`
/// (0..1, from the call's seed). On a whole second: the timeline's offset
/// is then a round number one can find in the file with any player, and a
/// second is still far finer than the bar callers would otherwise share.
pub fn offset(fraction: f64, len: usize, rate: u32) -> usize {
    let rate = (rate as usize).max(1);
    let latest = len - (TAIL_SECS * rate).min(len.div_ceil(2));
    // Whole seconds 0..=latest.
    let places = latest / rate + 1;
    let k = (fraction.clamp(0.0, 1.0) * places as f64) as usize;
    k.min(places - 1) * rate
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;

    fn secs(samples: usize) -> f64 {
        samples as f64 / f64::from(RATE)
    }

    /// A 3-minute track starts anywhere from 0 to 150 s, on whole seconds,
    /// spread over the range.
    #[test]
    fn a_long_track_starts_on_a_whole_second_before_its_last_30_s() {
        let len = 180 * 8000;
        assert_eq!(offset(0.0, len, RATE), 0);
        assert_eq!(secs(offset(0.5, len, RATE)), 75.0);
        assert_eq!(secs(offset(0.999_999, len, RATE)), 150.0);
        assert_eq!(secs(offset(1.0, len, RATE)), 150.0);
        let starts: std::collections::BTreeSet<usize> = (0..1000)
            .map(|i| offset(f64::from(i) / 1000.0, len, RATE))
            .collect();
        assert_eq!(starts.len(), 151);
        assert!(starts.iter().all(|s| s % 8000 == 0));
    }

    /// A short track keeps at least its second half; one under two seconds
    /// (or an empty one) starts at its top.
    #[test]
    fn a_short_track_keeps_its_second_half() {
        assert_eq!(secs(offset(0.999, 20 * 8000, RATE)), 10.0);
        assert_eq!(secs(offset(0.999, 20 * 8000 + 4000, RATE)), 10.0);
        assert_eq!(offset(0.999, 8000 + 7999, RATE), 0);
        assert_eq!(offset(0.999, 0, RATE), 0);
        assert_eq!(offset(f64::NAN, 20 * 8000, RATE), 0);
    }

    /// Through the engine: both spellings, the seed, later tracks, a
    /// resumed call and a remembered caller.
    mod engine {
        use crate::audio::clip::Clip;
        use crate::engine::Engine;
        use crate::engine::memory::Memory;
        use crate::engine::timeline::TimelineEvent;
        use crate::scenario::Scenario;
        use std::path::Path;
        use std::sync::Arc;
        use std::time::Duration;

        const TRACKS: &str = "[music]\ntracks = [\"a.wav\", \"b.wav\", \"c.wav\", \"d.wav\"]\n";

        fn scenario(music: &str) -> Scenario {
            // Missing files are kept: the clips are made ready below.
            let loaded = Scenario::from_text(Path::new("/nonexistent/p.toml"), &format!("{TRACKS}{music}"));
            loaded.scenario
        }

        /// `e` with every track ready: 20 s each (random starts 0..=10 s).
        fn ready(mut e: Engine) -> Engine {
            let ids: Vec<_> = e.library().ids().collect();
            for id in ids {
                let samples = (0..20 * 8000).map(|i| 0.3 * (i as f32 * 0.07).sin()).collect();
                let clip = Clip::from_vec(e.library().name(id).clone(), samples, Some(-20.0));
                e.library_mut().set_ready(id, Arc::new(clip));
            }
            e
        }

        /// Renders `frames` frames; the music starts among them: (time,
        /// file, offset in seconds).
        fn starts(e: &mut Engine, frames: usize) -> Vec<(f64, String, f64)> {
            let mut out = vec![0.0; e.frame_len()];
            let mut found = Vec::new();
            for _ in 0..frames {
                e.render_frame(&mut out);
                found.extend(e.drain_timeline().filter_map(|x| match x.event {
                    TimelineEvent::MusicStart { file, offset, .. } => Some((x.t, file.to_string(), offset)),
                    _ => None,
                }));
            }
            found
        }

        /// The first track and where in it the call starts.
        fn first(mut e: Engine) -> (String, f64) {
            let (_, file, offset) = starts(&mut e, 1).remove(0);
            (file, offset)
        }

        /// `order = "random-start"` and `start = "random"` both start at a
        /// random whole second of a random track, from the seed: the same
        /// seed the same place, other seeds other places. Sequential
        /// music starts at the top.
        #[test]
        fn both_spellings_start_at_a_seeded_random_place() {
            for music in ["order = \"random-start\"\n", "start = \"random\"\n"] {
                let s = scenario(music);
                let places: Vec<_> = (1..=8)
                    .map(|seed| first(ready(Engine::new(&s, 8000, seed))))
                    .collect();
                assert_eq!(first(ready(Engine::new(&s, 8000, 1))), places[0], "{music}");
                for (_, offset) in &places {
                    assert!(
                        offset.fract() == 0.0 && (0.0..=10.0).contains(offset),
                        "{places:?}"
                    );
                }
                let distinct: std::collections::BTreeSet<_> =
                    places.iter().map(|(f, o)| (f.clone(), *o as u32)).collect();
                assert!(distinct.len() >= 6, "{music}: {places:?}");
                let inside = places.iter().filter(|(_, o)| *o > 0.0).count();
                assert!(inside >= 6, "{music}: {places:?}");
            }
            let s = scenario("");
            for seed in 1..=8 {
                assert_eq!(first(ready(Engine::new(&s, 8000, seed))), ("a.wav".into(), 0.0));
            }
        }

        /// Only the first track starts inside: it plays to its end, and the
        /// next one starts at its top.
        #[test]
        fn later_tracks_play_from_their_top() {
            let s = scenario("order = \"random-start\"\n");
            let mut e = ready(Engine::new(&s, 8000, 2));
            let found = starts(&mut e, 21 * 50);
            let (t0, _, o) = &found[0];
            assert!(*o > 0.0, "{found:?}");
            let (t1, _, o1) = &found[1];
            assert_eq!(*o1, 0.0, "{found:?}");
            assert!((t1 - t0 - (20.0 - o)).abs() < 0.05, "{found:?}");
        }

        /// A respawned generator goes on where the call was, however the
        /// seed would place a new call; one whose first process wrote its
        /// state before any music starts where that process would have.
        /// The same with music for a window (put in the bed at the start).
        #[test]
        fn a_resumed_call_keeps_its_place() {
            let variant = "[[music.variant]]\nname = \"all day\"\nwhen = \"00:00-24:00\"\n\
                           tracks = [\"a.wav\", \"b.wav\", \"c.wav\", \"d.wav\"]\n";
            for music in [
                "order = \"random-start\"\n".to_string(),
                format!("order = \"random-start\"\n{variant}"),
            ] {
                let s = scenario(&music);
                let mut e = ready(Engine::new(&s, 8000, 3));
                let before = e.snapshot();
                let (_, file, offset) = starts(&mut e, 150).remove(0);
                let snap = e.snapshot();
                let at = snap.music.as_ref().expect("music").offset;
                assert_eq!(at, (offset * 8000.0) as u64 + 150 * 160, "{music}");
                let now_ms = |s: &crate::engine::snapshot::Snapshot| s.wall_start_ms + s.at_ms as i64;
                let resumed = first(ready(Engine::resume(&s, 8000, &snap, now_ms(&snap))));
                assert_eq!(resumed, (file.clone(), at as f64 / 8000.0), "{music}");
                assert!(before.music.is_none());
                let fresh = first(ready(Engine::resume(&s, 8000, &before, now_ms(&before))));
                assert_eq!(fresh, (file, offset), "{music}");
            }
        }

        /// A remembered caller starts on their track where they left it; a
        /// caller whose track is gone starts at the seed's random place.
        #[test]
        fn a_remembered_caller_starts_where_they_left() {
            let s = scenario("order = \"random-start\"\nstart = \"remembered\"\n");
            let memory = |track: &str| Memory {
                music: Some(Path::new("/nonexistent").join(track)),
                offset: Duration::from_secs(7),
                ..Memory::default()
            };
            for seed in 1..=4 {
                let e = Engine::remembering(&s, 8000, seed, &memory("c.wav"));
                assert_eq!(first(ready(e)), ("c.wav".into(), 7.0));
                let e = Engine::remembering(&s, 8000, seed, &memory("gone.wav"));
                assert_eq!(first(ready(e)), first(ready(Engine::new(&s, 8000, seed))));
            }
        }
    }
}
