//! Dates for windows: a single date (`2026-12-31`), a yearly date (`12-31`),
//! a range of either (`2026-12-24..2027-01-10`, `12-31..01-08`), and the
//! named holidays of a calendar file that playlists share.
//!
//! Yearly ranges may run over New Year (`12-31..01-08`); a range of full
//! dates may not end before it starts. A yearly `02-29` falls on 29
//! February of leap years only (never moved to the 28th: a holiday that
//! moves is a one-off date, written as one). Dates are the local dates of
//! the playlist's zone: the window code is given the date, not an instant.

use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSpec {
    /// Every year, from (month, day) to (month, day), both included;
    /// `to < from` runs over New Year.
    Yearly { from: (u32, u32), to: (u32, u32) },
    /// From one date to another, both included.
    Dates { from: NaiveDate, to: NaiveDate },
}

impl DateSpec {
    pub fn matches(&self, date: NaiveDate) -> bool {
        match *self {
            DateSpec::Yearly { from, to } => {
                let md = (date.month(), date.day());
                if from <= to {
                    from <= md && md <= to
                } else {
                    md >= from || md <= to
                }
            }
            DateSpec::Dates { from, to } => from <= date && date <= to,
        }
    }

    /// Does a yearly spec name 29 February alone (so it skips three years in four)?
    pub fn is_leap_day_only(&self) -> bool {
        matches!(
            self,
            DateSpec::Yearly {
                from: (2, 29),
                to: (2, 29)
            }
        )
    }
}

/// Parses `YYYY-MM-DD`, `MM-DD`, or a range `A..B` of two of the same kind.
pub fn parse_date_spec(text: &str) -> Result<DateSpec, String> {
    let t = text.trim();
    let (a, b) = match t.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (t, t),
    };
    match (parse_one(a)?, parse_one(b)?) {
        (One::Yearly(from), One::Yearly(to)) => Ok(DateSpec::Yearly { from, to }),
        (One::Date(from), One::Date(to)) if to < from => Err(format!(
            "{text:?}: the range ends ({to}) before it starts ({from})"
        )),
        (One::Date(from), One::Date(to)) => Ok(DateSpec::Dates { from, to }),
        _ => Err(format!(
            "{text:?} mixes a yearly date and a full date; write both as MM-DD or both as YYYY-MM-DD"
        )),
    }
}

enum One {
    Yearly((u32, u32)),
    Date(NaiveDate),
}

fn parse_one(text: &str) -> Result<One, String> {
    let bad = || format!("{text:?} is not a date; write YYYY-MM-DD, or MM-DD for every year");
    let parts: Vec<&str> = text.split('-').collect();
    let num = |s: &str, len: usize| -> Result<u32, String> {
        if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    match parts.as_slice() {
        [m, d] => {
            let (m, d) = (num(m, 2)?, num(d, 2)?);
            // 2024 is a leap year: every month-day that exists in some year.
            NaiveDate::from_ymd_opt(2024, m, d)
                .map(|_| One::Yearly((m, d)))
                .ok_or_else(|| format!("{text:?}: there is no such day in any year"))
        }
        [y, m, d] => {
            let (y, m, d) = (num(y, 4)?, num(m, 2)?, num(d, 2)?);
            NaiveDate::from_ymd_opt(y as i32, m, d)
                .map(One::Date)
                .ok_or_else(|| format!("{text:?}: there is no such day"))
        }
        _ => Err(bad()),
    }
}

/// Named holidays, each a list of dates; names are the calendar's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    pub holidays: BTreeMap<String, Vec<DateSpec>>,
}

impl Calendar {
    /// The holidays that fall on `date`, by name.
    pub fn on(&self, date: NaiveDate) -> Vec<&str> {
        self.holidays
            .iter()
            .filter(|(_, specs)| specs.iter().any(|s| s.matches(date)))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Every date of every holiday (for `holiday = true`).
    pub fn all(&self) -> Vec<DateSpec> {
        self.holidays.values().flatten().copied().collect()
    }
}

/// Holiday names: what a window's `on` may name and a file's key may be.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn yearly_dates_and_ranges_over_new_year() {
        let nye = parse_date_spec("12-31").unwrap();
        assert!(nye.matches(d(2026, 12, 31)) && nye.matches(d(2031, 12, 31)));
        assert!(!nye.matches(d(2027, 1, 1)));
        let holidays = parse_date_spec("12-31..01-08").unwrap();
        for day in [d(2026, 12, 31), d(2027, 1, 1), d(2027, 1, 8)] {
            assert!(holidays.matches(day), "{day}");
        }
        assert!(!holidays.matches(d(2027, 1, 9)) && !holidays.matches(d(2026, 12, 30)));
    }

    #[test]
    fn leap_day_falls_in_leap_years_only() {
        let leap = parse_date_spec("02-29").unwrap();
        assert!(leap.is_leap_day_only());
        assert!(leap.matches(d(2028, 2, 29)));
        for day in d(2027, 2, 1).iter_days().take(60) {
            assert!(!leap.matches(day), "{day}");
        }
    }

    #[test]
    fn bad_dates_are_refused_with_the_reason() {
        assert!(parse_date_spec("02-30").unwrap_err().contains("no such day"));
        assert!(parse_date_spec("2027-02-29").unwrap_err().contains("no such day"));
        assert!(parse_date_spec("2026-02-29").is_err());
        assert!(parse_date_spec("2028-02-29").is_ok());
        assert!(
            parse_date_spec("2027-01-10..2026-12-24")
                .unwrap_err()
                .contains("ends")
        );
        assert!(
            parse_date_spec("12-31..2027-01-01")
                .unwrap_err()
                .contains("mixes")
        );
        for bad in [
            "",
            "12/31",
            "2026-1-1",
            "1-01",
            "13-01",
            "tomorrow",
            "2026-12-31..",
            "..12-31",
        ] {
            assert!(parse_date_spec(bad).is_err(), "{bad:?}");
        }
        let range = parse_date_spec(" 2026-12-24 .. 2027-01-10 ").unwrap();
        assert!(range.matches(d(2027, 1, 1)) && !range.matches(d(2027, 12, 25)));
    }
}
