//! Where the labels of a report panel's rows go, in pixels only, so the
//! layout is tested without drawing. A label is never cut: the label
//! column is as wide as the longest label needs (up to a share of the
//! panel, the bars need the rest); a longer label wraps onto the lines its
//! row has; one that still does not fit is numbered, and the list below
//! the rows gives its whole text.

use super::legend::{self, Flow};
use super::title;

/// The share of the panel's width the label column may take at most.
const MAX_COLUMN: f64 = 0.45;
/// Lines a label may wrap onto.
const MAX_LINES: usize = 3;

/// What the panel has to work with, in pixels.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub width: i32,
    /// From the top of the rows to the bottom of the panel's inside.
    pub height: i32,
    /// A line of text.
    pub line_h: i32,
    /// The most a row takes when it has one line.
    pub row_h: i32,
    pub gap: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RowLabels {
    /// The label column's width.
    pub column: i32,
    pub row_h: i32,
    /// Each row's label as drawn: its lines, or its number.
    pub lines: Vec<Vec<String>>,
    /// (number, label) of the labels drawn as numbers.
    pub numbered: Vec<(usize, String)>,
    /// The numbered labels, whole, below the rows.
    pub list: Flow,
}

impl RowLabels {
    /// The top of the list, from the top of the rows.
    pub fn list_top(&self) -> i32 {
        self.row_h * self.lines.len() as i32
    }
}

/// Where the labels go; `measure` gives a text's width.
pub fn arrange(labels: &[String], room: &Room, measure: &dyn Fn(&str) -> i32) -> RowLabels {
    let n = labels.len().max(1) as i32;
    let widest = labels.iter().map(|l| measure(l)).max().unwrap_or(0);
    let column = widest.min((f64::from(room.width) * MAX_COLUMN) as i32).max(0);
    let wrapped: Vec<Vec<String>> = labels.iter().map(|l| title::wrap(l, column, measure)).collect();
    let lines_needed = wrapped
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(1)
        .clamp(1, MAX_LINES);
    let row_h = (room.height / n).min(room.row_h.max(lines_needed as i32 * room.line_h));
    let lines_fit = usize::try_from(row_h / room.line_h.max(1)).unwrap_or(0);
    let fits = |lines: &Vec<String>| lines.len() <= lines_fit && lines.iter().all(|l| measure(l) <= column);
    if wrapped.iter().all(fits) {
        return RowLabels {
            column,
            row_h: row_h.max(1),
            lines: wrapped,
            numbered: Vec::new(),
            list: Flow::default(),
        };
    }
    numbered(labels, &wrapped, room, measure)
}

/// The labels that fit the column on one line stay; the others are
/// numbers, listed below the rows in what room the rows leave.
fn numbered(
    labels: &[String],
    wrapped: &[Vec<String>],
    room: &Room,
    measure: &dyn Fn(&str) -> i32,
) -> RowLabels {
    let n = labels.len().max(1) as i32;
    let mut numbered = Vec::new();
    let lines: Vec<Vec<String>> = (labels.iter().zip(wrapped))
        .map(|(label, lines)| match lines.len() {
            1 => lines.clone(),
            _ => {
                // A label twice (a file heard in two queues) keeps its number.
                let k = match numbered.iter().find(|(_, l)| l == label) {
                    Some((k, _)) => *k,
                    None => {
                        numbered.push((numbered.len() + 1, label.clone()));
                        numbered.len()
                    }
                };
                vec![k.to_string()]
            }
        })
        .collect();
    let items: Vec<legend::Item> = (numbered.iter())
        .flat_map(|(k, label)| {
            legend::Item::wrapped(title::wrap(&format!("{k} {label}"), room.width, measure))
        })
        .collect();
    // Each row keeps a line of text; the list takes the rest.
    let spare = room.height - n * room.line_h;
    let max_rows = usize::try_from(spare / room.line_h.max(1)).unwrap_or(0);
    let list = legend::flow(
        &items,
        room.width,
        max_rows,
        room.gap,
        "the report's text",
        &|i| measure(&i.text),
    );
    let list_h = list.rows.len() as i32 * room.line_h;
    let row_h = ((room.height - list_h) / n).min(room.row_h).max(1);
    let column = lines.iter().flatten().map(|l| measure(l)).max().unwrap_or(0);
    RowLabels {
        column,
        row_h,
        lines,
        numbered,
        list,
    }
}

#[cfg(test)]
mod tests {
    use super::super::labels::tests::measure;
    use super::*;

    fn room(width: i32, height: i32) -> Room {
        Room {
            width,
            height,
            line_h: 12,
            row_h: 22,
            gap: 10,
        }
    }

    fn labels(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|s| s.to_string()).collect()
    }

    /// Every label drawn whole (its lines, joined) or listed whole under
    /// its number; lines within the column and their row; the list within
    /// the panel and below the rows; no "…".
    fn assert_whole(labels: &[String], room: &Room, out: &RowLabels) {
        let listed: String = out
            .list
            .rows
            .iter()
            .flatten()
            .map(|(_, i)| i.text.as_str())
            .collect();
        for (label, lines) in labels.iter().zip(&out.lines) {
            for line in lines {
                assert!(!line.contains('…'), "{line:?} is cut");
                assert!(measure(line) <= out.column, "{line:?} is wider than the column");
            }
            assert!(
                lines.len() as i32 * room.line_h <= out.row_h,
                "{lines:?} overflow their row"
            );
            let drawn = lines.join(" ").replace(' ', "") == label.replace(' ', "");
            let number = out.numbered.iter().find(|(_, l)| l == label);
            let listed = number.is_some_and(|(k, l)| {
                lines == &[k.to_string()]
                    && listed
                        .replace(' ', "")
                        .contains(&format!("{k}{l}").replace(' ', ""))
            });
            assert!(drawn || listed, "{label:?} is neither drawn nor listed: {out:?}");
        }
        assert!(out.column <= room.width);
        let bottom = out.list_top() + out.list.rows.len() as i32 * room.line_h;
        assert!(bottom <= room.height, "{out:?} leaves the panel");
        for row in &out.list.rows {
            for pair in row.windows(2) {
                assert!(
                    pair[0].0 + measure(&pair[0].1.text) <= pair[1].0,
                    "{pair:?} overlap"
                );
            }
            for (x, item) in row {
                assert!(!item.text.contains('…'), "{item:?} is cut");
                assert!(x + measure(&item.text) <= room.width, "{item:?} overflows");
            }
        }
    }

    const HEARD: [&str; 4] = [
        "prompt advice/evening-weekend: 03-long-prompt-name.ogg",
        "prompt welcome: welcome.wav",
        "music night-quiet-strings.flac",
        "position you-are.wav, fourth.wav",
    ];

    #[test]
    fn short_labels_take_the_column_they_need() {
        let l = labels(&["0-30 s", "30-60 s", "600+ s"]);
        let out = arrange(&l, &room(400, 200), &measure);
        assert_whole(&l, &room(400, 200), &out);
        assert_eq!(out.column, measure("30-60 s"));
        assert!(out.numbered.is_empty());
    }

    #[test]
    fn a_long_label_wraps_when_its_row_has_the_lines() {
        // 600 px panel: a 270 px column; 200 px tall, 4 rows of 50 px.
        let l = labels(&HEARD);
        let out = arrange(&l, &room(600, 200), &measure);
        assert_whole(&l, &room(600, 200), &out);
        assert!(out.numbered.is_empty(), "{out:?}");
        assert_eq!(out.lines[0].len(), 2, "{out:?}");
    }

    #[test]
    fn a_label_with_no_lines_to_wrap_onto_is_numbered_and_listed() {
        // 300 px: a 135 px column; 12 rows in 220 px leave each a line.
        let l: Vec<String> = HEARD.iter().cycle().take(12).map(|s| s.to_string()).collect();
        let room = room(300, 12 * 12 + 76);
        let out = arrange(&l, &room, &measure);
        assert_whole(&l, &room, &out);
        assert!(!out.numbered.is_empty() && !out.list.rows.is_empty(), "{out:?}");
    }

    #[test]
    fn sizes_from_a_small_to_a_large_panel_keep_every_label_whole() {
        let l = labels(&HEARD);
        for (width, height) in [(395, 120), (595, 160), (800, 260)] {
            let room = room(width, height);
            let out = arrange(&l, &room, &measure);
            assert_eq!(out.list.dropped, 0, "{width}x{height}: {out:?}");
            assert_whole(&l, &room, &out);
        }
        // A panel of a 400x200 picture: no room to list them, but counted,
        // and still nothing cut.
        let out = arrange(&l, &room(195, 70), &measure);
        assert_eq!(
            out.numbered.len() + out.lines.iter().filter(|l| l.len() > 1).count(),
            4
        );
        assert!(out.lines.iter().flatten().all(|l| !l.contains('…')));
        // Counted by name, not by the lines a name wraps onto.
        assert_eq!(out.list.dropped, out.numbered.len(), "{out:?}");
        assert_eq!(out.list.dropped, 4, "{out:?}");
    }
}
