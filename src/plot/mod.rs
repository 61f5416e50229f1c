//! `render --plot`: a PNG picture of a simulated call. The output level (RMS
//! dBFS per window) is drawn over time, with the timeline on top of it:
//! music tracks and prompts as labelled bands, ducks shaded, and key
//! presses, positions, source errors and the exit as vertical lines. A
//! prompt's label names its queue and files (`advice/middle:
//! 02-paperless.ogg`), whole: in its band, above it, or as a number the
//! legend below explains (`labels`); a key below says what the curve and
//! the shading are.
//!
//! Text uses an embedded DejaVu Sans through plotters' ab_glyph
//! support, so a bare machine needs no system fonts or C libraries. The
//! pixels are encoded with the `png` crate rather than plotters' `image`
//! encoder: no JPEG/BMP code in the binary, and the file is a PNG whatever
//! its name ends in.

mod arrange;
pub mod day;
mod day_layout;
mod draw;
mod labels;
mod lanes;
mod legend;
mod marks;
mod meter;
pub mod report;
mod row_labels;
mod text;
mod title;

pub use meter::LevelMeter;

use draw::draw;

use crate::engine::timeline::Entry;
use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The bottom of the level axis; telephone audio below this is inaudible.
const Y_MIN: f64 = -60.0;

const MIN_WIDTH: u32 = 200;
const MIN_HEIGHT: u32 = 100;
/// 40 M pixels is a 120 MB frame buffer: enough for any screen or print.
const MAX_PIXELS: u64 = 40_000_000;

/// Longest marker label, and title, in characters before it is cut with an
/// ellipsis (the lanes' labels are never cut: see `labels`).
const MAX_LABEL_CHARS: usize = 32;
const MAX_TITLE_CHARS: usize = 160;
/// Shorter than this after cutting, a label says nothing: leave it out.
const MIN_LABEL_CHARS: usize = 3;

const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const GRID_LIGHT: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
const LANE_BG: RGBColor = RGBColor(0xf4, 0xf4, 0xf4);
const LEVEL_LINE: RGBColor = RGBColor(0x1f, 0x4e, 0x8c);
const LEVEL_FILL: RGBColor = RGBColor(0x4a, 0x7a, 0xb5);
const DUCK: RGBColor = RGBColor(0x88, 0x88, 0x88);
const PROMPT: RGBColor = RGBColor(0xfb, 0x9a, 0x99);
const MUSIC: [RGBColor; 8] = [
    RGBColor(0x8d, 0xd3, 0xc7),
    RGBColor(0xfd, 0xb4, 0x62),
    RGBColor(0xb3, 0xde, 0x69),
    RGBColor(0xbe, 0xba, 0xda),
    RGBColor(0xfc, 0xcd, 0xe5),
    RGBColor(0xff, 0xed, 0x6f),
    RGBColor(0x80, 0xb1, 0xd3),
    RGBColor(0xcc, 0xeb, 0xc5),
];

/// Draws the picture: output level over time (x: seconds of stream time, y: dBFS -60..0),
/// with the timeline marked: music tracks as coloured bands along the top labelled with
/// the file name (from `music_start`/`music_switch` events), ducks as shaded spans
/// (duck_start..duck_end), prompts as spans (prompt_start..prompt_end) labelled per
/// phrase with their queue and file names, key presses as vertical lines labelled with
/// the digit and action (dtmf events), plus `position` values and `exit`. Writes a PNG
/// of exactly width x height pixels.
pub fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    title: &str,
    meter: &LevelMeter,
    timeline: &[Entry],
) -> Result<()> {
    let fail = || format!("{}: cannot write plot", path.display());
    check_size(width, height).with_context(fail)?;
    register_font().with_context(fail)?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    draw(&mut rgb, (width, height), title, meter, timeline).with_context(fail)?;
    let png = encode_png(width, height, &rgb).with_context(fail)?;
    std::fs::write(path, png).with_context(fail)
}

/// Whether a picture of this size can be drawn (also checked when
/// `--plot-size` is read, before any rendering).
pub fn check_size(width: u32, height: u32) -> Result<()> {
    if width < MIN_WIDTH || height < MIN_HEIGHT || u64::from(width) * u64::from(height) > MAX_PIXELS {
        bail!(
            "size {width}x{height} is out of range (at least {MIN_WIDTH}x{MIN_HEIGHT}, \
             at most {MAX_PIXELS} pixels)"
        );
    }
    Ok(())
}

/// plotters' default family is sans-serif, so registering the font under
/// that name makes the axis labels use it too.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font(FontFamily::SansSerif.as_str(), FontStyle::Normal, FONT).is_ok()
    });
    if !ok {
        bail!("the embedded font cannot be read");
    }
    Ok(())
}

fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::draw::level_points;
    use super::*;
    use crate::engine::timeline::TimelineEvent;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn level_points_keep_the_loudest_window_per_column() {
        let levels = [-50.0, -10.0, -40.0, -80.0, -70.0];
        assert_eq!(
            level_points(&levels, 1.0, 2),
            [(1.5, -10.0), (4.0, -60.0)],
            "3 windows per column; -70 clamps to the axis"
        );
        assert_eq!(
            level_points(&levels[..2], 0.5, 10),
            [(0.25, -50.0), (0.75, -10.0)]
        );
    }

    fn timeline() -> Vec<Entry> {
        let entry = |t, event| Entry { t, event };
        vec![
            entry(
                0.0,
                TimelineEvent::MusicStart {
                    file: Arc::from("/srv/moh/a-rather-long-track-name-that-will-not-fit.flac"),
                    track: 0,
                    offset: 0.0,
                },
            ),
            entry(0.5, TimelineEvent::DuckStart),
            entry(
                1.0,
                TimelineEvent::PromptStart {
                    file: Arc::from("/srv/prompts/en/welcome.wav"),
                    queue: Arc::from("welcome"),
                },
            ),
            entry(
                3.0,
                TimelineEvent::PromptEnd {
                    file: Arc::from("/srv/prompts/en/welcome.wav"),
                    skipped: false,
                },
            ),
            entry(3.5, TimelineEvent::DuckEnd),
            entry(
                4.0,
                TimelineEvent::Dtmf {
                    digit: '3',
                    action: Some(Arc::from("next-music")),
                },
            ),
            entry(
                4.0,
                TimelineEvent::MusicSwitch {
                    from: None,
                    to: Arc::from("/srv/moh/b.wav"),
                },
            ),
            entry(5.0, TimelineEvent::Position { value: 2 }),
            entry(6.0, TimelineEvent::DuckStart),
            entry(
                8.0,
                TimelineEvent::Exit {
                    reason: "hangup".to_string(),
                },
            ),
        ]
    }

    /// 8 s of a 440 Hz tone swelling and fading twice a second.
    fn meter() -> LevelMeter {
        let mut meter = LevelMeter::new(8000, Duration::from_millis(100));
        let audio: Vec<f32> = (0..8 * 8000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() * (2.0 * t).sin().abs()
            })
            .collect();
        meter.push(&audio);
        meter
    }

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn writes_a_png_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let meter = meter();
        for (width, height) in [(400, 200), (1200, 600), (4000, 2000), (200, 100)] {
            let path = dir.path().join(format!("call-{width}x{height}.png"));
            write_png(&path, width, height, "demo.toml, 8 s", &meter, &timeline()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes[..8], *b"\x89PNG\r\n\x1a\n");
            assert_eq!(&bytes[12..16], b"IHDR");
            assert_eq!(png_size(&bytes), (width, height));
        }
    }

    #[test]
    fn empty_call_still_draws() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        write_png(
            &path,
            640,
            320,
            "",
            &LevelMeter::new(8000, Duration::from_millis(100)),
            &[],
        )
        .unwrap();
        assert_eq!(png_size(&std::fs::read(&path).unwrap()), (640, 320));
    }

    #[test]
    fn tiny_and_huge_time_spans_draw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.png");
        let silent = LevelMeter::new(8000, Duration::from_millis(100));
        for t in [1e-6, 1e6] {
            let exit = Entry {
                t,
                event: TimelineEvent::Exit {
                    reason: "hangup".to_string(),
                },
            };
            write_png(&path, 400, 200, "t", &silent, &[exit]).unwrap();
        }
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("call.png");
        let err = write_png(&path, 400, 200, "t", &meter(), &timeline()).unwrap_err();
        assert!(
            format!("{err:#}").contains(&path.display().to_string()),
            "{err:#}"
        );
    }

    #[test]
    fn size_out_of_range_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.png");
        for (width, height) in [(0, 0), (199, 100), (100_000, 100_000)] {
            assert!(write_png(&path, width, height, "t", &meter(), &[]).is_err());
        }
        assert!(!path.exists());
    }
}
