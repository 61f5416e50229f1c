//! The picture itself: the level over time, the music and prompt lanes,
//! ducks and the markers, laid out to the size asked for (the PNG
//! around it is `mod.rs`'s job).

use super::marks::{Marker, MarkerKind, Marks, Span};
use super::meter::FLOOR_DB;
use super::*;
use crate::engine::timeline::Entry;
use anyhow::Result;
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Sizes that grow with the picture, in pixels.
struct Layout {
    font: f64,
    pad: i32,
    title_h: i32,
    lane_h: i32,
    stroke: u32,
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
            stroke: (font / 12).max(1),
        }
    }

    fn text<'a>(&self, color: &'a RGBColor, h: HPos) -> TextStyle<'a> {
        TextStyle::from((FontFamily::SansSerif, self.font))
            .color(color)
            .pos(Pos::new(h, VPos::Center))
    }
}

/// The plot area and the lanes above it, in pixels of the whole picture.
struct Frame {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    lanes_top: i32,
    end: f64,
}

impl Frame {
    fn of(chart: &Chart, layout: &Layout, end: f64) -> Self {
        let (left, top) = chart.backend_coord(&(0.0, 0.0));
        let (right, bottom) = chart.backend_coord(&(end, Y_MIN));
        Frame {
            left,
            right,
            top,
            bottom,
            lanes_top: top - layout.pad - 2 * layout.lane_h,
            end,
        }
    }

    fn x(&self, t: f64) -> i32 {
        let share = (t / self.end).clamp(0.0, 1.0);
        self.left + (share * f64::from(self.right - self.left)).round() as i32
    }
}

pub(super) fn draw(
    rgb: &mut [u8],
    size: (u32, u32),
    title: &str,
    meter: &LevelMeter,
    timeline: &[Entry],
) -> Result<()> {
    let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, size)?.into_drawing_area();
    root.fill(&WHITE)?;
    let layout = Layout::new(size);
    let end = end_time(meter, timeline);
    let marks = Marks::from_timeline(timeline, end);

    let mut chart = build_chart(&root, &layout, end)?;
    let frame = Frame::of(&chart, &layout, end);
    draw_mesh(&mut chart, &layout, &frame)?;
    draw_ducks(&mut chart, &marks.ducks)?;
    draw_level(&mut chart, &layout, &frame, meter)?;

    draw_title(&root, &layout, title, !marks.ducks.is_empty())?;
    let music_tone = |s: &Span| MUSIC[s.tone % MUSIC.len()];
    draw_lane(&root, &layout, &frame, 0, "music", &marks.music, music_tone)?;
    draw_lane(&root, &layout, &frame, 1, "prompts", &marks.prompts, |_| PROMPT)?;
    draw_markers(&root, &layout, &frame, &marks.markers)?;
    root.present()?;
    Ok(())
}

/// The later of the last level and the last event; never zero, so the
/// x axis always has a length.
fn end_time(meter: &LevelMeter, timeline: &[Entry]) -> f64 {
    let levels = meter.levels().len() as f64 * meter.window_secs();
    let events = timeline.iter().map(|e| e.t).fold(0.0, f64::max);
    let end = levels.max(events);
    if end.is_finite() && end > 0.0 { end } else { 1.0 }
}

fn build_chart<'a, 'b>(root: &'a Area<'b>, layout: &Layout, end: f64) -> Result<Chart<'a, 'b>> {
    let y_labels = text_width(root, &layout.text(&TEXT, HPos::Left), "prompts");
    let chart = ChartBuilder::on(root)
        .margin_top(layout.title_h + 2 * layout.lane_h + layout.pad)
        .margin_right((layout.font * 1.5) as i32)
        .margin_bottom(layout.pad)
        .margin_left(layout.pad)
        .x_label_area_size((layout.font * 2.6) as i32)
        .y_label_area_size(y_labels.max((layout.font * 3.6) as i32) + 2 * layout.pad)
        .build_cartesian_2d(0.0..end, Y_MIN..0.0)?;
    Ok(chart)
}

fn draw_mesh(chart: &mut Chart, layout: &Layout, frame: &Frame) -> Result<()> {
    let seconds = |v: &f64| {
        if frame.end >= 10.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let x_labels = (f64::from(frame.right - frame.left) / (layout.font * 5.0)).max(2.0) as usize;
    let text = layout.text(&TEXT, HPos::Center);
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .y_labels(7)
        .x_label_formatter(&seconds)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_label_offset(text_nudge(layout.font))
        .x_desc("seconds")
        .y_desc("dBFS")
        .label_style(text.clone())
        .axis_desc_style(text)
        .bold_line_style(GRID)
        .light_line_style(GRID_LIGHT)
        .axis_style(TEXT)
        .draw()?;
    Ok(())
}

fn draw_ducks(chart: &mut Chart, ducks: &[Span]) -> Result<()> {
    let shade = DUCK.mix(0.2).filled();
    chart.draw_series(
        ducks
            .iter()
            .map(|s| Rectangle::new([(s.start, 0.0), (s.end, Y_MIN)], shade)),
    )?;
    Ok(())
}

fn draw_level(chart: &mut Chart, layout: &Layout, frame: &Frame, meter: &LevelMeter) -> Result<()> {
    let columns = (frame.right - frame.left).max(1) as usize;
    let points = level_points(meter.levels(), meter.window_secs(), columns);
    if points.is_empty() {
        return Ok(());
    }
    let area = AreaSeries::new(points, Y_MIN, LEVEL_FILL.mix(0.35).filled())
        .border_style(LEVEL_LINE.stroke_width(layout.stroke));
    chart.draw_series(area)?;
    Ok(())
}

/// One point per window, or the loudest window per pixel column when there
/// are more windows than columns (a long call in a small picture).
pub(super) fn level_points(levels: &[f32], window_secs: f64, columns: usize) -> Vec<(f64, f64)> {
    let per_point = levels.len().div_ceil(columns).max(1);
    levels
        .chunks(per_point)
        .enumerate()
        .map(|(i, chunk)| {
            let loudest = chunk.iter().copied().fold(FLOOR_DB, f32::max);
            let middle = (i * per_point) as f64 + chunk.len() as f64 / 2.0;
            (middle * window_secs, f64::from(loudest).clamp(Y_MIN, 0.0))
        })
        .collect()
}

/// The title centred on top, and a key for the duck shading on the right.
fn draw_title(root: &Area, layout: &Layout, title: &str, ducks: bool) -> Result<()> {
    let (width, _) = root.dim_in_pixel();
    let width = width as i32;
    let middle = layout.title_h / 2;
    let style = layout.text(&TEXT, HPos::Center);
    let key = if ducks {
        text_width(root, &style, "ducked") + layout.lane_h
    } else {
        0
    };
    let room = width - 2 * (key + 2 * layout.pad);
    if let Some(title) = fit_text(root, &style, title, room, MAX_TITLE_CHARS) {
        draw_text(root, &style, &title, (width / 2, middle))?;
    }
    if ducks {
        let right = width - layout.pad;
        let swatch_left = right - key;
        let half = layout.lane_h / 3;
        let swatch = [
            (swatch_left, middle - half),
            (swatch_left + 2 * half, middle + half),
        ];
        root.draw(&Rectangle::new(swatch, DUCK.mix(0.2).filled()))?;
        draw_text(root, &layout.text(&TEXT, HPos::Right), "ducked", (right, middle))?;
    }
    Ok(())
}

/// A row of labelled bands above the plot: `index` 0 is the top row.
fn draw_lane(
    root: &Area,
    layout: &Layout,
    frame: &Frame,
    index: i32,
    name: &str,
    spans: &[Span],
    fill: impl Fn(&Span) -> RGBColor,
) -> Result<()> {
    let top = frame.lanes_top + index * layout.lane_h;
    let bottom = top + layout.lane_h - 2;
    let middle = (top + bottom) / 2;
    root.draw(&Rectangle::new(
        [(frame.left, top), (frame.right, bottom)],
        LANE_BG.filled(),
    ))?;
    draw_text(
        root,
        &layout.text(&TEXT, HPos::Right),
        name,
        (frame.left - layout.pad, middle),
    )?;
    let style = layout.text(&TEXT, HPos::Left);
    for span in spans {
        let (x0, x1) = (frame.x(span.start), frame.x(span.end));
        if x1 <= x0 {
            continue;
        }
        root.draw(&Rectangle::new([(x0, top), (x1, bottom)], fill(span).filled()))?;
        // A white seam keeps two bands of similar colour apart.
        root.draw(&PathElement::new([(x0, top), (x0, bottom)], WHITE))?;
        if let Some(label) = fit_label(root, &style, &span.label, x1 - x0 - 2 * layout.pad) {
            draw_text(root, &style, &label, (x0 + layout.pad, middle))?;
        }
    }
    Ok(())
}

fn marker_color(kind: MarkerKind) -> RGBColor {
    match kind {
        MarkerKind::Key => RGBColor(0xd6, 0x27, 0x28),
        MarkerKind::Position => RGBColor(0x2c, 0xa0, 0x2c),
        MarkerKind::Error => RGBColor(0xe0, 0x6c, 0x00),
        MarkerKind::Exit => RGBColor(0x22, 0x22, 0x22),
    }
}

/// Vertical lines through the lanes and the plot, then their labels in
/// rows at the top of the plot, each in the first row where it overlaps
/// nothing. A label with no free row is left out: the line still shows.
fn draw_markers(root: &Area, layout: &Layout, frame: &Frame, markers: &[Marker]) -> Result<()> {
    let mut by_time: Vec<&Marker> = markers.iter().collect();
    by_time.sort_by(|a, b| a.t.total_cmp(&b.t));
    for marker in &by_time {
        draw_marker_line(root, layout, frame, marker)?;
    }
    let row_h = (layout.font * 1.4) as i32;
    let rows = ((frame.bottom - frame.top) / row_h / 3).clamp(1, 4) as usize;
    let mut row_ends = vec![i32::MIN; rows];
    let max_width = (frame.right - frame.left) / 3;
    for marker in by_time {
        let color = marker_color(marker.kind);
        let style = layout.text(&color, HPos::Left);
        let Some(label) = fit_label(root, &style, &marker.label, max_width) else {
            continue;
        };
        let width = text_width(root, &style, &label);
        let x = frame.x(marker.t);
        let left = if x + layout.pad + width <= frame.right {
            x + layout.pad
        } else {
            x - layout.pad - width
        };
        let left = left.max(frame.left);
        let Some(row) = row_ends.iter().position(|&end| end + layout.pad < left) else {
            continue;
        };
        row_ends[row] = left + width;
        let middle = frame.top + layout.pad + row as i32 * row_h + row_h / 2;
        let backing = [
            (left - 2, middle - row_h / 2),
            (left + width + 2, middle + row_h / 2 - 1),
        ];
        root.draw(&Rectangle::new(backing, WHITE.mix(0.85).filled()))?;
        draw_text(root, &style, &label, (left, middle))?;
    }
    Ok(())
}

/// Positions are dashed: they report, where keys and the exit act.
fn draw_marker_line(root: &Area, layout: &Layout, frame: &Frame, marker: &Marker) -> Result<()> {
    let x = frame.x(marker.t);
    let line = [(x, frame.lanes_top), (x, frame.bottom)];
    let style = marker_color(marker.kind).stroke_width(layout.stroke);
    if marker.kind == MarkerKind::Position {
        let dash = layout.pad * 2;
        root.draw(&DashedPathElement::new(line, dash, layout.pad, style))?;
    } else {
        root.draw(&PathElement::new(line, style))?;
    }
    Ok(())
}

/// ab_glyph puts the baseline half a font size below the anchor, so text
/// anchored at its centre sits high by about a fifth of the size.
fn text_nudge(font_size: f64) -> i32 {
    (font_size * 0.2).round() as i32
}

fn draw_text(root: &Area, style: &TextStyle, text: &str, (x, y): (i32, i32)) -> Result<()> {
    root.draw_text(text, style, (x, y + text_nudge(style.font.get_size())))?;
    Ok(())
}

fn text_width(root: &Area, style: &TextStyle, text: &str) -> i32 {
    // A font that cannot measure cannot draw either, and drawing reports it.
    root.estimate_text_size(text, style)
        .map_or(i32::MAX, |(w, _)| w as i32)
}

fn fit_label(root: &Area, style: &TextStyle, text: &str, max_px: i32) -> Option<String> {
    fit_text(root, style, text, max_px, MAX_LABEL_CHARS)
}

/// `text` cut with an ellipsis to fit `max_px` and `max_chars`, or None if
/// too little of it would be left to read.
fn fit_text(root: &Area, style: &TextStyle, text: &str, max_px: i32, max_chars: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len().min(max_chars);
    loop {
        let label = if keep == chars.len() {
            text.to_string()
        } else {
            chars[..keep].iter().chain(['…'].iter()).collect()
        };
        if text_width(root, style, &label) <= max_px {
            return Some(label);
        }
        if keep <= MIN_LABEL_CHARS {
            return None;
        }
        keep -= 1;
    }
}
