//! `report --png`: the report as one picture of four panels, each a set of
//! labelled horizontal bars — hold times (the histogram), outcomes per
//! group (answered, abandoned, other, stacked), keys by action, and what
//! abandoning callers heard when they hung up (the part within 5 s of its
//! start darker). Bars rather than axes: every panel reads the same way
//! and a label never collides with a tick.

use super::legend;
use super::row_labels;
use super::text::{Area, draw_text, text_width};
use super::title;
use super::*;
use crate::report::{Report, WITHIN_SENTENCE};
use plotters::backend::RGBPixel;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const ANSWERED: RGBColor = RGBColor(0x4d, 0xaf, 0x4a);
const ABANDONED: RGBColor = RGBColor(0xe4, 0x1a, 0x1c);
const OTHER: RGBColor = RGBColor(0x99, 0x99, 0x99);
const BAR: RGBColor = RGBColor(0x37, 0x7e, 0xb8);
const SOON: RGBColor = RGBColor(0x8b, 0x0a, 0x0c);
/// Rows per panel at most (the largest, or the last groups).
const MAX_ROWS: usize = 12;

/// One bar: its label and its stacked parts.
struct Row {
    label: String,
    parts: Vec<(u64, RGBColor)>,
}

/// Writes the report as a PNG of exactly `width` x `height` pixels.
pub fn write_png(path: &Path, width: u32, height: u32, r: &Report) -> Result<()> {
    let fail = || format!("{}: cannot write the report picture", path.display());
    check_size(width, height).with_context(fail)?;
    register_font().with_context(fail)?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    draw(&mut rgb, (width, height), r).with_context(fail)?;
    let png = encode_png(width, height, &rgb).with_context(fail)?;
    std::fs::write(path, png).with_context(fail)
}

fn panels(r: &Report) -> [(String, Vec<Row>); 4] {
    let t = &r.total;
    let hist = t
        .hold_time
        .histogram
        .iter()
        .map(|b| Row {
            label: match b.to {
                Some(to) => format!("{}-{} s", b.from, to),
                None => format!("{}+ s", b.from),
            },
            parts: vec![(b.calls, BAR)],
        })
        .collect();
    let groups = r.groups[r.groups.len().saturating_sub(MAX_ROWS)..]
        .iter()
        .map(|g| {
            let o = &g.figures.outcomes;
            Row {
                label: g.key.clone(),
                parts: vec![
                    (o.answered, ANSWERED),
                    (o.abandoned, ABANDONED),
                    (o.timeout + o.key + o.empty + o.unknown, OTHER),
                ],
            }
        })
        .collect();
    let mut keys: Vec<Row> = t
        .keys
        .iter()
        .map(|(a, &n)| Row {
            label: a.clone(),
            parts: vec![(n, BAR)],
        })
        .collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.parts[0].0));
    keys.truncate(MAX_ROWS);
    let heard = t
        .abandons
        .heard
        .iter()
        .take(MAX_ROWS)
        .map(|h| {
            let soon = h.within[WITHIN_SENTENCE].abandons;
            Row {
                label: format!("{} {}", h.kind, h.name),
                parts: vec![(soon, SOON), (h.abandons - soon, ABANDONED)],
            }
        })
        .collect();
    let h = &t.hold_time;
    [
        (
            format!(
                "hold time: {} calls, p50 {:.0} s, p90 {:.0} s",
                t.calls, h.p50, h.p90
            ),
            hist,
        ),
        (
            format!(
                "per {}: answered, abandoned, other",
                match r.by {
                    crate::report::By::Day => "day",
                    crate::report::By::Queue => "queue",
                    crate::report::By::Route => "route",
                }
            ),
            groups,
        ),
        ("keys by action".to_string(), keys),
        (
            format!(
                "{} abandons: heard at hang-up (dark: within 5 s of its start)",
                t.abandons.count
            ),
            heard,
        ),
    ]
}

fn draw(rgb: &mut [u8], (w, h): (u32, u32), r: &Report) -> Result<()> {
    let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, (w, h))?.into_drawing_area();
    root.fill(&WHITE)?;
    let font = f64::from((h / 45).min(w / 90).clamp(9, 32));
    let pad = (font * 0.6) as i32;
    let text = format!("holdmix report: {} ({} calls)", r.timeline_dir, r.total.calls);
    let measure = |t: &str, size: f64| text_width(&root, &style(size), t);
    let set = title::set(
        &text,
        (w as i32 - 2 * pad, h as i32 / 6),
        (font * 1.2, (font * 0.7).max(8.0)),
        &measure,
    );
    let title_h = set
        .as_ref()
        .map_or(0, |s| s.height() + pad)
        .max((font * 2.2) as i32);
    if let Some(set) = &set {
        draw_set(&root, set, (pad, (title_h - set.height()) / 2))?;
    }
    let body = root.margin(title_h as u32, 0, 0, 0);
    let cells = body.split_evenly((2, 2));
    for (cell, (title, rows)) in cells.iter().zip(panels(r)) {
        panel(cell, font, &title, &rows)?;
    }
    root.present()?;
    Ok(())
}

fn style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FontFamily::SansSerif, size))
        .color(&TEXT)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// A title's lines, from `(x, top)`.
fn draw_set(area: &Area, set: &title::Set, (x, top): (i32, i32)) -> Result<()> {
    let line_h = (set.size * title::LINE) as i32;
    for (i, line) in set.lines.iter().enumerate() {
        draw_text(
            area,
            &style(set.size),
            line,
            (x, top + i as i32 * line_h + line_h / 2),
        )?;
    }
    Ok(())
}

fn panel(area: &Area, font: f64, title: &str, rows: &[Row]) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let pad = (font * 0.6) as i32;
    let text = style(font);
    let measure = |t: &str| text_width(area, &text, t);
    area.draw(&Rectangle::new(
        [(pad / 2, pad / 2), (w - pad / 2, h - pad / 2)],
        GRID,
    ))?;
    let set = title::set(
        title,
        (w - 2 * pad, h / 3),
        (font, (font * 0.7).max(8.0)),
        &|t, size| text_width(area, &style(size), t),
    );
    let title_h = set.as_ref().map_or(0, |s| s.height()).max((font * 2.0) as i32);
    if let Some(set) = &set {
        draw_set(area, set, (pad, pad + (title_h - set.height()) / 2))?;
    }
    let top = pad + title_h;
    if rows.is_empty() {
        draw_text(area, &text, "none", (pad, top + (font * 1.2) as i32))?;
        return Ok(());
    }
    let count_w = (font * 4.0) as i32;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let room = row_labels::Room {
        width: w - 2 * pad,
        height: h - top - pad,
        line_h: (font * title::LINE) as i32,
        row_h: (font * 2.2) as i32,
        gap: (font * 1.5) as i32,
    };
    let placed = row_labels::arrange(&labels, &room, &measure);
    let (x0, x1) = (2 * pad + placed.column, w - pad - count_w);
    let row_h = placed.row_h;
    let peak = rows
        .iter()
        .map(|r| r.parts.iter().map(|p| p.0).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    for (i, (row, lines)) in rows.iter().zip(&placed.lines).enumerate() {
        let (y0, y1) = (top + row_h * i as i32, top + row_h * (i as i32 + 1));
        let mid = (y0 + y1) / 2;
        area.draw(&Rectangle::new([(x0, y0 + 2), (x1, y1 - 2)], LANE_BG.filled()))?;
        let first = mid - (lines.len() as i32 - 1) * room.line_h / 2;
        for (j, line) in lines.iter().enumerate() {
            draw_text(area, &text, line, (pad, first + j as i32 * room.line_h))?;
        }
        let mut x = x0;
        let mut total = 0;
        for &(n, color) in &row.parts {
            total += n;
            let len = ((n as f64 / peak as f64) * f64::from(x1 - x0)).round() as i32;
            if len > 0 {
                area.draw(&Rectangle::new([(x, y0 + 2), (x + len, y1 - 2)], color.filled()))?;
            }
            x += len;
        }
        draw_text(area, &text, &total.to_string(), (x1 + pad / 2, mid))?;
    }
    let list_top = top + placed.list_top();
    legend::draw_flow(area, (font, 1), &placed.list, (pad, list_top), room.line_h)?;
    Ok(())
}
