//! Below the chart: the key (what the level curve and the shading are)
//! and the full names of the bars the lanes show as numbers.

use super::labels::LaneLabels;
use super::text::{Area, draw_text};
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What an item of the key shows before its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    Level,
    Duck,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub text: String,
    pub swatch: Option<Swatch>,
    /// An entry's end: counted by "… N more" when left out. A lane's
    /// heading and the lines of a wrapped entry before its last are not:
    /// they go with the entry after them, shown or left out with it.
    pub ends_entry: bool,
}

impl Item {
    pub fn text(text: String) -> Self {
        Item {
            text,
            swatch: None,
            ends_entry: true,
        }
    }

    /// A heading ("prompts:"), shown only with the entry after it.
    pub fn heading(text: String) -> Self {
        Item {
            ends_entry: false,
            ..Item::text(text)
        }
    }

    /// The `lines` of one entry, wrapped: one entry, shown whole or not.
    pub fn wrapped(lines: Vec<String>) -> Vec<Item> {
        let last = lines.len().saturating_sub(1);
        (lines.into_iter().enumerate())
            .map(|(i, text)| Item {
                ends_entry: i == last,
                ..Item::text(text)
            })
            .collect()
    }
}

/// Items laid out in rows, each `(x, item)` from the row's left.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub rows: Vec<Vec<(i32, Item)>>,
    /// Entries left out (a closing "… N more" item says how many; see
    /// [`Item::ends_entry`]).
    pub dropped: usize,
}

impl Flow {
    /// Entries left out with no row left to say so ("… N more"): a layout
    /// to avoid while there is another.
    pub fn silent(&self) -> bool {
        self.dropped > 0 && !self.rows.iter().flatten().any(|(_, i)| i.text.starts_with("… "))
    }
}

/// The key: what the level curve is (from the meter's window and how many
/// windows share a pixel column), and the duck shading when there is any.
pub fn key(window_secs: f64, per_column: usize, ducks: bool) -> Vec<Item> {
    let ms = (window_secs * 1000.0).round();
    let mut level = format!("output level, dBFS: RMS over {ms} ms");
    if per_column > 1 {
        level.push_str(&format!(", the loudest of {per_column} per pixel"));
    }
    let mut items = vec![Item {
        swatch: Some(Swatch::Level),
        ..Item::text(level)
    }];
    if ducks {
        items.push(Item {
            swatch: Some(Swatch::Duck),
            ..Item::text("ducked: music lowered under prompts".to_string())
        });
    }
    items
}

/// The legend's items: each lane's numbered names under the lane's name.
pub fn items(lanes: &[(&str, &LaneLabels)]) -> Vec<Item> {
    let mut items = Vec::new();
    for (name, lane) in lanes {
        if lane.legend.is_empty() {
            continue;
        }
        items.push(Item::heading(format!("{name}:")));
        items.extend(
            lane.legend
                .iter()
                .map(|(n, text)| Item::text(format!("{n} {text}"))),
        );
    }
    items
}

/// `items` left to right, `gap` apart, in rows `width` wide, at most
/// `max_rows` of them. Entries that do not fit are left out whole (never
/// cut, never in part) and the last row says how many, and `rest` where
/// they all are (render's timeline, plan's text).
pub fn flow(
    items: &[Item],
    width: i32,
    max_rows: usize,
    gap: i32,
    rest: &str,
    measure: &dyn Fn(&Item) -> i32,
) -> Flow {
    let mut rows: Vec<Vec<(i32, Item)>> = Vec::new();
    let mut x = 0;
    let mut dropped = 0;
    for entry in items.split_inclusive(|i| i.ends_entry) {
        if entry.iter().any(|i| measure(i) > width) {
            dropped += ends(entry);
            continue;
        }
        for item in entry {
            let w = measure(item);
            match rows.last_mut() {
                Some(row) if x + w <= width => row.push((x, item.clone())),
                _ => {
                    rows.push(vec![(0, item.clone())]);
                    x = 0;
                }
            }
            x += w + gap;
        }
    }
    if rows.len() > max_rows {
        let rest: Vec<Item> = rows.drain(max_rows..).flatten().map(|(_, i)| i).collect();
        dropped += ends(&rest);
        // The first lines (and heading) of an entry whose end went.
        drop_open_entry(&mut rows);
    }
    if dropped > 0 {
        dropped = close_with_more(&mut rows, dropped, (width, gap, max_rows), rest, measure);
    }
    Flow { rows, dropped }
}

/// The entries `items` end.
fn ends(items: &[Item]) -> usize {
    items.iter().filter(|i| i.ends_entry).count()
}

/// Takes off the last items up to the end of the last whole entry (an
/// entry's lines may span rows), and the rows that leaves empty but one.
fn drop_open_entry(rows: &mut Vec<Vec<(i32, Item)>>) {
    loop {
        let several = rows.len() > 1;
        let Some(row) = rows.last_mut() else {
            return;
        };
        match row.last() {
            Some((_, i)) if !i.ends_entry => {
                row.pop();
            }
            None if several => {
                rows.pop();
            }
            _ => return,
        }
    }
}

/// Ends the last row with "… N more (rest)" (or a row of its own when
/// one is left), taking entries off it until that fits; how many are left
/// out in the end.
fn close_with_more(
    rows: &mut Vec<Vec<(i32, Item)>>,
    mut dropped: usize,
    (width, gap, max_rows): (i32, i32, usize),
    rest: &str,
    measure: &dyn Fn(&Item) -> i32,
) -> usize {
    loop {
        let more = Item::text(format!("… {dropped} more ({rest})"));
        let w = measure(&more);
        let end = (rows.last().and_then(|r| r.last())).map_or(0, |(x, item)| x + measure(item) + gap);
        let room_left = rows.len() < max_rows;
        match rows.last_mut() {
            Some(row) if end + w <= width => {
                row.push((end, more));
                return dropped;
            }
            _ if w <= width && room_left => {
                rows.push(vec![(0, more)]);
                return dropped;
            }
            _ => {}
        }
        let Some(row) = rows.last_mut() else {
            return dropped;
        };
        if row.pop().is_none() {
            return dropped;
        }
        // The entry that ended there goes, with its first lines and heading.
        dropped += 1;
        drop_open_entry(rows);
    }
}

/// Room a swatch takes before its item's text.
pub(super) fn swatch_width(font: f64) -> i32 {
    (font * 1.6) as i32 + (font / 3.0) as i32
}

/// The flowed items, a row each `row_h` from `top`.
pub(super) fn draw_flow(
    root: &Area,
    (font, stroke): (f64, u32),
    flow: &Flow,
    (left, top): (i32, i32),
    row_h: i32,
) -> Result<()> {
    let style = TextStyle::from((FontFamily::SansSerif, font))
        .color(&TEXT)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let half = (font / 3.0) as i32;
    let swatch = (font * 1.6) as i32;
    for (i, row) in flow.rows.iter().enumerate() {
        let middle = top + i as i32 * row_h + row_h / 2;
        for (x, item) in row {
            let x = left + x;
            let area = [(x, middle - half), (x + swatch, middle + half)];
            match item.swatch {
                Some(Swatch::Level) => {
                    root.draw(&Rectangle::new(area, LEVEL_FILL.mix(0.35).filled()))?;
                    let line = [(x, middle - half), (x + swatch, middle - half)];
                    root.draw(&PathElement::new(line, LEVEL_LINE.stroke_width(stroke)))?;
                }
                Some(Swatch::Duck) => root.draw(&Rectangle::new(area, DUCK.mix(0.2).filled()))?,
                None => {}
            }
            let text_x = x + item.swatch.map_or(0, |_| swatch_width(font));
            draw_text(root, &style, &item.text, (text_x, middle))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::labels::tests::measure as measure_text;
    use super::*;

    fn measure(item: &Item) -> i32 {
        measure_text(&item.text) + item.swatch.map_or(0, |_| 20)
    }

    fn items_of(texts: &[&str]) -> Vec<Item> {
        texts.iter().map(|s| Item::text(s.to_string())).collect()
    }

    fn texts(flow: &Flow) -> Vec<Vec<&str>> {
        flow.rows
            .iter()
            .map(|r| r.iter().map(|(_, i)| i.text.as_str()).collect())
            .collect()
    }

    fn assert_within(flow: &Flow, width: i32) {
        for row in &flow.rows {
            for pair in row.windows(2) {
                assert!(pair[0].0 + measure(&pair[0].1) < pair[1].0, "{pair:?} overlap");
            }
            let (x, item) = row.last().unwrap();
            assert!(x + measure(item) <= width, "{item:?} overflows");
        }
    }

    #[test]
    fn items_wrap_into_rows_whole() {
        let items = items_of(&[
            "prompts:",
            "1 welcome: welcome.wav",
            "2 advice/first: 01-online.ogg",
        ]);
        let flow = flow(&items, 300, 3, 10, "--timeline", &measure);
        assert_eq!(
            texts(&flow),
            [
                vec!["prompts:", "1 welcome: welcome.wav"],
                vec!["2 advice/first: 01-online.ogg"]
            ]
        );
        assert_eq!(flow.rows[0][1].0, 7 * 8 + 10);
        assert_eq!(flow.dropped, 0);
        assert_within(&flow, 300);
    }

    #[test]
    fn what_does_not_fit_is_counted_not_cut() {
        let items: Vec<Item> = (1..=20)
            .map(|n| Item::text(format!("{n} advice-{n:02}.ogg")))
            .collect();
        let flow = flow(&items, 400, 2, 10, "--timeline", &measure);
        assert_eq!(flow.rows.len(), 2);
        let shown: Vec<&str> = texts(&flow).concat();
        let listed = shown.len() - 1;
        assert_eq!(flow.dropped, 20 - listed);
        assert_eq!(shown[listed], format!("… {} more (--timeline)", flow.dropped));
        assert!(shown[..listed].iter().all(|t| items.iter().any(|i| i.text == *t)));
        assert_within(&flow, 400);
    }

    /// A heading and the lines of a wrapped name go with the name: never
    /// shown without it, and "… N more" counts names.
    #[test]
    fn a_wrapped_name_is_shown_whole_or_left_out_and_counted_once() {
        let mut items = vec![Item::heading("advice:".into())];
        items.extend(Item::wrapped(vec![
            "1 advice/evening-weekend:".into(),
            "03-long-prompt-name.ogg".into(),
        ]));
        items.push(Item::heading("music:".into()));
        items.extend(Item::wrapped(vec![
            "2 evening-weekend-jazz-".into(),
            "selection.ogg".into(),
        ]));
        // One line a row: the rows end inside the second name.
        let flow = flow(&items, 250, 4, 10, "--timeline", &|i: &Item| {
            (i.text.chars().count() * 8) as i32
        });
        let shown: Vec<&str> = texts(&flow).concat();
        assert_eq!(flow.dropped, 1, "{shown:?}");
        assert_eq!(
            shown,
            [
                "advice:",
                "1 advice/evening-weekend:",
                "03-long-prompt-name.ogg",
                "… 1 more (--timeline)"
            ]
        );
        assert!(!flow.silent());
        // No row at all: left out without a word.
        assert!(flow_none(&items).silent());
    }

    fn flow_none(items: &[Item]) -> Flow {
        flow(items, 250, 0, 10, "--timeline", &|i: &Item| {
            (i.text.chars().count() * 8) as i32
        })
    }

    #[test]
    fn the_key_says_what_the_curve_and_the_shading_are() {
        let texts = |items: Vec<Item>| items.into_iter().map(|i| (i.swatch, i.text)).collect::<Vec<_>>();
        assert_eq!(
            texts(key(0.1, 1, false)),
            [(
                Some(Swatch::Level),
                "output level, dBFS: RMS over 100 ms".to_string()
            )]
        );
        assert_eq!(
            texts(key(0.05, 3, true)),
            [
                (
                    Some(Swatch::Level),
                    "output level, dBFS: RMS over 50 ms, the loudest of 3 per pixel".to_string()
                ),
                (
                    Some(Swatch::Duck),
                    "ducked: music lowered under prompts".to_string()
                )
            ]
        );
    }

    #[test]
    fn numbered_names_are_listed_under_their_lane() {
        let prompts = LaneLabels {
            legend: vec![(1, "welcome: welcome.wav".into())],
            ..Default::default()
        };
        let music = LaneLabels::default();
        assert_eq!(
            items(&[("prompts", &prompts), ("music", &music)]),
            [
                Item::heading("prompts:".into()),
                Item::text("1 welcome: welcome.wav".into())
            ]
        );
    }
}
