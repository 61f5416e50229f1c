//! Where everything goes in `render --plot`'s picture, before anything is
//! drawn: the sizes, the plot's columns, and how the spare rows are shared
//! between the lanes' labels, the key and the legend.

use super::labels::{self, LaneLabels, Room};
use super::lanes;
use super::legend::{self, Flow};
use super::marks::{self, Marks};
use super::text::{Area, text_width};
use super::*;
use crate::engine::timeline::Entry;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::cell::RefCell;
use std::collections::HashMap;

/// Label rows the prompts and the music may take above their lanes.
const PROMPT_ROWS: usize = 3;
const MUSIC_ROWS: usize = 2;

/// Sizes that grow with the picture, in pixels.
pub(super) struct Layout {
    pub font: f64,
    pub pad: i32,
    pub title_h: i32,
    pub lane_h: i32,
    /// A row of labels above a lane, or of the key and legend below.
    pub row_h: i32,
    pub x_labels_h: i32,
    pub stroke: u32,
}

impl Layout {
    fn new((width, height): (u32, u32)) -> Self {
        let font = (height / 40).min(width / 70).clamp(10, 48);
        let pad = (font / 3).max(2) as i32;
        Layout {
            font: f64::from(font),
            pad,
            title_h: (font * 2) as i32,
            lane_h: (font * 3 / 2) as i32,
            row_h: (f64::from(font) * 1.4) as i32,
            x_labels_h: (f64::from(font) * 2.6) as i32,
            stroke: (font / 12).max(1),
        }
    }

    pub fn text<'a>(&self, color: &'a RGBColor, h: HPos) -> TextStyle<'a> {
        TextStyle::from((FontFamily::SansSerif, self.font))
            .color(color)
            .pos(Pos::new(h, VPos::Center))
    }

    /// Rows for labels, the key and the legend that leave the plot at
    /// least two fifths of the picture.
    fn spare_rows(&self, height: i32) -> usize {
        let fixed = self.title_h + 2 * self.lane_h + 2 * self.pad + self.x_labels_h;
        let plot = (height * 2 / 5).max((self.font * 4.0) as i32);
        usize::try_from((height - fixed - plot) / self.row_h).unwrap_or(0)
    }
}

/// The plot's columns: seconds to pixels, for the lanes and markers.
#[derive(Clone, Copy)]
pub(super) struct Columns {
    pub left: i32,
    pub right: i32,
    pub end: f64,
}

impl Columns {
    /// Pixel columns of the plot, at least one.
    pub fn columns(&self) -> usize {
        usize::try_from(self.right - self.left).unwrap_or(0).max(1)
    }

    pub fn x(&self, t: f64) -> i32 {
        let share = (t / self.end).clamp(0.0, 1.0);
        self.left + (share * f64::from(self.right - self.left)).round() as i32
    }
}

/// What goes around the plot: the lanes' labels, and below it the key and
/// the legend of numbered names.
#[derive(Default)]
pub(super) struct Around {
    pub music: LaneLabels,
    pub prompts: LaneLabels,
    pub key: Flow,
    pub legend: Flow,
}

/// How much a layout leaves out, least first: names left out with no row
/// to say so ("… N more"); bars with no label or number, names not listed,
/// the key; then names sent to the legend rather than shown on their bars,
/// and rows taken from the plot.
type Shortfall = (bool, usize, bool, usize, usize);

impl Around {
    /// Of the ways to share the spare rows between the key, the lanes'
    /// labels and the legend, the one that leaves out the least.
    fn plan(
        root: &Area,
        layout: &Layout,
        cols: &Columns,
        marks: &Marks,
        key: &[legend::Item],
        height: i32,
    ) -> Self {
        let (prompt_bars, music_bars) = lane_bars(marks, cols);
        let style = layout.text(&TEXT, HPos::Left);
        // The same names are measured for every way tried: once each.
        let widths = RefCell::new(HashMap::<String, i32>::new());
        let measure = |t: &str| {
            if let Some(&w) = widths.borrow().get(t) {
                return w;
            }
            let w = text_width(root, &style, t);
            widths.borrow_mut().insert(t.to_string(), w);
            w
        };
        let swatch = legend::swatch_width(layout.font);
        let measure_item = |i: &legend::Item| measure(&i.text) + i.swatch.map_or(0, |_| swatch);
        let width = cols.right - cols.left;
        let gap = (layout.font * 1.5) as i32;
        let spare = layout.spare_rows(height);
        let room = |rows: usize, first_number: usize| Room {
            left: cols.left,
            right: cols.right,
            rows,
            gap: layout.pad,
            first_number,
        };
        let mut best: Option<(Shortfall, Around)> = None;
        for with_key in [true, false] {
            let key = match with_key {
                true => legend::flow(key, width, spare, gap, "--timeline", &measure_item),
                false => Flow::default(),
            };
            let spare = spare - key.rows.len();
            for prompt_rows in (0..=spare.min(PROMPT_ROWS)).rev() {
                let prompts = labels::place(&prompt_bars, &room(prompt_rows, 1), &measure);
                let spare = spare - prompts.rows;
                for music_rows in (0..=spare.min(MUSIC_ROWS)).rev() {
                    let first = 1 + prompts.legend.len();
                    let music = labels::place(&music_bars, &room(music_rows, first), &measure);
                    let spare = spare - music.rows;
                    let items = legend::items(&[("prompts", &prompts), ("music", &music)]);
                    let legend = legend::flow(&items, width, spare, gap, "--timeline", &measure_item);
                    let unlabelled =
                        prompt_bars.len() - prompts.labels.len() + music_bars.len() - music.labels.len();
                    let shortfall = (
                        legend.silent(),
                        unlabelled + legend.dropped,
                        key.dropped > 0 || !with_key,
                        prompts.legend.len() + music.legend.len(),
                        prompts.rows + music.rows + legend.rows.len(),
                    );
                    if best.as_ref().is_none_or(|(b, _)| shortfall < *b) {
                        let around = Around {
                            music,
                            prompts: prompts.clone(),
                            key: key.clone(),
                            legend,
                        };
                        best = Some((shortfall, around));
                    }
                }
            }
        }
        best.map(|(_, around)| around).unwrap_or_default()
    }

    /// From the top of the picture to the top of the plot.
    pub fn above(&self, layout: &Layout) -> i32 {
        let rows = (self.music.rows + self.prompts.rows) as i32;
        layout.title_h + 2 * layout.lane_h + rows * layout.row_h + layout.pad
    }

    /// Below the x axis's labels.
    pub fn below(&self, layout: &Layout) -> i32 {
        let rows = self.key.rows.len() + self.legend.rows.len();
        rows as i32 * layout.row_h + layout.pad
    }
}

/// Everything placed before drawing: sizes, columns, marks and labels.
pub(super) struct Arranged {
    pub layout: Layout,
    pub cols: Columns,
    pub marks: Marks,
    pub around: Around,
    pub y_labels: i32,
    pub margin_right: i32,
}

/// For tests: `f` on a blank picture of `size` and its arrangement of
/// `timeline` over `secs` of silence (the buffer lives as long as the call,
/// so a helper cannot hand the drawing area back).
#[cfg(test)]
pub(super) fn with_arranged<R>(
    size: (u32, u32),
    secs: usize,
    timeline: &[Entry],
    f: impl FnOnce(&Area, Arranged) -> R,
) -> R {
    register_font().unwrap();
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    let root = BitMapBackend::<plotters::backend::RGBPixel>::with_buffer_and_format(&mut rgb, size)
        .unwrap()
        .into_drawing_area();
    let mut meter = LevelMeter::new(8000, std::time::Duration::from_millis(100));
    meter.push(&vec![0.0; secs * 8000]);
    let a = arrange(&root, size, &meter, timeline);
    f(&root, a)
}

pub(super) fn arrange(root: &Area, size: (u32, u32), meter: &LevelMeter, timeline: &[Entry]) -> Arranged {
    let layout = Layout::new(size);
    let end = end_time(meter, timeline);
    let marks = Marks::from_timeline(timeline, end);
    let y_labels = y_label_width(root, &layout);
    let margin_right = (layout.font * 1.5) as i32;
    // As ChartBuilder places the plot: after the margin and the y labels.
    let cols = Columns {
        left: layout.pad + y_labels,
        right: size.0 as i32 - margin_right,
        end,
    };
    let per_column = meter.levels().len().div_ceil(cols.columns()).max(1);
    let key = legend::key(meter.window_secs(), per_column, !marks.ducks.is_empty());
    let around = Around::plan(root, &layout, &cols, &marks, &key, size.1 as i32);
    Arranged {
        layout,
        cols,
        marks,
        around,
        y_labels,
        margin_right,
    }
}

/// The bars the labels are for: the prompts' phrases, and the music.
fn lane_bars(marks: &Marks, cols: &Columns) -> (Vec<labels::Bar>, Vec<labels::Bar>) {
    let x = |t| cols.x(t);
    (
        lanes::bars(&marks::phrases(&marks.prompts), x),
        lanes::bars(&marks.music, x),
    )
}

/// The later of the last level and the last event; never zero, so the
/// x axis always has a length.
fn end_time(meter: &LevelMeter, timeline: &[Entry]) -> f64 {
    let levels = meter.levels().len() as f64 * meter.window_secs();
    let events = timeline.iter().map(|e| e.t).fold(0.0, f64::max);
    let end = levels.max(events);
    if end.is_finite() && end > 0.0 { end } else { 1.0 }
}

fn y_label_width(root: &Area, layout: &Layout) -> i32 {
    let name = text_width(root, &layout.text(&TEXT, HPos::Left), "prompts");
    name.max((layout.font * 3.6) as i32) + 2 * layout.pad
}

#[cfg(test)]
mod tests {
    use super::super::labels::tests::assert_sound;
    use super::super::labels::{Bar, Place};
    use super::*;
    use crate::engine::timeline::TimelineEvent;
    use std::sync::Arc;

    /// The demo rendered in-process (engine, sample audio, the README's
    /// key 3 at 25 s, and a queue position so spoken phrases come in),
    /// read back from its timeline file.
    fn demo_timeline(secs: u64) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let timeline = dir.path().join("tl.jsonl");
        let events = ["25s:dtmf:3", "5s:position:7", "90s:dtmf:4"]
            .iter()
            .map(|e| crate::engine::Event::parse_scripted(e).unwrap())
            .collect();
        let opts = crate::cmd::render::RenderOptions {
            playlist: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo.toml"),
            duration: std::time::Duration::from_secs(secs),
            output: dir.path().join("call.raw"),
            format: crate::audio::format::Format::Slin,
            events,
            timeline: Some(timeline.clone()),
            at: chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .and_then(|d| d.and_hms_opt(9, 30, 0))
                .map(crate::cli::At::Date),
            seed: 1,
            plot: None,
            caller: None,
            mohqueue: None,
            routes: None,
        };
        let cache = crate::audio::cache::Cache::open(Some(&dir.path().join("cache")));
        crate::cmd::render::render(&opts, &cache).unwrap();
        std::fs::read_to_string(&timeline)
            .unwrap()
            .lines()
            .filter_map(|line| entry(&serde_json::from_str(line).unwrap()))
            .collect()
    }

    /// The timeline events the picture draws, from their JSON.
    fn entry(v: &serde_json::Value) -> Option<Entry> {
        let text = |key: &str| Arc::<str>::from(v[key].as_str().unwrap_or_default());
        let event = match v["event"].as_str()? {
            "music_start" => TimelineEvent::MusicStart {
                file: text("file"),
                track: 0,
                offset: 0.0,
            },
            "music_switch" => TimelineEvent::MusicSwitch {
                from: None,
                to: text("to"),
            },
            "duck_start" => TimelineEvent::DuckStart,
            "duck_end" => TimelineEvent::DuckEnd,
            "prompt_start" => TimelineEvent::PromptStart {
                file: text("file"),
                queue: text("queue"),
            },
            "prompt_end" => TimelineEvent::PromptEnd {
                file: text("file"),
                skipped: false,
            },
            "dtmf" => TimelineEvent::Dtmf {
                digit: v["digit"].as_str()?.chars().next()?,
                action: v["action"].as_str().map(Arc::from),
            },
            "exit" => TimelineEvent::Exit {
                reason: v["reason"].as_str()?.to_string(),
            },
            _ => return None,
        };
        Some(Entry {
            t: v["t"].as_f64()?,
            event,
        })
    }

    fn files(timeline: &[Entry]) -> Vec<String> {
        timeline
            .iter()
            .filter_map(|e| match &e.event {
                TimelineEvent::PromptStart { file, .. } => Some(file.to_string()),
                _ => None,
            })
            .collect()
    }

    /// How the default 1600x600 picture of `timeline` is laid out, checked:
    /// labels whole and apart in both lanes, every prompt file in the label
    /// or legend entry of its phrase, the legend shown in full.
    fn checked_layout(timeline: &[Entry], secs: usize) -> (Vec<Bar>, Around) {
        with_arranged((1600, 600), secs, timeline, |root, a| checked(root, a, timeline))
    }

    fn checked(root: &Area, a: Arranged, timeline: &[Entry]) -> (Vec<Bar>, Around) {
        let style = a.layout.text(&TEXT, HPos::Left);
        let measure = |t: &str| text_width(root, &style, t);
        let (prompt_bars, music_bars) = lane_bars(&a.marks, &a.cols);
        let room = |rows| Room {
            left: a.cols.left,
            right: a.cols.right,
            rows,
            gap: a.layout.pad,
            first_number: 1,
        };
        assert_sound(&prompt_bars, &room(PROMPT_ROWS), &a.around.prompts, &measure);
        assert_sound(&music_bars, &room(MUSIC_ROWS), &a.around.music, &measure);
        for file in files(timeline) {
            assert!(
                prompt_bars.iter().any(|b| b.name.contains(&file)),
                "{file} is in no phrase: {prompt_bars:?}"
            );
        }
        let shown: Vec<&legend::Item> = a.around.legend.rows.iter().flatten().map(|(_, i)| i).collect();
        let items = legend::items(&[("prompts", &a.around.prompts), ("music", &a.around.music)]);
        assert_eq!(shown, items.iter().collect::<Vec<_>>(), "the legend is cut");
        assert_eq!(a.around.key.rows.len(), 1, "the key has its row");
        (prompt_bars, a.around)
    }

    #[test]
    fn a_90_s_demo_names_every_prompt_and_its_group_on_the_picture() {
        let timeline = demo_timeline(90);
        let (bars, around) = checked_layout(&timeline, 90);
        assert!(around.prompts.legend.is_empty(), "{:?}", around.prompts.legend);
        let drawn: Vec<&str> = around.prompts.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(drawn.len(), bars.len());
        assert!(drawn.contains(&"welcome: welcome.wav, key-help.wav"), "{drawn:?}");
        assert!(drawn.contains(&"advice/first: 01-online.ogg"), "{drawn:?}");
        assert!(
            around.prompts.labels.iter().any(|l| l.place != Place::Inside),
            "the short bars' names go above them"
        );
    }

    #[test]
    fn a_5_and_a_30_minute_demo_keep_every_prompt_identifiable() {
        for secs in [300, 1800] {
            let timeline = demo_timeline(secs as u64);
            let (bars, around) = checked_layout(&timeline, secs);
            assert!(bars.len() >= 8, "{secs} s: {bars:?}");
            // Named on the picture, or numbered there and listed below.
            for (i, bar) in bars.iter().enumerate() {
                let number = around.prompts.legend.iter().find(|(_, n)| *n == bar.name);
                let label = around.prompts.labels.iter().find(|l| l.bar == i);
                match (label, number) {
                    (Some(l), _) if l.text == bar.name => {}
                    (Some(l), Some((n, _))) => assert_eq!(l.text, n.to_string()),
                    other => panic!("{secs} s: {bar:?} is not identifiable: {other:?}"),
                }
            }
        }
    }

    /// A small picture (400x200) of the 5-minute demo, with no room to list
    /// its numbered bars: the legend still says how many are left out and
    /// where they are, rather than leaving the numbers unexplained.
    #[test]
    fn a_small_picture_says_what_its_numbers_are() {
        let a = with_arranged((400, 200), 300, &demo_timeline(300), |_, a| a);
        let numbered = a.around.prompts.legend.len() + a.around.music.legend.len();
        assert!(numbered > 0, "the small picture numbers its bars");
        assert!(!a.around.legend.silent(), "{:?}", a.around.legend);
        let shown: Vec<&str> = a
            .around
            .legend
            .rows
            .iter()
            .flatten()
            .map(|(_, i)| i.text.as_str())
            .collect();
        let listed = shown
            .iter()
            .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .count();
        assert_eq!(listed + a.around.legend.dropped, numbered, "{shown:?}");
    }
}
