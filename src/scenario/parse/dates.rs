//! Windows (`when = ...`) as every section writes them, and the holiday
//! calendars they name: `calendar = "../calendars/ru.toml"` (files shared
//! by playlists) and `[holidays]` in the playlist itself. A calendar file's
//! problems are reported at its own file:line:column.

use super::Parser;
use crate::scenario::calendar::{self, Calendar, DateSpec};
use crate::scenario::diag::{Diags, closest};
use crate::scenario::doc::{self, Table};
use crate::scenario::window::{self, Rule, Window};
use crate::util::files::{self, FileError, Kind, Problem};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

const WINDOW_KEYS: &[&str] = &["days", "time", "dates", "on", "holiday"];

impl Parser<'_> {
    /// Reads `calendar` (a file or a list of files) and `[holidays]`.
    pub(super) fn calendars(&mut self, root: &Table) -> Calendar {
        let mut cal = Calendar::default();
        if let Some(items) = root.strings(&mut self.d, "calendar") {
            for (name, span) in items {
                let path = self.base.join(name);
                match files::read_string(&path, Kind::Playlist) {
                    Ok(text) => {
                        let mut d = Diags::new(&path, &text);
                        let (doc, errors) = DeTable::parse_recoverable(&text);
                        for e in errors {
                            d.error(e.span().unwrap_or(0..0), "", e.message().trim_end().to_string())
                                .hint("see docs/dates.md for the calendar format");
                        }
                        let file_root = Table::root(&doc);
                        file_root.deny_unknown(&mut d, &["holidays"]);
                        if let Some(t) = file_root.table(&mut d, "holidays") {
                            holidays(&mut d, &t, &mut cal);
                        }
                        self.d.list.append(&mut d.list);
                    }
                    Err(e) => {
                        self.d
                            .error(span, "calendar", unreadable_calendar(&e))
                            .hint("a path to a calendar file, relative to the playlist");
                    }
                }
            }
        }
        if let Some(t) = root.table(&mut self.d, "holidays") {
            holidays(&mut self.d, &t, &mut cal);
        }
        cal
    }

    /// `t.when`, read against the playlist's holidays.
    pub(super) fn when(&mut self, t: &Table) -> Option<Window> {
        let v = t.get("when")?;
        let cal = std::mem::take(&mut self.calendar);
        let w = self.window(v, &t.key_path("when"), &cal);
        self.calendar = cal;
        w
    }

    /// `t.when`, and whether it read without an error. A window with a
    /// part dropped is not the one written: checks across windows
    /// (coverage, overlaps) must not judge it.
    pub(super) fn when_read(&mut self, t: &Table) -> (Option<Window>, bool) {
        let mark = self.d.list.len();
        let w = self.when(t);
        (w, !self.d.any_error_since(mark))
    }

    /// A `when` value: a time range (every day), a table, or a list of tables.
    pub(super) fn window(&mut self, v: &Spanned<DeValue<'_>>, path: &str, cal: &Calendar) -> Option<Window> {
        let mut rules = Vec::new();
        match v.get_ref() {
            DeValue::String(_) => {
                let ranges = self.ranges(v, path)?;
                rules.push(Rule {
                    days: [true; 7],
                    ranges,
                    dates: None,
                    except: Vec::new(),
                });
            }
            DeValue::Table(_) => rules.push(self.rule(v, path, cal)?),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.rule(item, &format!("{path}[{i}]"), cal) {
                        rules.push(r);
                    }
                }
            }
            other => {
                doc::type_error(
                    &mut self.d,
                    v.span(),
                    path,
                    "a window such as \"09:00-18:00\" or { on = [\"new_year\"] }",
                    other,
                );
                return None;
            }
        }
        (!rules.is_empty()).then_some(Window { rules })
    }

    fn rule(&mut self, v: &Spanned<DeValue<'_>>, path: &str, cal: &Calendar) -> Option<Rule> {
        let t = doc::as_table(&mut self.d, v, path)?;
        t.deny_unknown(&mut self.d, WINDOW_KEYS);
        let days = match t.str(&mut self.d, "days") {
            Some((text, span)) => match window::parse_days(text) {
                Ok(days) => days,
                Err(e) => {
                    let d = self.d.error(span, &t.key_path("days"), e.message);
                    if let Some(meant) = e.meant {
                        d.hint(format!("did you mean \"{meant}\"?"));
                    }
                    return None;
                }
            },
            None => [true; 7],
        };
        let ranges = match t.get("time") {
            Some(tv) => self.ranges(tv, &t.key_path("time"))?,
            None => vec![window::Range {
                start: 0,
                end: window::MINUTES_PER_DAY,
            }],
        };
        let mut dates: Option<Vec<DateSpec>> = None;
        let mut except = Vec::new();
        if let Some(v) = t.get("dates") {
            let specs = date_specs(&mut self.d, v, &t.key_path("dates"));
            // A window whose every date was wrong is closed, never open every day.
            dates.get_or_insert_with(Vec::new).extend(specs);
        }
        if let Some(items) = t.strings(&mut self.d, "on") {
            let all = dates.get_or_insert_with(Vec::new);
            for (name, span) in items {
                match cal.holidays.get(name) {
                    Some(specs) => all.extend(specs.iter().copied()),
                    None => {
                        let e = self
                            .d
                            .error(span, &t.key_path("on"), format!("unknown holiday {name:?}"));
                        match closest(name, cal.holidays.keys().map(String::as_str)) {
                            Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                            None if cal.holidays.is_empty() => {
                                e.hint("name a calendar file (calendar = \"...\") or add [holidays]")
                            }
                            None => e.hint(format!(
                                "the calendar has: {}",
                                cal.holidays.keys().cloned().collect::<Vec<_>>().join(", ")
                            )),
                        };
                    }
                }
            }
        }
        if let Some(holiday) = t.bool(&mut self.d, "holiday") {
            if cal.holidays.is_empty() {
                self.d
                    .warning(
                        t.get("holiday").map_or(t.span.clone(), |v| v.span()),
                        &t.key_path("holiday"),
                        "there are no holidays: no calendar and no [holidays]",
                    )
                    .hint("name a calendar file, e.g. calendar = \"../calendars/ru.toml\"");
            }
            if holiday {
                dates.get_or_insert_with(Vec::new).extend(cal.all());
            } else {
                except = cal.all();
            }
        }
        Some(Rule {
            days,
            ranges,
            dates,
            except,
        })
    }

    fn ranges(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Vec<window::Range>> {
        let items = doc::strings(&mut self.d, v, path)?;
        let mut out = Vec::new();
        for (text, span) in items {
            match window::parse_range(text) {
                Ok(r) => out.push(r),
                // Each of `parse_range`'s errors says how to write it.
                Err(e) => {
                    self.d.error(span, path, e);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// `[holidays]`: `name = "12-31"` or a list of dates and ranges.
fn holidays(d: &mut Diags, t: &Table, cal: &mut Calendar) {
    for (name, key_span, v) in t.entries() {
        let path = t.key_path(name);
        if !calendar::valid_name(name) {
            d.error(key_span, &path, format!("{name:?} is not a holiday name"))
                .hint("lower-case letters, digits, '_' and '-', e.g. new_year");
            continue;
        }
        if cal.holidays.contains_key(name) {
            d.error(key_span, &path, format!("holiday {name:?} is defined twice"))
                .hint("each name once across the calendars a playlist names");
            continue;
        }
        let specs = date_specs(d, v, &path);
        if !specs.is_empty() {
            cal.holidays.insert(name.to_string(), specs);
        }
    }
}

/// Dates and ranges (strings, or TOML dates written unquoted).
fn date_specs(d: &mut Diags, v: &Spanned<DeValue<'_>>, path: &str) -> Vec<DateSpec> {
    let items: Vec<&Spanned<DeValue<'_>>> = match v.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for item in items {
        let text = match item.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(dt) => dt.to_string(),
            other => {
                doc::type_error(
                    d,
                    item.span(),
                    path,
                    "a date such as \"12-31\" or \"2026-12-31\"",
                    other,
                );
                continue;
            }
        };
        match calendar::parse_date_spec(&text) {
            Ok(spec) => {
                if spec.is_leap_day_only() {
                    leap_day_warning(d, item.span(), path);
                }
                out.push(spec);
            }
            Err(e) => {
                d.error(item.span(), path, e).hint(
                    "\"12-31\" every year, \"2026-12-31\" once, \"12-31..01-08\" or \"2026-12-24..2027-01-10\"",
                );
            }
        }
    }
    out
}

fn leap_day_warning(d: &mut Diags, span: Range<usize>, path: &str) {
    d.warning(span, path, "\"02-29\" falls only in leap years")
        .hint("in other years the day is not observed; write \"02-28\" as well if it should be");
}

/// Why a calendar file could not be read, naming it as a calendar: it is
/// read with a playlist's limits, but calling it "the playlist" sends the
/// reader to the wrong file.
fn unreadable_calendar(e: &FileError) -> String {
    let path = e.path.display();
    match &e.problem {
        Problem::Open(io) => format!("{path}: cannot open the calendar file: {io}"),
        Problem::NotRegular(what) => {
            format!("{path}: is {what}, not a regular file (a calendar file must be one)")
        }
        Problem::TooLarge(_) => format!(
            "{path}: the calendar file is over its limit of {} MiB",
            Kind::Playlist.limit() / (1024 * 1024)
        ),
        Problem::Read(io) => format!("{path}: cannot read the calendar file: {io}"),
        Problem::NotUtf8 => format!("{path}: the calendar file is not UTF-8 text"),
    }
}
