//! The music and prompt lanes above the plot: their bars, and the labels
//! [`labels::place`] put in or above them. A label above its lane hangs a
//! tick down to its bar; drawn first, the ticks pass behind the labels
//! nearer the lane.

use super::labels::{Bar, LaneLabels, Place};
use super::marks::Span;
use super::text::{Area, draw_text};
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Where a lane is drawn, in pixels of the whole picture.
pub(super) struct Geometry {
    pub left: i32,
    pub right: i32,
    /// The lane's top; its label rows are above it.
    pub top: i32,
    pub height: i32,
    pub row_h: i32,
    pub pad: i32,
    pub font: f64,
}

impl Geometry {
    fn style(&self) -> TextStyle<'static> {
        TextStyle::from((FontFamily::SansSerif, self.font))
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center))
    }

    fn middle(&self) -> i32 {
        self.top + (self.height - 2) / 2
    }

    /// The middle of label row `row` above the lane.
    fn row_middle(&self, row: usize) -> i32 {
        self.top - row as i32 * self.row_h - self.row_h / 2
    }
}

/// The lane's band, its name on the left, its spans as bars (`x` turns
/// seconds into pixels; a white seam between two), and the labels that sit
/// inside them.
pub(super) fn draw_bars(
    root: &Area,
    at: &Geometry,
    name: &str,
    spans: &[Span],
    x: impl Fn(f64) -> i32,
    fill: impl Fn(&Span) -> RGBColor,
    labels: &LaneLabels,
) -> Result<()> {
    let bottom = at.top + at.height - 2;
    root.draw(&Rectangle::new(
        [(at.left, at.top), (at.right, bottom)],
        LANE_BG.filled(),
    ))?;
    let right = at.style().pos(Pos::new(HPos::Right, VPos::Center));
    draw_text(root, &right, name, (at.left - at.pad, at.middle()))?;
    for (span, bar) in spans.iter().zip(bars(spans, x)) {
        root.draw(&Rectangle::new(
            [(bar.x0, at.top), (bar.x1, bottom)],
            fill(span).filled(),
        ))?;
        root.draw(&PathElement::new([(bar.x0, at.top), (bar.x0, bottom)], WHITE))?;
    }
    for label in labels.labels.iter().filter(|l| l.place == Place::Inside) {
        draw_text(root, &at.style(), &label.text, (label.x, at.middle()))?;
    }
    Ok(())
}

/// The labels above the lane, each on a white ground, with its tick.
pub(super) fn draw_above(root: &Area, at: &Geometry, labels: &LaneLabels) -> Result<()> {
    let above = || {
        labels.labels.iter().filter_map(|l| match l.place {
            Place::Above(row) => Some((l, row)),
            Place::Inside => None,
        })
    };
    let tick = TEXT.mix(0.6);
    for (label, row) in above() {
        let from = at.row_middle(row);
        root.draw(&PathElement::new(
            [(label.anchor, from), (label.anchor, at.top)],
            tick,
        ))?;
    }
    for (label, row) in above() {
        let middle = at.row_middle(row);
        let half = at.row_h / 2 - 2;
        let ground = [
            (label.x - 2, middle - half),
            (label.x + label.width + 2, middle + half),
        ];
        root.draw(&Rectangle::new(ground, WHITE.filled()))?;
        root.draw(&Rectangle::new(ground, tick))?;
        draw_text(root, &at.style(), &label.text, (label.x, middle))?;
    }
    Ok(())
}

/// Spans as bars from `x` (seconds to pixels), each at least a pixel wide
/// so a short prompt on a long call still shows.
pub(super) fn bars(spans: &[Span], x: impl Fn(f64) -> i32) -> Vec<Bar> {
    spans
        .iter()
        .map(|s| {
            let x0 = x(s.start);
            Bar {
                x0,
                x1: x(s.end).max(x0 + 1),
                name: s.label.clone(),
            }
        })
        .collect()
}
