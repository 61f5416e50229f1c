//! `plan --plot`: a day of a playlist as a picture — one lane per section
//! (music, welcome, advice, repeats, keys) over the 24 hours, each stretch
//! of one value a labelled band, so a gap or an overlap shows at a glance.

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

fn draw(rgb: &mut [u8], (w, h): (u32, u32), title: &str, lanes: &[Lane]) -> Result<()> {
    let root = BitMapBackend::<RGBPixel>::with_buffer_and_format(rgb, (w, h))?.into_drawing_area();
    root.fill(&WHITE)?;
    let font = f64::from((h / 30).min(w / 70).clamp(10, 40));
    let pad = (font / 2.0) as i32;
    let text = |h: HPos| {
        TextStyle::from((FontFamily::SansSerif, font))
            .color(&TEXT)
            .pos(Pos::new(h, VPos::Center))
    };
    let (w, h) = (w as i32, h as i32);
    let title_h = (font * 2.0) as i32;
    let axis_h = (font * 2.0) as i32;
    let left = (font * 6.0) as i32;
    let right = w - (font * 1.6) as i32;
    let lanes_h = (h - title_h - axis_h - pad).max(lanes.len() as i32);
    let lane_h = lanes_h / lanes.len().max(1) as i32;
    let x = |m: u32| left + ((f64::from(m) / 1440.0) * f64::from(right - left)).round() as i32;

    root.draw(&Text::new(
        cut(title, MAX_TITLE_CHARS),
        (pad, title_h / 2),
        text(HPos::Left),
    ))?;
    let axis_y = title_h + lane_h * lanes.len() as i32;
    for hour in (0..=24).step_by(if w < 600 { 6 } else { 3 }) {
        let hx = x(hour * 60);
        root.draw(&PathElement::new(vec![(hx, title_h), (hx, axis_y)], GRID))?;
        root.draw(&Text::new(
            format!("{hour:02}:00"),
            (hx, axis_y + axis_h / 2),
            text(HPos::Center),
        ))?;
    }
    for (i, lane) in lanes.iter().enumerate() {
        let top = title_h + lane_h * i as i32;
        let (y0, y1) = (top + pad / 2, top + lane_h - pad / 2);
        root.draw(&Rectangle::new([(left, y0), (right, y1)], LANE_BG.filled()))?;
        root.draw(&Text::new(
            lane.name.clone(),
            (pad, (y0 + y1) / 2),
            text(HPos::Left),
        ))?;
        for (k, s) in lane.spans.iter().enumerate() {
            let (x0, x1) = (x(s.start), x(s.end));
            let tone = MUSIC[k % MUSIC.len()];
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], tone.filled()))?;
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], WHITE.stroke_width(1)))?;
            // A label that would not fit its band is left out.
            let room = ((x1 - x0) as f64 / (font * 0.6)) as usize;
            if room >= MIN_LABEL_CHARS {
                let label = cut(&s.label, room.min(MAX_LABEL_CHARS));
                root.draw(&Text::new(label, (x0 + pad / 2, (y0 + y1) / 2), text(HPos::Left)))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
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
