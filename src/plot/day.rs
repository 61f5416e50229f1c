//! `plan --plot`: a day of a playlist as a picture — one lane per section
//! (music, welcome, advice, repeats, keys) over the 24 hours, each stretch
//! of one value a labelled band, so a gap or an overlap shows at a glance.
//! Where things go is `day_layout`'s; this draws them.

use super::day_layout::{DayLayout, PlacedLane, arrange};
use super::labels::Place;
use super::lanes::{self, Geometry};
use super::legend;
use super::text::{Area, draw_text, text_width};
use super::title;
use super::*;
use plotters::backend::RGBPixel;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One section's day.
pub struct Lane {
    pub name: String,
    pub spans: Vec<LaneSpan>,
}

/// Minutes of the day `start..end` (end up to 1440) with one value.
pub struct LaneSpan {
    pub start: u32,
    pub end: u32,
    pub label: String,
}

/// Writes the day as a PNG of exactly `width` x `height` pixels.
pub fn write_png(path: &Path, width: u32, height: u32, title: &str, lanes: &[Lane]) -> Result<()> {
    let fail = || format!("{}: cannot write plot", path.display());
    check_size(width, height).with_context(fail)?;
    register_font().with_context(fail)?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    draw(&mut rgb, (width, height), title, lanes).with_context(fail)?;
    let png = encode_png(width, height, &rgb).with_context(fail)?;
    std::fs::write(path, png).with_context(fail)
}

fn draw(rgb: &mut [u8], size: (u32, u32), title: &str, lanes: &[Lane]) -> Result<()> {
    let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, size)?.into_drawing_area();
    root.fill(&WHITE)?;
    let style = |size: f64, h: HPos| {
        TextStyle::from((FontFamily::SansSerif, size))
            .color(&TEXT)
            .pos(Pos::new(h, VPos::Center))
    };
    let measure = |t: &str, size: f64| text_width(&root, &style(size, HPos::Left), t);
    let at = arrange(size, title, lanes, &measure);
    let m = at.metrics;
    let text = |h: HPos| style(m.font, h);
    if let Some(set) = &at.title {
        let line_h = (set.size * title::LINE) as i32;
        let top = (at.title_h - set.height()) / 2;
        for (i, line) in set.lines.iter().enumerate() {
            let middle = top + i as i32 * line_h + line_h / 2;
            draw_text(&root, &style(set.size, HPos::Left), line, (m.pad, middle))?;
        }
    }
    let width = size.0 as i32;
    let top = at.title_h;
    for hour in (0..=24).step_by(if width < 600 { 6 } else { 3 }) {
        let hx = at.x(hour * 60);
        root.draw(&PathElement::new(vec![(hx, top), (hx, at.axis_y)], GRID))?;
        let hours = format!("{hour:02}:00");
        draw_text(&root, &text(HPos::Center), &hours, (hx, at.axis_y + m.axis_h / 2))?;
    }
    for (lane, placed) in lanes.iter().zip(&at.lanes) {
        draw_lane(&root, &at, lane, placed)?;
    }
    legend::draw_flow(
        &root,
        (m.font, 1),
        &at.legend,
        (at.legend_left, at.legend_top),
        m.row_h,
    )?;
    root.present()?;
    Ok(())
}

/// A lane's name, its band, the spans on it, and their labels.
fn draw_lane(root: &Area, at: &DayLayout, lane: &Lane, placed: &PlacedLane) -> Result<()> {
    let m = at.metrics;
    let style = TextStyle::from((FontFamily::SansSerif, m.font))
        .color(&TEXT)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (y0, y1) = (placed.top, placed.bottom);
    root.draw(&Rectangle::new([(at.left, y0), (at.right, y1)], LANE_BG.filled()))?;
    draw_text(root, &style, &lane.name, (m.pad, placed.middle()))?;
    for (k, bar) in placed.bars.iter().enumerate() {
        let tone = MUSIC[k % MUSIC.len()];
        root.draw(&Rectangle::new([(bar.x0, y0), (bar.x1, y1)], tone.filled()))?;
        root.draw(&Rectangle::new(
            [(bar.x0, y0), (bar.x1, y1)],
            WHITE.stroke_width(1),
        ))?;
    }
    for label in placed.labels.labels.iter().filter(|l| l.place == Place::Inside) {
        draw_text(root, &style, &label.text, (label.x, placed.middle()))?;
    }
    let geometry = Geometry {
        left: at.left,
        right: at.right,
        top: y0,
        height: y1 - y0,
        row_h: m.row_h,
        pad: m.pad,
        font: m.font,
    };
    lanes::draw_above(root, &geometry, &placed.labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The picture decodes, at the size asked for, and has the bands' colours.
    #[test]
    fn writes_a_decodable_png_with_bands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("day.png");
        let lanes = vec![Lane {
            name: "music".to_string(),
            spans: vec![LaneSpan {
                start: 0,
                end: 720,
                label: "christmas".to_string(),
            }],
        }];
        write_png(&path, 800, 300, "t", &lanes).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (800, 300));
        let tone = MUSIC[0];
        assert!(buf.chunks(3).any(|p| p == [tone.0, tone.1, tone.2]));
        assert!(write_png(&path, 10, 10, "t", &lanes).is_err());
    }
}
