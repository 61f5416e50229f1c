//! The picture itself: the title, the music and prompt lanes with their
//! labels, the level over time with ducks and markers, and the key and
//! legend below, laid out to the size asked for (the PNG around it is
//! `mod.rs`'s job).

use super::arrange::{Around, Arranged, Columns, Layout, arrange};
use super::lanes::{self, Geometry};
use super::legend;
use super::marks::{Marker, MarkerKind, Span};
use super::meter::FLOOR_DB;
use super::text::{Area, draw_text, fit_label, fit_text, text_nudge, text_width};
use super::*;
use crate::engine::timeline::Entry;
use anyhow::Result;
use plotters::backend::RGBPixel;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The plot area and the lanes above it, in pixels of the whole picture.
struct Frame {
    cols: Columns,
    top: i32,
    bottom: i32,
    /// The music lane's top (marker lines start there) and the prompts'.
    music_top: i32,
    prompts_top: i32,
}

impl Frame {
    fn of(chart: &Chart, layout: &Layout, cols: Columns, around: &Around) -> Self {
        let (_, top) = chart.backend_coord(&(0.0, 0.0));
        let (_, bottom) = chart.backend_coord(&(cols.end, Y_MIN));
        let prompts_top = top - layout.pad - layout.lane_h;
        let music_top = prompts_top - around.prompts.rows as i32 * layout.row_h - layout.lane_h;
        Frame {
            cols,
            top,
            bottom,
            music_top,
            prompts_top,
        }
    }

    fn x(&self, t: f64) -> i32 {
        self.cols.x(t)
    }

    fn lane(&self, layout: &Layout, top: i32) -> Geometry {
        Geometry {
            left: self.cols.left,
            right: self.cols.right,
            top,
            height: layout.lane_h,
            row_h: layout.row_h,
            pad: layout.pad,
            font: layout.font,
        }
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
    let Arranged {
        layout,
        cols,
        marks,
        around,
        y_labels,
        margin_right,
    } = arrange(&root, size, meter, timeline);
    let end = cols.end;
    let mut chart = ChartBuilder::on(&root)
        .margin_top(around.above(&layout))
        .margin_right(margin_right)
        .margin_bottom(around.below(&layout))
        .margin_left(layout.pad)
        .x_label_area_size(layout.x_labels_h)
        .y_label_area_size(y_labels)
        .build_cartesian_2d(0.0..end, Y_MIN..0.0)?;
    let frame = Frame::of(&chart, &layout, cols, &around);
    let columns = cols.columns();
    draw_mesh(&mut chart, &root, &layout, &frame)?;
    draw_ducks(&mut chart, &marks.ducks)?;
    draw_level(&mut chart, &layout, columns, meter)?;

    draw_title(&root, &layout, title)?;
    let music = frame.lane(&layout, frame.music_top);
    let prompts = frame.lane(&layout, frame.prompts_top);
    let x = |t| frame.x(t);
    let music_tone = |s: &Span| MUSIC[s.tone % MUSIC.len()];
    lanes::draw_bars(&root, &music, "music", &marks.music, x, music_tone, &around.music)?;
    lanes::draw_bars(
        &root,
        &prompts,
        "prompts",
        &marks.prompts,
        x,
        |_| PROMPT,
        &around.prompts,
    )?;
    let mut by_time: Vec<&Marker> = marks.markers.iter().collect();
    by_time.sort_by(|a, b| a.t.total_cmp(&b.t));
    for marker in &by_time {
        draw_marker_line(&root, &layout, &frame, marker)?;
    }
    lanes::draw_above(&root, &music, &around.music)?;
    lanes::draw_above(&root, &prompts, &around.prompts)?;
    draw_marker_labels(&root, &layout, &frame, &by_time)?;

    let below = frame.bottom + layout.x_labels_h;
    let text = (layout.font, layout.stroke);
    legend::draw_flow(&root, text, &around.key, (frame.cols.left, below), layout.row_h)?;
    let legend_top = below + around.key.rows.len() as i32 * layout.row_h;
    legend::draw_flow(
        &root,
        text,
        &around.legend,
        (frame.cols.left, legend_top),
        layout.row_h,
    )?;
    root.present()?;
    Ok(())
}

fn draw_mesh(chart: &mut Chart, root: &Area, layout: &Layout, frame: &Frame) -> Result<()> {
    let seconds = |v: &f64| {
        if frame.cols.end >= 10.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let x_labels = (f64::from(frame.cols.right - frame.cols.left) / (layout.font * 5.0)).max(2.0) as usize;
    let text = layout.text(&TEXT, HPos::Center);
    // The key below says it in full; the axis says it as its height allows.
    let long = "output level, dBFS";
    let y_desc = if text_width(root, &text, long) < frame.bottom - frame.top {
        long
    } else {
        "dBFS"
    };
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .y_labels(7)
        .x_label_formatter(&seconds)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_label_offset(text_nudge(layout.font))
        .x_desc("seconds")
        .y_desc(y_desc)
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

fn draw_level(chart: &mut Chart, layout: &Layout, columns: usize, meter: &LevelMeter) -> Result<()> {
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

/// The smallest size a title is set in before it wraps.
fn smallest_title(layout: &Layout) -> f64 {
    (layout.font * 0.6).max(8.0)
}

fn title_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FontFamily::SansSerif, size))
        .color(&TEXT)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

/// The title as it fits the band on top, whole (it names the options that
/// repeat the render): on one line in a smaller font if that is what it
/// takes, else on two or more lines of the band (`title::set`, as plan's and
/// report's titles). None when even that is too much.
fn set_title(root: &Area, layout: &Layout, title: &str) -> Option<title::Set> {
    let (width, _) = root.dim_in_pixel();
    let room = width as i32 - 2 * layout.pad;
    let measure = |t: &str, size: f64| text_width(root, &title_style(size), t);
    title::set(
        title,
        (room, layout.title_h),
        (layout.font, smallest_title(layout)),
        &measure,
    )
}

/// The title centred on top, whole; cut only when no size and no wrap
/// fits its band.
fn draw_title(root: &Area, layout: &Layout, title: &str) -> Result<()> {
    let (width, _) = root.dim_in_pixel();
    let centre = width as i32 / 2;
    let Some(set) = set_title(root, layout, title) else {
        let room = width as i32 - 2 * layout.pad;
        let style = title_style(smallest_title(layout));
        if let Some(cut) = fit_text(root, &style, title, room, MAX_TITLE_CHARS) {
            draw_text(root, &style, &cut, (centre, layout.title_h / 2))?;
        }
        return Ok(());
    };
    let line_h = (set.size * title::LINE) as i32;
    let top = (layout.title_h - set.height()) / 2;
    for (i, line) in set.lines.iter().enumerate() {
        let middle = top + i as i32 * line_h + line_h / 2;
        draw_text(root, &title_style(set.size), line, (centre, middle))?;
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

/// Marker labels in rows at the top of the plot, each in the first row
/// where it overlaps nothing (the lines are drawn before the lanes'
/// labels). A label with no free row is left out: the line still shows.
fn draw_marker_labels(root: &Area, layout: &Layout, frame: &Frame, by_time: &[&Marker]) -> Result<()> {
    let row_h = layout.row_h;
    let rows = ((frame.bottom - frame.top) / row_h / 3).clamp(1, 4) as usize;
    let mut row_ends = vec![i32::MIN; rows];
    let max_width = (frame.cols.right - frame.cols.left) / 3;
    for marker in by_time {
        let color = marker_color(marker.kind);
        let style = layout.text(&color, HPos::Left);
        let Some(label) = fit_label(root, &style, &marker.label, max_width) else {
            continue;
        };
        let width = text_width(root, &style, &label);
        let x = frame.x(marker.t);
        let left = if x + layout.pad + width <= frame.cols.right {
            x + layout.pad
        } else {
            x - layout.pad - width
        };
        let left = left.max(frame.cols.left);
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
    let line = [(x, frame.music_top), (x, frame.bottom)];
    let style = marker_color(marker.kind).stroke_width(layout.stroke);
    if marker.kind == MarkerKind::Position {
        let dash = layout.pad * 2;
        root.draw(&DashedPathElement::new(line, dash, layout.pad, style))?;
    } else {
        root.draw(&PathElement::new(line, style))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A render's title at the smallest picture, with a long playlist name:
    /// whole, on as many lines as its band takes (every character kept,
    /// inside the band and the picture's width), where it was cut before.
    #[test]
    fn a_small_pictures_title_is_wrapped_whole_not_cut() {
        super::super::arrange::with_arranged((400, 200), 10, &[], |root, a| small_title(root, &a.layout));
    }

    fn small_title(root: &Area, layout: &Layout) {
        let title = "queue-sales-and-renewals-after-hours-with-seasonal-advice-v2.toml, 3600 s — --seed 12345678901 --at 2026-03-09T17:05:00";
        let room = 400 - 2 * layout.pad;
        assert!(
            text_width(root, &title_style(smallest_title(layout)), title) > room,
            "one line would not fit even at the smallest size"
        );
        let set = set_title(root, layout, title).expect("the title fits its band");
        assert!(set.lines.len() >= 2, "{set:?}");
        assert!(set.height() <= layout.title_h, "{set:?}");
        for line in &set.lines {
            assert!(text_width(root, &title_style(set.size), line) <= room, "{line:?}");
        }
        let without_spaces = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(without_spaces(&set.lines.concat()), without_spaces(title));
    }
}
