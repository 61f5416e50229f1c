//! Where a lane's labels go (`render --plot`), worked out on pixel
//! positions only, so the layout is tested without drawing anything.
//!
//! A label is always a whole name, never cut. It goes inside its bar when
//! it fits there, else above the lane, in the first of a few rows where it
//! overlaps nothing. When some name finds no room that way, the lane is
//! numbered instead: every name that does not fit its bar becomes a number
//! above the bar, and the legend below the chart lists each such name once
//! with its number. Mixing the two would let long names take the rows the
//! numbers need.

/// A bar of a lane, in pixels, and the name it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x0: i32,
    pub x1: i32,
    pub name: String,
}

/// What the layout has to work with.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    /// The lane's extent: no label starts before or ends after it.
    pub left: i32,
    pub right: i32,
    /// Rows above the lane that labels may take.
    pub rows: usize,
    /// Space between two labels in a row, and around a label in its bar.
    pub gap: i32,
    /// The first legend number (numbers run on from one lane to the next).
    pub first_number: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Inside,
    /// A row above the lane, 0 the nearest.
    Above(usize),
}

/// One label: `text` drawn from `x` to `x + width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Index of its bar.
    pub bar: usize,
    pub text: String,
    pub x: i32,
    pub width: i32,
    pub place: Place,
    /// The x of its bar that a label above points down to (within the label).
    pub anchor: i32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaneLabels {
    pub labels: Vec<Label>,
    /// Rows above the lane in use.
    pub rows: usize,
    /// (number, name) of every numbered name, each once, by first appearance.
    pub legend: Vec<(usize, String)>,
}

/// The labels of `bars`; `measure` gives a text's width in pixels.
pub fn place(bars: &[Bar], room: &Room, measure: &dyn Fn(&str) -> i32) -> LaneLabels {
    let mut order: Vec<usize> = (0..bars.len()).collect();
    order.sort_by_key(|&i| (bars[i].x0, bars[i].x1));
    named(bars, &order, room, measure).unwrap_or_else(|| numbered(bars, &order, room, measure))
}

/// Every name whole, in its bar or above it; None if one finds no room.
fn named(bars: &[Bar], order: &[usize], room: &Room, measure: &dyn Fn(&str) -> i32) -> Option<LaneLabels> {
    let mut rows = Rows::new(room.rows);
    let mut labels = Vec::with_capacity(bars.len());
    for &i in order {
        let bar = &bars[i];
        let width = measure(&bar.name);
        let label = match inside(bar, width, room.gap) {
            Some(label) => label,
            None => rows.above(bar, bar.x0, width, room)?,
        };
        labels.push(Label {
            bar: i,
            text: bar.name.clone(),
            ..label
        });
    }
    Some(LaneLabels {
        labels,
        rows: rows.used(),
        legend: Vec::new(),
    })
}

/// Names that fit their bars stay there; the others are numbers, above the
/// bar's middle (or in the bar if the number fits), listed in the legend. A
/// number with no room left is not drawn, but its name is still listed.
fn numbered(bars: &[Bar], order: &[usize], room: &Room, measure: &dyn Fn(&str) -> i32) -> LaneLabels {
    let mut rows = Rows::new(room.rows);
    let mut labels = Vec::with_capacity(bars.len());
    let mut legend: Vec<(usize, String)> = Vec::new();
    for &i in order {
        let bar = &bars[i];
        let width = measure(&bar.name);
        if let Some(label) = inside(bar, width, room.gap) {
            labels.push(Label {
                bar: i,
                text: bar.name.clone(),
                ..label
            });
            continue;
        }
        let number = match legend.iter().find(|(_, name)| *name == bar.name) {
            Some((n, _)) => *n,
            None => {
                let n = room.first_number + legend.len();
                legend.push((n, bar.name.clone()));
                n
            }
        };
        let text = number.to_string();
        let width = measure(&text);
        let middle = (bar.x0 + bar.x1) / 2;
        let label = inside(bar, width, room.gap).or_else(|| rows.above(bar, middle - width / 2, width, room));
        if let Some(label) = label {
            labels.push(Label {
                bar: i,
                text,
                ..label
            });
        }
    }
    LaneLabels {
        labels,
        rows: rows.used(),
        legend,
    }
}

/// In the bar, from its start, if there is room with a gap each side.
fn inside(bar: &Bar, width: i32, gap: i32) -> Option<Label> {
    (width + 2 * gap <= bar.x1 - bar.x0).then(|| Label {
        bar: 0,
        text: String::new(),
        x: bar.x0 + gap,
        width,
        place: Place::Inside,
        anchor: bar.x0,
    })
}

/// The rows above a lane: how far each is taken, from the left.
struct Rows {
    ends: Vec<i32>,
    used: usize,
}

impl Rows {
    fn new(rows: usize) -> Self {
        Rows {
            ends: vec![i32::MIN; rows],
            used: 0,
        }
    }

    /// A label of `width` wanting to start at `want`, moved left to stay in
    /// the lane, in the first row where it clears the labels there.
    fn above(&mut self, bar: &Bar, want: i32, width: i32, room: &Room) -> Option<Label> {
        if width > room.right - room.left {
            return None;
        }
        let x = want.min(room.right - width).max(room.left);
        let row = self
            .ends
            .iter()
            .position(|&end| end.saturating_add(room.gap) <= x)?;
        self.ends[row] = x + width;
        self.used = self.used.max(row + 1);
        // The bar's middle, kept under the label so the tick reaches it
        // (both lie between the bar's start and the lane's end).
        let anchor = ((bar.x0 + bar.x1) / 2).clamp(x, x + width);
        Some(Label {
            bar: 0,
            text: String::new(),
            x,
            width,
            place: Place::Above(row),
            anchor,
        })
    }

    fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Seven pixels a character: a stand-in for the font.
    pub fn measure(text: &str) -> i32 {
        7 * text.chars().count() as i32
    }

    fn bar(x0: i32, x1: i32, name: &str) -> Bar {
        Bar {
            x0,
            x1,
            name: name.to_string(),
        }
    }

    fn room(rows: usize) -> Room {
        Room {
            left: 0,
            right: 1000,
            rows,
            gap: 4,
            first_number: 1,
        }
    }

    /// The checks every layout must pass: labels whole (a name, or a
    /// number the legend explains), inside their lane and bars, never on
    /// top of each other, and every name drawn or listed.
    pub fn assert_sound(bars: &[Bar], room: &Room, out: &LaneLabels, measure: &dyn Fn(&str) -> i32) {
        for l in &out.labels {
            let bar = &bars[l.bar];
            let listed = out
                .legend
                .iter()
                .any(|(n, name)| n.to_string() == l.text && *name == bar.name);
            assert!(
                l.text == bar.name || listed,
                "{l:?} is neither {:?} nor its number",
                bar.name
            );
            assert_eq!(l.width, measure(&l.text), "{l:?}: not the whole text");
            assert!(
                l.x >= room.left && l.x + l.width <= room.right,
                "{l:?} leaves the lane"
            );
            match l.place {
                Place::Inside => assert!(
                    l.x >= bar.x0 && l.x + l.width <= bar.x1,
                    "{l:?} spills out of {bar:?}"
                ),
                Place::Above(row) => {
                    assert!(
                        row < out.rows && out.rows <= room.rows,
                        "{l:?}: row {row} of {}",
                        out.rows
                    );
                    assert!(l.anchor >= l.x && l.anchor <= l.x + l.width, "{l:?}");
                    assert!(
                        l.anchor >= bar.x0 && l.anchor <= bar.x1,
                        "{l:?} points off {bar:?}"
                    );
                }
            }
        }
        for (i, a) in out.labels.iter().enumerate() {
            for b in &out.labels[i + 1..] {
                let same_row = match (a.place, b.place) {
                    (Place::Above(x), Place::Above(y)) => x == y,
                    (Place::Inside, Place::Inside) => true,
                    _ => false,
                };
                let apart = a.x + a.width <= b.x || b.x + b.width <= a.x;
                assert!(!same_row || apart, "{a:?} overlaps {b:?}");
            }
        }
        for (i, bar) in bars.iter().enumerate() {
            let drawn = out.labels.iter().any(|l| l.bar == i && l.text == bar.name);
            let listed = out.legend.iter().any(|(_, name)| *name == bar.name);
            assert!(drawn || listed, "{bar:?} is neither labelled nor listed");
        }
    }

    #[test]
    fn names_that_fit_stay_in_their_bars() {
        let bars = [bar(0, 200, "bed-1-calm.wav"), bar(200, 500, "bed-2-bright.mp3")];
        let out = place(&bars, &room(2), &measure);
        assert_sound(&bars, &room(2), &out, &measure);
        assert_eq!(out.rows, 0);
        assert!(out.legend.is_empty());
        assert_eq!(
            out.labels.iter().map(|l| (l.x, l.place)).collect::<Vec<_>>(),
            [(4, Place::Inside), (204, Place::Inside)]
        );
    }

    /// The 90 s demo: "01-online" was cut in a 60 px bar; now it is whole,
    /// above, and the next short bar's name takes the row above that.
    #[test]
    fn a_name_too_long_for_its_bar_goes_above_it_staggered() {
        let bars = [
            bar(17, 102, "welcome: welcome.wav, key-help.wav"),
            bar(100, 120, "advice/first: 01-online.ogg"),
            bar(900, 960, "advice/middle: 02-paperless.ogg"),
        ];
        let out = place(&bars, &room(3), &measure);
        assert_sound(&bars, &room(3), &out, &measure);
        let placed: Vec<_> = out
            .labels
            .iter()
            .map(|l| (l.text.as_str(), l.x, l.place))
            .collect();
        assert_eq!(
            placed,
            [
                ("welcome: welcome.wav, key-help.wav", 17, Place::Above(0)),
                ("advice/first: 01-online.ogg", 100, Place::Above(1)),
                // Moved left to end at the lane's edge, still over its bar.
                ("advice/middle: 02-paperless.ogg", 1000 - 7 * 31, Place::Above(0)),
            ]
        );
        assert_eq!(out.rows, 2);
    }

    /// Thirty slivers 20 px apart: their names cannot all be above, so
    /// they are numbered; a name heard twice keeps its number.
    #[test]
    fn crowded_bars_are_numbered_and_listed_once() {
        let names = ["advice/first: 01-online.ogg", "position: you-are.wav, fourth.wav"];
        let bars: Vec<Bar> = (0..30)
            .map(|i| bar(i * 20, i * 20 + 3, names[i as usize % 2]))
            .collect();
        let out = place(&bars, &room(3), &measure);
        assert_sound(&bars, &room(3), &out, &measure);
        assert_eq!(out.legend, [(1, names[0].to_string()), (2, names[1].to_string())]);
        assert_eq!(out.labels.len(), 30, "every sliver has its number");
        assert!(out.labels.iter().all(|l| l.text == "1" || l.text == "2"));
    }

    #[test]
    fn numbers_run_on_from_the_lane_before() {
        let bars = [bar(0, 2, "a-long-name.wav"), bar(3, 5, "another-long-name.wav")];
        let room = Room {
            rows: 0,
            first_number: 5,
            ..room(0)
        };
        let out = place(&bars, &room, &measure);
        assert_sound(&bars, &room, &out, &measure);
        assert_eq!(
            out.legend,
            [
                (5, "a-long-name.wav".to_string()),
                (6, "another-long-name.wav".to_string())
            ]
        );
        assert!(
            out.labels.is_empty(),
            "no rows and no room in the bars: listed only"
        );
    }

    #[test]
    fn a_name_wider_than_the_lane_is_listed_not_cut() {
        let long = "x".repeat(200);
        let bars = [bar(0, 900, &long)];
        let out = place(&bars, &room(3), &measure);
        assert_sound(&bars, &room(3), &out, &measure);
        assert_eq!(out.legend, [(1, long)]);
    }
}
