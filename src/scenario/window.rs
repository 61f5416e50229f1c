//! Windows: days of the week, dates and holidays, and HH:MM–HH:MM ranges;
//! a range may cross midnight ("21:00-02:00" runs into the next day, and
//! its small hours belong to the day it started on: to that weekday, date
//! or holiday).
//!
//! Written in a playlist as `when = "21:00-24:00"` (every day), or
//! `when = { days = "mon-fri", time = ["09:00-12:00", "13:00-18:00"] }`,
//! `when = { on = ["new_year"] }`, `when = { dates = ["12-24..12-26"] }`,
//! `when = { days = "mon-fri", time = "09:00-18:00", holiday = false }`, or
//! a list of such tables (the window is open when any of them is). The
//! date is the local date in the playlist's zone.

use super::calendar::DateSpec;
use super::diag::closest;
use chrono::{Datelike, NaiveDate};
use std::fmt;

pub const MINUTES_PER_DAY: u32 = 24 * 60;
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Monday first.
    pub days: [bool; 7],
    pub ranges: Vec<Range>,
    /// Only on these dates (`dates`, `on`, `holiday = true`); `None`: any date.
    pub dates: Option<Vec<DateSpec>>,
    /// Never on these dates (`holiday = false`).
    pub except: Vec<DateSpec>,
}

/// Minutes of the day, `end` may be 1440 (24:00); `end < start` crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

/// A Monday, for [`Window::contains_week_minute`] (weekly windows only).
const A_MONDAY: (i32, u32, u32) = (2024, 1, 1);

impl Window {
    /// Open at `minute` (0..1440) of the local `date`?
    pub fn contains(&self, date: NaiveDate, minute: u32) -> bool {
        self.rules.iter().any(|r| r.contains(date, minute))
    }

    /// No dates or holidays: the same every week.
    pub fn is_weekly(&self) -> bool {
        self.rules
            .iter()
            .all(|r| r.dates.is_none() && r.except.is_empty())
    }

    /// Open at minute `m` of the week (0 = Monday 00:00)? Meant for weekly
    /// windows ([`Window::is_weekly`]): dates are those of one fixed week.
    pub fn contains_week_minute(&self, m: u32) -> bool {
        let (y, mo, d) = A_MONDAY;
        let monday = NaiveDate::from_ymd_opt(y, mo, d).unwrap_or_default();
        let date = monday + chrono::Days::new(u64::from(m / MINUTES_PER_DAY % 7));
        self.contains(date, m % MINUTES_PER_DAY)
    }
}

impl Rule {
    fn contains(&self, date: NaiveDate, minute: u32) -> bool {
        self.ranges.iter().any(|r| {
            if r.start < r.end {
                (r.start..r.end).contains(&minute) && self.day_open(date)
            } else {
                // Crossing midnight: the evening part belongs to the listed
                // day, the small hours to the day after.
                (minute >= r.start && self.day_open(date))
                    || (minute < r.end && date.pred_opt().is_some_and(|y| self.day_open(y)))
            }
        })
    }

    /// Is `date` one of this rule's days (weekday, dates, not excepted)?
    fn day_open(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize]
            && self
                .dates
                .as_ref()
                .is_none_or(|d| d.iter().any(|s| s.matches(date)))
            && !self.except.iter().any(|s| s.matches(date))
    }
}

/// Parses `HH:MM-HH:MM`.
pub fn parse_range(text: &str) -> Result<Range, String> {
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range; write it as \"09:00-18:00\""))?;
    let start = parse_time(a.trim())?;
    let end = parse_time(b.trim())?;
    if start == end || (start == 0 && end == 0) {
        return Err(format!("{text:?} is empty: start and end are the same"));
    }
    if start == MINUTES_PER_DAY {
        return Err(format!("{text:?}: a range cannot start at 24:00; use 00:00"));
    }
    Ok(Range { start, end })
}

/// Parses `HH:MM` (00:00 to 24:00).
pub fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a time of day; write HH:MM, e.g. \"09:30\"");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(format!("{text:?} is not a time of day (00:00 to 24:00)"));
    }
    Ok(h * 60 + m)
}

/// A day name that is not one, and the name it was probably meant to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDay {
    pub message: String,
    pub meant: Option<&'static str>,
}

/// Parses days: `"mon-fri"`, `"sat,sun"`, `"mon,wed-fri"`, `"daily"`.
pub fn parse_days(text: &str) -> Result<[bool; 7], BadDay> {
    let mut days = [false; 7];
    let t = text.trim();
    if matches!(
        t.to_ascii_lowercase().as_str(),
        "daily" | "every day" | "all" | "*"
    ) {
        return Ok([true; 7]);
    }
    for part in t.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a = day_index(a.trim())?;
        let b = day_index(b.trim())?;
        let mut i = a;
        loop {
            days[i] = true;
            if i == b {
                break;
            }
            i = (i + 1) % 7;
        }
    }
    Ok(days)
}

/// `name` as written (quoted so in the message), matched in lower case.
fn day_index(name: &str) -> Result<usize, BadDay> {
    let lower = name.to_ascii_lowercase();
    let short: String = lower.chars().take(3).collect();
    DAY_NAMES
        .iter()
        .position(|d| *d == short && (lower.len() == 3 || full_day(d).starts_with(&lower)))
        .ok_or_else(|| BadDay {
            message: format!("{name:?} is not a day; use mon, tue, wed, thu, fri, sat, sun"),
            // Short and full names are both accepted: suggest the nearer.
            meant: closest(&lower, DAY_NAMES.iter().flat_map(|&d| [d, full_day(d)])),
        })
}

fn full_day(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

/// Minute of the week, for messages: `mon 09:00`.
pub struct WeekMinute(pub u32);

impl fmt::Display for WeekMinute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = DAY_NAMES[(self.0 / MINUTES_PER_DAY) as usize % 7];
        let m = self.0 % MINUTES_PER_DAY;
        write!(f, "{day} {:02}:{:02}", m / 60, m % 60)
    }
}

/// Spans of the week (start, end minute) where `pred` holds, merged.
pub fn week_spans(pred: impl Fn(u32) -> bool) -> Vec<(u32, u32)> {
    let mut spans = Vec::new();
    let mut open: Option<u32> = None;
    for m in 0..=7 * MINUTES_PER_DAY {
        let on = m < 7 * MINUTES_PER_DAY && pred(m);
        match (on, open) {
            (true, None) => open = Some(m),
            (false, Some(s)) => {
                spans.push((s, m));
                open = None;
            }
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_day(ranges: &[&str]) -> Window {
        Window {
            rules: vec![Rule {
                days: [true; 7],
                ranges: ranges.iter().map(|r| parse_range(r).unwrap()).collect(),
                dates: None,
                except: Vec::new(),
            }],
        }
    }

    #[test]
    fn ranges_and_midnight() {
        let evening = every_day(&["21:00-24:00"]);
        assert!(evening.contains(day(2026, 12, 7), 21 * 60));
        assert!(evening.contains(day(2026, 12, 7), 23 * 60 + 59));
        assert!(!evening.contains(day(2026, 12, 7), 20 * 60 + 59));
        let night = Window {
            rules: vec![Rule {
                days: parse_days("fri").unwrap(),
                ranges: vec![parse_range("22:00-02:00").unwrap()],
                dates: None,
                except: Vec::new(),
            }],
        };
        let (fri, sat) = (day(2026, 12, 4), day(2026, 12, 5));
        assert!(night.contains(fri, 23 * 60));
        assert!(night.contains(sat, 60)); // Saturday 01:00
        assert!(!night.contains(fri, 60)); // Friday 01:00 belongs to Thursday night
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A dated range that crosses midnight runs into the next day, and
    /// New Year's Eve's night runs into 1 January (the window belongs to
    /// the day it starts on).
    #[test]
    fn dates_and_midnight() {
        use crate::scenario::calendar::parse_date_spec;
        let nye = Window {
            rules: vec![Rule {
                days: [true; 7],
                ranges: vec![parse_range("20:00-03:00").unwrap()],
                dates: Some(vec![parse_date_spec("12-31").unwrap()]),
                except: Vec::new(),
            }],
        };
        assert!(!nye.contains(day(2026, 12, 31), 19 * 60 + 59));
        assert!(nye.contains(day(2026, 12, 31), 23 * 60 + 59));
        assert!(nye.contains(day(2027, 1, 1), 0));
        assert!(nye.contains(day(2027, 1, 1), 2 * 60 + 59));
        assert!(!nye.contains(day(2027, 1, 1), 3 * 60));
        assert!(!nye.contains(day(2026, 12, 31), 60));
        assert!(!nye.is_weekly());
        // Business hours except on holidays.
        let business = Window {
            rules: vec![Rule {
                days: parse_days("mon-fri").unwrap(),
                ranges: vec![parse_range("09:00-18:00").unwrap()],
                dates: None,
                except: vec![parse_date_spec("12-31..01-08").unwrap()],
            }],
        };
        assert!(business.contains(day(2026, 12, 30), 10 * 60));
        assert!(!business.contains(day(2026, 12, 31), 10 * 60));
        assert!(!business.contains(day(2027, 1, 8), 10 * 60));
        assert!(business.contains(day(2027, 1, 11), 10 * 60));
    }

    #[test]
    fn days_and_times_parse() {
        assert_eq!(
            parse_days("mon-fri").unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            parse_days("sat,sun").unwrap(),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            parse_days("fri-mon").unwrap(),
            [true, false, false, false, true, true, true]
        );
        assert!(parse_days("mon-frx").is_err());
        assert_eq!(parse_days("Mon-FRI").unwrap(), parse_days("mon-fri").unwrap());
        assert_eq!(parse_time("24:00"), Ok(1440));
        assert!(parse_time("24:01").is_err());
        assert!(parse_time("9:60").is_err());
        assert!(parse_range("10:00-10:00").is_err());
    }

    /// A misspelt day is quoted as written, with the name it was probably
    /// meant to be; a word far from every day gets no guess.
    #[test]
    fn a_misspelt_day_is_named_with_a_suggestion() {
        let e = parse_days("Mnday").unwrap_err();
        assert_eq!(
            e.message,
            "\"Mnday\" is not a day; use mon, tue, wed, thu, fri, sat, sun"
        );
        assert_eq!(e.meant, Some("monday"));
        assert_eq!(parse_days("mon,satrday").unwrap_err().meant, Some("saturday"));
        assert_eq!(parse_days("mon-thr").unwrap_err().meant, Some("thu"));
        assert_eq!(parse_days("weekend").unwrap_err().meant, None);
    }

    #[test]
    fn spans_merge() {
        let w = every_day(&["00:00-10:00"]);
        let spans = week_spans(|m| w.contains_week_minute(m));
        assert_eq!(spans.len(), 7);
        assert_eq!(WeekMinute(spans[1].0).to_string(), "tue 00:00");
    }
}
