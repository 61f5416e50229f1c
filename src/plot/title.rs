//! Setting a title whole in the room it has: smaller, or on more lines,
//! never cut. Pixel sizes only, so it is tested without drawing.

/// A line takes this many times its font size.
pub const LINE: f64 = 1.2;

/// A title as it is drawn: its font size and its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub size: f64,
    pub lines: Vec<String>,
}

impl Set {
    /// The height its lines take.
    pub fn height(&self) -> i32 {
        (self.lines.len() as f64 * self.size * LINE).ceil() as i32
    }
}

/// `text` in `room` pixels wide and at most `height` tall: on one line at
/// the largest size from `largest` down to `smallest` that fits, else on
/// as many lines as it takes at the largest size they fit. None when even
/// that is too much; `measure` gives a text's width at a size.
pub fn set(
    text: &str,
    (room, height): (i32, i32),
    (largest, smallest): (f64, f64),
    measure: &dyn Fn(&str, f64) -> i32,
) -> Option<Set> {
    let sizes = || {
        let steps = (largest - smallest).max(0.0).floor() as usize;
        (0..=steps).map(move |i| largest - i as f64)
    };
    let fits = |set: &Set| set.height() <= height;
    // One line, even a little smaller, reads better than two.
    let one = sizes()
        .filter(|&size| measure(text, size) <= room)
        .map(|size| Set {
            size,
            lines: vec![text.to_string()],
        })
        .find(fits);
    one.or_else(|| {
        sizes()
            .map(|size| Set {
                size,
                lines: wrap(text, room, &|t| measure(t, size)),
            })
            .find(fits)
    })
}

/// `text` in lines at most `room` wide, broken after a space or a `/` (a
/// path), or anywhere in a piece wider than the room. Every character is
/// kept but the spaces a line ends with. Written here rather than with
/// `textwrap`, which counts terminal columns: these are pixels of a
/// proportional font, as `measure` gives them.
pub fn wrap(text: &str, room: i32, measure: &dyn Fn(&str) -> i32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for piece in pieces(text) {
        let joined = format!("{line}{piece}");
        if measure(joined.trim_end()) <= room {
            line = joined;
            continue;
        }
        if !line.trim_end().is_empty() {
            lines.push(line.trim_end().to_string());
        }
        line = String::new();
        for c in piece.chars() {
            let longer = format!("{line}{c}");
            if measure(longer.trim_end()) > room && !line.is_empty() {
                lines.push(line.trim_end().to_string());
                line = c.to_string();
            } else {
                line = longer;
            }
        }
    }
    if !line.trim_end().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// `text` in pieces that each end after a space or a `/`.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' || c == '/' {
            out.push(&text[start..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seven pixels a character at size 10, in proportion at others.
    fn measure(text: &str, size: f64) -> i32 {
        (0.7 * size * text.chars().count() as f64).round() as i32
    }

    const TITLE: &str = "/etc/holdmix/playlists/evening-weekend-support.toml, 2026-12-07";

    #[test]
    fn a_title_that_fits_stays_one_line_at_full_size() {
        let set = set("demo.toml, 2026-12-07", (400, 24), (12.0, 8.0), &measure).unwrap();
        assert_eq!((set.size, set.lines.len()), (12.0, 1));
    }

    #[test]
    fn a_long_title_is_smaller_then_wrapped_never_cut() {
        // 63 characters: 441 px at 10, 353 px at 8.
        let one = set(TITLE, (400, 20), (10.0, 8.0), &measure).unwrap();
        assert_eq!(one.lines, [TITLE], "smaller, on one line");
        assert_eq!(one.size, 9.0);
        let two = set(TITLE, (300, 40), (10.0, 8.0), &measure).unwrap();
        assert!(two.lines.len() >= 2, "{two:?}");
        assert_eq!(two.lines.concat().replace(' ', ""), TITLE.replace(' ', ""));
        for line in &two.lines {
            assert!(measure(line, two.size) <= 300, "{line:?} is too wide");
            assert!(!line.contains('…'));
        }
        assert!(two.height() <= 40);
    }

    #[test]
    fn a_title_with_no_room_at_all_is_none() {
        assert_eq!(set(TITLE, (100, 10), (10.0, 8.0), &measure), None);
    }

    #[test]
    fn wrapping_breaks_after_slashes_and_spaces() {
        let lines = wrap("/srv/moh/a b", 63, &|t| 7 * t.chars().count() as i32);
        assert_eq!(lines, ["/srv/moh/", "a b"]);
        let lines = wrap("abcdefghijkl", 35, &|t| 7 * t.chars().count() as i32);
        assert_eq!(lines, ["abcde", "fghij", "kl"]);
    }
}
