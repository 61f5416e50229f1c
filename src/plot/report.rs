//! `report --png`: the report as one picture of four panels, each a set of
//! labelled horizontal bars — hold times (the histogram), outcomes per
//! group (answered, abandoned, other, stacked), keys by action, and what
//! abandoning callers heard when they hung up (the part within 5 s of its
//! start darker). Bars rather than axes: every panel reads the same way
//! and a label never collides with a tick.

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
                if r.by == crate::report::By::Day {
                    "day"
                } else {
                    "queue"
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
    let title_h = (font * 2.2) as i32;
    root.draw(&Text::new(
        cut(
            &format!("holdmix report: {} ({} calls)", r.timeline_dir, r.total.calls),
            MAX_TITLE_CHARS,
        ),
        ((font * 0.6) as i32, title_h / 2),
        TextStyle::from((FontFamily::SansSerif, font * 1.2))
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    let body = root.margin(title_h as u32, 0, 0, 0);
    let cells = body.split_evenly((2, 2));
    for (cell, (title, rows)) in cells.iter().zip(panels(r)) {
        panel(cell, font, &title, &rows)?;
    }
    root.present()?;
    Ok(())
}

fn panel(area: &Area, font: f64, title: &str, rows: &[Row]) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let pad = (font * 0.6) as i32;
    let text = |hp: HPos| {
        TextStyle::from((FontFamily::SansSerif, font))
            .color(&TEXT)
            .pos(Pos::new(hp, VPos::Center))
    };
    area.draw(&Rectangle::new(
        [(pad / 2, pad / 2), (w - pad / 2, h - pad / 2)],
        GRID,
    ))?;
    let title_h = (font * 2.0) as i32;
    let room = ((f64::from(w - 2 * pad)) / (font * 0.55)) as usize;
    area.draw(&Text::new(
        cut(title, room.max(MIN_LABEL_CHARS)),
        (pad, pad + title_h / 2),
        text(HPos::Left),
    ))?;
    if rows.is_empty() {
        area.draw(&Text::new(
            "none".to_string(),
            (pad, pad + title_h * 3 / 2),
            text(HPos::Left),
        ))?;
        return Ok(());
    }
    let label_w = (f64::from(w) * 0.35) as i32;
    let count_w = (font * 4.0) as i32;
    let (x0, x1) = (pad + label_w, w - pad - count_w);
    let top = pad + title_h;
    let row_h = ((h - top - pad) / rows.len() as i32).clamp(1, (font * 2.2) as i32);
    let peak = rows
        .iter()
        .map(|r| r.parts.iter().map(|p| p.0).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let label_chars = (f64::from(label_w) / (font * 0.55)) as usize;
    for (i, row) in rows.iter().enumerate() {
        let (y0, y1) = (top + row_h * i as i32, top + row_h * (i as i32 + 1));
        let mid = (y0 + y1) / 2;
        area.draw(&Rectangle::new([(x0, y0 + 2), (x1, y1 - 2)], LANE_BG.filled()))?;
        if label_chars >= MIN_LABEL_CHARS {
            area.draw(&Text::new(
                cut(&row.label, label_chars.min(MAX_LABEL_CHARS)),
                (pad, mid),
                text(HPos::Left),
            ))?;
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
        area.draw(&Text::new(
            total.to_string(),
            (x1 + pad / 2, mid),
            text(HPos::Left),
        ))?;
    }
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a, RGBPixel>, plotters::coord::Shift>;

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
