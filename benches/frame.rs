//! What one 20 ms frame of the audio path costs, reproducibly: the engine's
//! quiet frame and full-path frame, a second rendered ahead and taken back,
//! the limiter alone and each encoder (`cargo bench --bench frame`; results
//! and how they map to the README's figures in `benches/README.md`).
//!
//! The engine plays `playlists/demo.toml` with the sample audio, decoded
//! once per rate into a temporary cache directory (the user's cache is never
//! written) and mapped from it as `run` maps it. Each frame is counted as
//! one item, so divan prints frames per second beside the time.
//!
//! These are warm-cache figures: the same code and state run back to back.
//! A call process wakes 25 times a second with cold caches, so a tick costs
//! more than its frames do here (see `scripts/bench.sh` for whole ticks).

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use holdmix::audio::cache::Cache;
use holdmix::audio::format::Format;
use holdmix::audio::limiter::Limiter;
use holdmix::engine::ahead::{self, Ahead};
use holdmix::engine::{Engine, Event, EventKind, QuietMark};
use holdmix::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The temporary cache directory, removed when the benches are done.
static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("holdmix-bench-cache")
        .tempdir()
        .expect("a temporary cache directory");
    CACHE_DIR.get_or_init(|| dir.path().to_path_buf());
    divan::main();
    drop(dir);
}

/// The stream rates the engine renders at: `slin` and the rest at 8 kHz,
/// `slin16` at 16 kHz.
const RATES: [u32; 2] = [8_000, 16_000];

/// The engine's seed, as in the unit tests: every run plays the same call.
const SEED: u64 = 7;

/// Frames per second of stream.
const FRAMES_PER_SECOND: usize = 50;

/// Where the demo plays music alone: after the welcome and the key help
/// (about 10 s) and their duck's fade back up, before the first advice at
/// 20 s.
const MUSIC_ALONE_AT: Duration = Duration::from_secs(12);

/// Where the demo plays the welcome over the music held down: past the
/// duck's 1 s fade, before the welcome's end (about 5 s).
const UNDER_PROMPT_AT: Duration = Duration::from_secs(2);

/// The demo playlist and a cache holding its sources at both rates.
struct Demo {
    scenario: Scenario,
    cache: Cache,
}

/// Loads the demo and decodes every source at every rate, once.
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo.toml");
        let scenario = holdmix::scenario::load_valid(&path).expect("the demo playlist loads");
        let dir = CACHE_DIR.get().expect("main made the cache directory");
        let cache = Cache::open(Some(dir));
        assert_eq!(cache.dir(), Some(dir.as_path()), "the temporary cache is usable");
        for rate in RATES {
            let mut e = Engine::new(&scenario, rate, SEED);
            holdmix::sources::load_all(e.library_mut(), &cache, rate);
        }
        Demo { scenario, cache }
    })
}

/// The demo's engine at `rate`, its sources mapped from the cache, moved on
/// to `at` the way `run` renders: the quiet path when it can, else the full one.
fn engine_at(rate: u32, at: Duration) -> (Engine, Vec<f32>) {
    let d = demo();
    let mut e = Engine::new(&d.scenario, rate, SEED);
    holdmix::sources::load_all(e.library_mut(), &d.cache, rate);
    let mut out = vec![0.0f32; e.frame_len()];
    while e.now() < at {
        if !e.render_quiet_frame(&mut out) {
            e.render_frame(&mut out);
        }
        e.drain_timeline().for_each(drop);
        e.take_requests().for_each(drop);
    }
    (e, out)
}

/// A stretch of quiet frames to render over and over: the engine at `at`, a
/// mark there, and how many frames after it stay on the quiet path (whole
/// seconds, at most `max_seconds`). The engine is left at the mark.
fn quiet_window(rate: u32, at: Duration, max_seconds: usize) -> (Engine, Vec<f32>, QuietMark, usize) {
    let (mut e, mut out) = engine_at(rate, at);
    let mark = e.quiet_mark();
    let mut frames = 0;
    while frames < max_seconds * FRAMES_PER_SECOND && e.render_quiet_frame(&mut out) {
        frames += 1;
    }
    let frames = frames - frames % FRAMES_PER_SECOND;
    assert!(frames > 0, "no quiet second at {at:?} ({rate} Hz)");
    e.rewind_quiet(&mark, 0);
    (e, out, mark, frames)
}

/// Where a quiet frame is measured.
#[derive(Debug, Clone, Copy)]
enum Quiet {
    MusicAlone,
    UnderPrompt,
}

impl Quiet {
    fn at(self) -> Duration {
        match self {
            Quiet::MusicAlone => MUSIC_ALONE_AT,
            Quiet::UnderPrompt => UNDER_PROMPT_AT,
        }
    }
}

/// The engine's frames.
mod engine {
    use super::*;

    /// One quiet frame (`Engine::render_quiet_frame`): music alone, the
    /// demo's seconds from 12 s played over and over.
    #[divan::bench(args = RATES, counter = ItemsCount::new(1usize))]
    fn quiet_frame(bencher: Bencher, rate: u32) {
        quiet(bencher, rate, Quiet::MusicAlone);
    }

    /// One quiet frame with the welcome playing over the music held down
    /// (the quiet path mixes the prompt in).
    #[divan::bench(args = RATES, counter = ItemsCount::new(1usize))]
    fn quiet_frame_under_prompt(bencher: Bencher, rate: u32) {
        quiet(bencher, rate, Quiet::UnderPrompt);
    }

    fn quiet(bencher: Bencher, rate: u32, place: Quiet) {
        let (mut e, mut out, mark, frames) = quiet_window(rate, place.at(), 7);
        let mut done = 0;
        bencher.bench_local(|| {
            // Back to the window's start (a few copies) once through it.
            if done == frames {
                e.rewind_quiet(&mark, 0);
                done = 0;
            }
            let quiet = e.render_quiet_frame(black_box(&mut out));
            assert!(quiet, "left the quiet path");
            done += 1;
        });
    }

    /// A second (50 frames) of full-path frames (`Engine::render_frame`,
    /// each with an event due, which rules the quiet path out) while the
    /// welcome plays over the music held down. Divan's time is per second
    /// of stream; per frame, divide by 50 (or read the frames per second).
    #[divan::bench(
        args = RATES,
        counter = ItemsCount::new(FRAMES_PER_SECOND),
        sample_count = 100,
        sample_size = 1
    )]
    fn full_frames_second(bencher: Bencher, rate: u32) {
        bencher
            .with_inputs(|| engine_at(rate, UNDER_PROMPT_AT))
            .bench_local_refs(|(e, out)| {
                for _ in 0..FRAMES_PER_SECOND {
                    // The queue's hold time, unchanged: an event with no
                    // effect but that of taking the full path.
                    e.push(Event {
                        at: e.now(),
                        kind: EventKind::Holdtime(Duration::from_secs(300)),
                    });
                    e.render_frame(black_box(&mut out[..]));
                    e.drain_timeline().for_each(drop);
                }
            });
    }
}

/// Frames rendered ahead (`engine::ahead`): a second at a time, and taken
/// back on an event.
mod ahead_frames {
    use super::*;

    /// The formats `run` streams, for the frames' encoding.
    const FORMATS: [&str; 2] = ["slin", "slin16"];

    fn format(name: &str) -> Format {
        <Format as clap::ValueEnum>::from_str(name, true).expect("a format name")
    }

    /// `Ahead::fill`: the next second (50 quiet frames, music alone)
    /// rendered and encoded, then all taken, so the next fill renders the
    /// second after it (back to the start after a few seconds).
    #[divan::bench(args = FORMATS, counter = ItemsCount::new(ahead::FRAMES))]
    fn fill(bencher: Bencher, name: &str) {
        let format = format(name);
        let (e, _, mark, frames) = quiet_window(format.rate(), MUSIC_ALONE_AT, 7);
        let mut ahead = Ahead::new(e, format);
        let mut done = 0;
        bencher.bench_local(|| {
            if done == frames {
                // Nothing is ready here (all was taken): only the engine moves back.
                ahead.change().rewind_quiet(&mark, 0);
                done = 0;
            }
            ahead.fill();
            assert_eq!(ahead.ready(), ahead::FRAMES, "a whole second ahead");
            black_box(ahead.take(ahead::FRAMES));
            done += ahead::FRAMES;
        });
    }

    /// Frames taken before an event in a second rendered ahead: the first
    /// two (a 40 ms reader's first read), half, all but two.
    const TAKEN: [usize; 3] = [2, 26, 48];

    /// `Ahead::change` (which takes back what is not written) after `taken`
    /// of a filled second's frames were
    /// written: it renders those frames again from the second's start
    /// (into nothing) to get the engine back to the first frame not
    /// written. Each sample starts from a fresh engine, so the time is of
    /// one rewind.
    #[divan::bench(args = TAKEN, sample_count = 100, sample_size = 1)]
    fn rewind(bencher: Bencher, taken: usize) {
        let format = Format::Slin;
        bencher
            .with_inputs(|| {
                let (e, _) = engine_at(format.rate(), MUSIC_ALONE_AT);
                let mut ahead = Ahead::new(e, format);
                ahead.fill();
                assert_eq!(ahead.ready(), ahead::FRAMES, "a whole second ahead");
                ahead.take(taken);
                ahead
            })
            .bench_local_refs(|ahead| {
                black_box(ahead.change());
            });
    }
}

/// The stages after the mix, alone, on a frame of the demo's music.
mod stages {
    use super::*;

    /// A frame of music at `rate`: the demo's, as the engine renders it.
    fn music_frame(rate: u32) -> Vec<f32> {
        let (mut e, mut out) = engine_at(rate, MUSIC_ALONE_AT);
        e.render_frame(&mut out);
        out
    }

    /// `Limiter::process` on one frame, as the engine sets it up.
    #[divan::bench(args = RATES, counter = ItemsCount::new(1usize))]
    fn limiter(bencher: Bencher, rate: u32) {
        let mut buf = music_frame(rate);
        let mut limiter = Limiter::new(buf.len(), 25);
        // The limiter swaps the frame with the one it delayed: the buffer
        // alternates between two frames of music.
        bencher.bench_local(|| limiter.process(black_box(&mut buf)));
    }

    /// The output formats.
    const FORMATS: [&str; 4] = ["slin", "slin16", "ulaw", "alaw"];

    /// `Format::encode_into` of one frame.
    #[divan::bench(args = FORMATS, counter = ItemsCount::new(1usize))]
    fn encode(bencher: Bencher, name: &str) {
        let format = <Format as clap::ValueEnum>::from_str(name, true).expect("a format name");
        let samples = music_frame(format.rate());
        let mut out = vec![0u8; format.frame_bytes()];
        bencher.bench_local(|| format.encode_into(black_box(&samples), black_box(&mut out)));
    }
}
