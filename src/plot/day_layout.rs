//! Where everything goes in `plan --plot`'s picture, before anything is
//! drawn, in pixels: the title, each lane's band and the labels of its
//! spans, the hours, and the legend of numbered names below. The spans'
//! names are placed as `render --plot` places its prompts'
//! ([`labels::place`]): whole, in the band, above it, or numbered and
//! listed in the legend.

use super::day::Lane;
use super::labels::{self, Bar, LaneLabels, Room};
use super::legend::{self, Flow};
use super::title::{self, Set};

/// Label rows a lane may take above its band.
const MAX_ROWS: usize = 3;
/// Where the names the legend leaves out are: the plan's text has them.
const REST: &str = "see the plan's text";

/// Sizes that grow with the picture, in pixels.
#[derive(Debug, Clone, Copy)]
pub struct Metrics {
    pub font: f64,
    pub pad: i32,
    pub axis_h: i32,
    /// A row of labels above a band, or of the legend.
    pub row_h: i32,
    /// The least a band takes: a line of text in it.
    pub band_min: i32,
}

impl Metrics {
    pub fn new((w, h): (u32, u32)) -> Self {
        let font = f64::from((h / 30).min(w / 70).clamp(10, 40));
        Metrics {
            font,
            pad: (font / 2.0) as i32,
            axis_h: (font * 2.0) as i32,
            row_h: (font * 1.4) as i32,
            band_min: (font * 1.4) as i32,
        }
    }

    fn title_h(&self) -> i32 {
        (self.font * 2.0) as i32
    }
}

/// A lane as placed: its band from `top` to `bottom`, its spans as bars,
/// and their labels.
#[derive(Debug, Clone)]
pub struct PlacedLane {
    pub top: i32,
    pub bottom: i32,
    pub bars: Vec<Bar>,
    pub labels: LaneLabels,
}

impl PlacedLane {
    pub fn middle(&self) -> i32 {
        (self.top + self.bottom) / 2
    }
}

#[derive(Debug, Clone)]
pub struct DayLayout {
    pub metrics: Metrics,
    /// The title, whole, and the height it takes; None if it cannot be.
    pub title: Option<Set>,
    pub title_h: i32,
    /// The day's extent: 00:00 and 24:00.
    pub left: i32,
    pub right: i32,
    pub lanes: Vec<PlacedLane>,
    /// The bottom of the last lane: the hours are below it.
    pub axis_y: i32,
    pub legend: Flow,
    pub legend_left: i32,
    pub legend_top: i32,
}

impl DayLayout {
    /// Minutes of the day to pixels.
    pub fn x(&self, minute: u32) -> i32 {
        x_of(self.left, self.right, minute)
    }

    /// Room for the labels of a lane: the plot's columns, `rows` above.
    fn room(left: i32, right: i32, m: &Metrics, rows: usize, first_number: usize) -> Room {
        Room {
            left,
            right,
            rows,
            gap: m.pad,
            first_number,
        }
    }
}

fn x_of(left: i32, right: i32, minute: u32) -> i32 {
    left + ((f64::from(minute.min(1440)) / 1440.0) * f64::from(right - left)).round() as i32
}

/// The picture of `lanes` at `size`; `measure` gives a text's width at a
/// font size.
pub fn arrange(
    size: (u32, u32),
    title: &str,
    lanes: &[Lane],
    measure: &dyn Fn(&str, f64) -> i32,
) -> DayLayout {
    let m = Metrics::new(size);
    let (w, h) = (size.0 as i32, size.1 as i32);
    let at_font = |t: &str| measure(t, m.font);
    let title = title::set(
        title,
        (w - 2 * m.pad, h / 4),
        (m.font, (m.font * 0.7).max(8.0)),
        measure,
    );
    let title_h = title.as_ref().map_or(0, |t| t.height() + m.pad).max(m.title_h());
    let names = lanes.iter().map(|l| at_font(&l.name)).max().unwrap_or(0);
    let left = 2 * m.pad + names;
    let right = (w - (m.font * 1.6) as i32).max(left + 1);
    let bars: Vec<Vec<Bar>> = lanes
        .iter()
        .map(|lane| {
            let spans = lane.spans.iter();
            spans
                .map(|s| Bar {
                    x0: x_of(left, right, s.start),
                    x1: x_of(left, right, s.end).max(x_of(left, right, s.start) + 1),
                    name: s.label.clone(),
                })
                .collect()
        })
        .collect();
    let space = h - title_h - m.axis_h - m.pad;
    let legend_left = m.pad;
    let legend_width = w - 2 * m.pad;
    let (labels, legend) = share(&bars, lanes, (left, right), (space, legend_width), &m, &at_font);
    let rows: i32 = labels.iter().map(|l| l.rows as i32).sum();
    let n = lanes.len().max(1) as i32;
    let band_h = ((space - (rows + legend.rows.len() as i32) * m.row_h) / n).max(1);
    let inset = (m.pad / 4).min(band_h / 4);
    let mut y = title_h;
    let mut placed = Vec::with_capacity(lanes.len());
    for (bars, labels) in bars.into_iter().zip(labels) {
        y += labels.rows as i32 * m.row_h;
        placed.push(PlacedLane {
            top: y + inset,
            bottom: y + band_h - inset,
            bars,
            labels,
        });
        y += band_h;
    }
    DayLayout {
        metrics: m,
        title,
        title_h,
        left,
        right,
        lanes: placed,
        axis_y: y,
        legend,
        legend_left,
        legend_top: y + m.axis_h,
    }
}

/// The legend's items: each lane's numbered names, and an item wider than
/// the legend in lines that are not (a long list of keys), so that it is
/// shown whole rather than left out.
fn legend_items(
    lanes: &[Lane],
    placed: &[LaneLabels],
    width: i32,
    measure: &dyn Fn(&str) -> i32,
) -> Vec<legend::Item> {
    let named: Vec<(&str, &LaneLabels)> = lanes.iter().map(|l| l.name.as_str()).zip(placed).collect();
    legend::items(&named)
        .into_iter()
        .flat_map(|item| match measure(&item.text) <= width {
            true => vec![item],
            false => legend::Item::wrapped(title::wrap(&item.text, width, measure)),
        })
        .collect()
}

/// How much a layout leaves out, least first: names left out without a
/// word; spans with no label or number, names not listed; then names sent
/// to the legend, and rows.
type Shortfall = (bool, usize, usize, usize);

/// Of the ways to share `space` between bands, label rows and the legend,
/// the one that leaves out the least. With no room for a line of text in
/// every band (a tiny picture), the bands are bare.
fn share(
    bars: &[Vec<Bar>],
    lanes: &[Lane],
    (left, right): (i32, i32),
    (space, legend_width): (i32, i32),
    m: &Metrics,
    measure: &dyn Fn(&str) -> i32,
) -> (Vec<LaneLabels>, Flow) {
    let bare = || (vec![LaneLabels::default(); bars.len()], Flow::default());
    let spare = space - bars.len() as i32 * m.band_min;
    if spare < 0 {
        return bare();
    }
    let spare_rows = usize::try_from(spare / m.row_h).unwrap_or(0);
    let measure_item = |i: &legend::Item| measure(&i.text);
    let gap = (m.font * 1.5) as i32;
    let mut best: Option<(Shortfall, Vec<LaneLabels>, Flow)> = None;
    for rows in (0..=MAX_ROWS).rev() {
        let mut first = 1;
        let placed: Vec<LaneLabels> = bars
            .iter()
            .map(|bars| {
                let room = DayLayout::room(left, right, m, rows, first);
                let out = labels::place(bars, &room, measure);
                first += out.legend.len();
                out
            })
            .collect();
        let used: usize = placed.iter().map(|l| l.rows).sum();
        let Some(legend_rows) = spare_rows.checked_sub(used) else {
            continue;
        };
        let items = legend_items(lanes, &placed, legend_width, measure);
        let legend = legend::flow(&items, legend_width, legend_rows, gap, REST, &measure_item);
        let drawn: usize = placed.iter().map(|l| l.labels.len()).sum();
        let all: usize = bars.iter().map(Vec::len).sum();
        let shortfall = (
            legend.silent(),
            all - drawn + legend.dropped,
            placed.iter().map(|l| l.legend.len()).sum(),
            used + legend.rows.len(),
        );
        if best.as_ref().is_none_or(|(b, _, _)| shortfall < *b) {
            best = Some((shortfall, placed, legend));
        }
    }
    best.map_or_else(bare, |(_, labels, legend)| (labels, legend))
}

#[cfg(test)]
mod tests {
    use super::super::day::LaneSpan;
    use super::super::labels::Place;
    use super::super::labels::tests::assert_sound;
    use super::super::text::text_width;
    use super::super::*;
    use super::*;
    use plotters::backend::RGBPixel;

    fn span(start: u32, end: u32, label: &str) -> LaneSpan {
        LaneSpan {
            start,
            end,
            label: label.to_string(),
        }
    }

    fn lane(name: &str, spans: Vec<LaneSpan>) -> Lane {
        Lane {
            name: name.to_string(),
            spans,
        }
    }

    /// A day with long names in short spans: music variants for the
    /// night and the evening, an evening-weekend advice group, a
    /// one-hour announcement, and keys that change twice.
    fn day() -> Vec<Lane> {
        vec![
            lane(
                "music",
                vec![
                    span(0, 480, "night-quiet-strings"),
                    span(480, 1080, "default"),
                    span(1080, 1440, "evening-weekend-jazz-selection"),
                ],
            ),
            lane(
                "welcome",
                vec![
                    span(0, 540, "after-hours: welcome-closed.wav"),
                    span(540, 1440, "default"),
                ],
            ),
            lane(
                "advice",
                vec![
                    span(0, 60, "advice/night: 01-call-back-tomorrow.ogg"),
                    span(60, 1020, "first, middle, last"),
                    span(1020, 1050, "advice/evening-weekend: 03-long-prompt-name.ogg"),
                    span(1050, 1080, "advice/evening-weekend: 04-another-long-name.ogg"),
                    span(1080, 1440, "advice/evening-weekend: 03-long-prompt-name.ogg"),
                ],
            ),
            lane(
                "repeats",
                vec![
                    span(0, 720, "position every 120 s, wait"),
                    span(720, 780, "holiday-notice"),
                ],
            ),
            lane(
                "keys",
                vec![
                    span(
                        0,
                        600,
                        "# skip-prompt, 0 repeat-last, 2 say-balance, 3 next-music, 4 say-position, 5 say-wait, 6 previous-music",
                    ),
                    span(600, 610, "0 operator (lunch cover)"),
                    span(610, 1440, "1 repeat, 2 balance, 3 next-music"),
                ],
            ),
        ]
    }

    const TITLE: &str = "/etc/holdmix/playlists/evening-weekend-support.toml, 2026-12-07";

    /// A text's box, left, top, right, bottom.
    type Box = (i32, i32, i32, i32);

    /// Every text the layout places, as (text, box).
    fn texts(at: &DayLayout, measure: &dyn Fn(&str) -> i32) -> Vec<(String, Box)> {
        let m = at.metrics;
        let mut out = Vec::new();
        for lane in &at.lanes {
            for l in &lane.labels.labels {
                let (top, bottom) = match l.place {
                    Place::Inside => (lane.top, lane.bottom),
                    Place::Above(row) => {
                        let bottom = lane.top - row as i32 * m.row_h;
                        (bottom - m.row_h, bottom)
                    }
                };
                out.push((l.text.clone(), (l.x, top, l.x + l.width, bottom)));
            }
        }
        for (i, row) in at.legend.rows.iter().enumerate() {
            let top = at.legend_top + i as i32 * m.row_h;
            for (x, item) in row {
                let x = at.legend_left + x;
                out.push((
                    item.text.clone(),
                    (x, top, x + measure(&item.text), top + m.row_h),
                ));
            }
        }
        out
    }

    /// The layout at `size`, checked; `whole_legend`: with room for all of it.
    fn check(size: (u32, u32), whole_legend: bool) -> DayLayout {
        register_font().unwrap();
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, size)
            .unwrap()
            .into_drawing_area();
        let style = |size: f64| TextStyle::from((FontFamily::SansSerif, size));
        let measure = |t: &str, size: f64| text_width(&root, &style(size), t);
        let lanes = day();
        let at = arrange(size, TITLE, &lanes, &measure);
        let m = at.metrics;
        let at_font = |t: &str| measure(t, m.font);
        let title = at.title.as_ref().expect("the title has room");
        assert_eq!(
            title.lines.concat().replace(' ', ""),
            TITLE.replace(' ', ""),
            "{size:?}"
        );
        let mut first = 1;
        for (lane, placed) in lanes.iter().zip(&at.lanes) {
            let room = DayLayout::room(at.left, at.right, &m, MAX_ROWS, first);
            assert_sound(&placed.bars, &room, &placed.labels, &at_font);
            first += placed.labels.legend.len();
            assert_eq!(placed.bars.len(), lane.spans.len());
            assert!(
                placed.bottom - placed.top >= m.font as i32,
                "{size:?}: a band too thin for its text"
            );
        }
        // The legend lists every numbered name, whole.
        let shown: Vec<String> = (at.legend.rows.iter().flatten())
            .map(|(_, i)| i.text.clone())
            .collect();
        let placed: Vec<LaneLabels> = at.lanes.iter().map(|l| l.labels.clone()).collect();
        let width = size.0 as i32 - 2 * m.pad;
        let items: Vec<String> = (legend_items(&lanes, &placed, width, &at_font).into_iter())
            .map(|i| i.text)
            .collect();
        let listed = shown.concat().replace(' ', "");
        // Names, not spans: one name on two spans has one number.
        let mut unlisted = std::collections::BTreeSet::new();
        // Every span's name: drawn whole, or listed whole, or (when the
        // legend has no room for it) counted as one more.
        for lane in &lanes {
            for s in &lane.spans {
                let drawn = (at.lanes.iter().flat_map(|l| &l.labels.labels)).any(|x| x.text == s.label);
                let number = (at.lanes.iter().flat_map(|l| &l.labels.legend)).find(|(_, n)| *n == s.label);
                let whole =
                    |(n, name): &(usize, String)| listed.contains(&format!("{n}{name}").replace(' ', ""));
                match (drawn, number) {
                    (true, _) => {}
                    (false, Some(entry)) if whole(entry) => {}
                    (false, Some(_)) if !whole_legend => {
                        unlisted.insert(s.label.clone());
                    }
                    other => panic!("{size:?}: {:?} is neither drawn nor listed: {other:?}", s.label),
                }
            }
        }
        if whole_legend {
            assert_eq!(shown, items, "{size:?}: the legend is not whole");
        } else if !unlisted.is_empty() {
            let more = format!("… {} more ({REST})", at.legend.dropped);
            assert_eq!(shown.last(), Some(&more), "{size:?}");
            // Each name left out counted once, and only those (a lane's
            // heading or a wrapped name's lines are not names).
            assert_eq!(at.legend.dropped, unlisted.len(), "{size:?}: {unlisted:?}");
        }
        let boxes = texts(&at, &at_font);
        for (i, (a, ab)) in boxes.iter().enumerate() {
            let more = a.starts_with("… ") && a.ends_with(&format!(" more ({REST})"));
            assert!(more || !a.contains('…'), "{size:?}: {a:?} is cut");
            assert!(
                ab.0 >= 0 && ab.1 >= at.title_h && ab.2 <= size.0 as i32 && ab.3 <= size.1 as i32,
                "{size:?}: {a:?} at {ab:?} leaves the picture"
            );
            for (b, bb) in &boxes[i + 1..] {
                let apart = ab.2 <= bb.0 || bb.2 <= ab.0 || ab.3 <= bb.1 || bb.3 <= ab.1;
                assert!(apart, "{size:?}: {a:?} at {ab:?} overlaps {b:?} at {bb:?}");
            }
        }
        at
    }

    #[test]
    fn every_name_is_whole_on_its_band_above_it_or_in_the_legend() {
        for size in [(800, 300), (1200, 400), (1600, 600)] {
            check(size, true);
        }
    }

    #[test]
    fn a_roomy_picture_names_every_span_on_the_lanes() {
        let at = check((1600, 600), true);
        assert!(at.legend.rows.is_empty(), "{:?}", at.legend);
        let above = at
            .lanes
            .iter()
            .flat_map(|l| &l.labels.labels)
            .filter(|l| l.place != Place::Inside);
        assert!(above.count() >= 3, "the short spans' names go above them");
    }

    #[test]
    fn a_small_picture_numbers_what_has_no_room_and_lists_it() {
        let at = check((400, 200), false);
        assert!(!at.legend.rows.is_empty(), "at 400x200 some names are numbered");
    }

    #[test]
    fn a_tiny_picture_still_lays_out() {
        register_font().unwrap();
        let at = arrange((200, 100), TITLE, &day(), &|t, size| {
            (0.6 * size) as i32 * t.chars().count() as i32
        });
        assert!(at.axis_y + at.metrics.axis_h <= 100);
        assert!(at.lanes.iter().all(|l| l.top < l.bottom));
    }
}
