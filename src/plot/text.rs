//! Measuring and drawing text in `render --plot`'s picture.

use super::*;
use plotters::coord::Shift;

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// ab_glyph puts the baseline half a font size below the anchor, so text
/// anchored at its centre sits high by about a fifth of the size.
pub(super) fn text_nudge(font_size: f64) -> i32 {
    (font_size * 0.2).round() as i32
}

pub(super) fn draw_text(root: &Area, style: &TextStyle, text: &str, (x, y): (i32, i32)) -> Result<()> {
    root.draw_text(text, style, (x, y + text_nudge(style.font.get_size())))?;
    Ok(())
}

pub(super) fn text_width(root: &Area, style: &TextStyle, text: &str) -> i32 {
    // A font that cannot measure cannot draw either, and drawing reports it.
    root.estimate_text_size(text, style)
        .map_or(i32::MAX, |(w, _)| w as i32)
}

pub(super) fn fit_label(root: &Area, style: &TextStyle, text: &str, max_px: i32) -> Option<String> {
    fit_text(root, style, text, max_px, MAX_LABEL_CHARS)
}

/// `text` cut with an ellipsis to fit `max_px` and `max_chars`, or None if
/// too little of it would be left to read.
pub(super) fn fit_text(
    root: &Area,
    style: &TextStyle,
    text: &str,
    max_px: i32,
    max_chars: usize,
) -> Option<String> {
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
