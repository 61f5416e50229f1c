//! `[advice]`: the groups of advices and the weekly windows they play in,
//! with a warning where a time-of-day set overlaps or leaves a gap.

use super::Parser;
use crate::scenario::doc::{self, Table};
use crate::scenario::window::{self, Rule, WeekMinute, Window};
use crate::scenario::*;
use std::ops::Range;
use toml::Spanned;
use toml::de::DeValue;

impl Parser<'_> {
    pub(super) fn advice(&mut self, t: &Table) -> Advice {
        t.deny_unknown(&mut self.d, &["start", "gap", "group"]);
        let mut a = Advice::default();
        if let Some(s) = t.duration(&mut self.d, "start") {
            a.start = s;
        }
        if let Some(g) = t.duration(&mut self.d, "gap") {
            a.gap = g;
        }
        if let Some(v) = t.get("group") {
            let mut spans = Vec::new();
            a.groups = self.array_of_tables(v, "advice.group", |p, g| {
                spans.push(g.span.clone());
                p.advice_group(g)
            });
            self.check_day_sets(&a.groups, &spans);
        }
        a
    }

    fn advice_group(&mut self, t: &Table) -> Option<AdviceGroup> {
        t.deny_unknown(&mut self.d, &["name", "files", "order", "once", "when"]);
        let name = t
            .str(&mut self.d, "name")
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| t.path.clone());
        if t.get("files").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "an advice group needs `files`")
                .hint("a directory, a list of files or a pattern such as \"advice/*.wav\"");
        }
        let files = self.files(t, "files");
        let order = self
            .choice(
                t,
                "order",
                &[
                    ("alphabetical", AdviceOrder::Alphabetical),
                    ("random", AdviceOrder::Random),
                ],
            )
            .unwrap_or(AdviceOrder::Alphabetical);
        let once = t.bool(&mut self.d, "once").unwrap_or(true);
        let when = t.get("when").and_then(|v| self.window(v, &t.key_path("when")));
        Some(AdviceGroup {
            name,
            files,
            order,
            once,
            when,
        })
    }

    fn window(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Window> {
        let mut rules = Vec::new();
        match v.get_ref() {
            DeValue::String(_) => {
                let ranges = self.ranges(v, path)?;
                rules.push(Rule {
                    days: [true; 7],
                    ranges,
                });
            }
            DeValue::Table(_) => rules.push(self.rule(v, path)?),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.rule(item, &format!("{path}[{i}]")) {
                        rules.push(r);
                    }
                }
            }
            other => {
                doc::type_error(
                    &mut self.d,
                    v.span(),
                    path,
                    "a time window such as \"09:00-18:00\"",
                    other,
                );
                return None;
            }
        }
        (!rules.is_empty()).then_some(Window { rules })
    }

    fn rule(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Rule> {
        let t = doc::as_table(&mut self.d, v, path)?;
        t.deny_unknown(&mut self.d, &["days", "time"]);
        let days = match t.str(&mut self.d, "days") {
            Some((text, span)) => match window::parse_days(text) {
                Ok(days) => days,
                Err(e) => {
                    self.d.error(span, &t.key_path("days"), e);
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
        Some(Rule { days, ranges })
    }

    fn ranges(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Vec<window::Range>> {
        let items = doc::strings(&mut self.d, v, path)?;
        let mut out = Vec::new();
        for (text, span) in items {
            match window::parse_range(text) {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.d
                        .error(span, path, e)
                        .hint("write \"HH:MM-HH:MM\", e.g. \"21:00-24:00\"");
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Consecutive groups with windows form a time-of-day set (morning, day,
    /// evening): warn where two are open at once, or none is.
    fn check_day_sets(&mut self, groups: &[AdviceGroup], spans: &[Range<usize>]) {
        let mut i = 0;
        while i < groups.len() {
            let start = i;
            while i < groups.len() && groups[i].when.is_some() {
                i += 1;
            }
            if i - start >= 2 {
                self.check_day_set(&groups[start..i], &spans[start..i.min(spans.len())]);
            }
            i += 1;
        }
    }

    fn check_day_set(&mut self, set: &[AdviceGroup], spans: &[Range<usize>]) {
        let windows: Vec<&Window> = set.iter().filter_map(|g| g.when.as_ref()).collect();
        let span = spans.first().cloned().unwrap_or(0..0);
        let names: Vec<&str> = set.iter().map(|g| g.name.as_str()).collect();
        let key = format!("advice.group ({})", names.join(", "));
        for (a, b) in (0..windows.len()).flat_map(|a| (a + 1..windows.len()).map(move |b| (a, b))) {
            let both = window::week_spans(|m| {
                windows[a].contains_week_minute(m) && windows[b].contains_week_minute(m)
            });
            if let Some(&(s, e)) = both.first() {
                let at = spans.get(b).cloned().unwrap_or(span.clone());
                self.d
                    .warning(
                        at,
                        &key,
                        format!(
                            "time windows of \"{}\" and \"{}\" overlap ({} to {})",
                            set[a].name,
                            set[b].name,
                            WeekMinute(s),
                            WeekMinute(e)
                        ),
                    )
                    .hint("both would play in that time; make the ranges meet end to start");
            }
        }
        let gaps = window::week_spans(|m| !windows.iter().any(|w| w.contains_week_minute(m)));
        if let Some(&(s, e)) = gaps.first() {
            self.d
                .warning(
                    span,
                    &key,
                    format!(
                        "no group of this time-of-day set is open from {} to {}{}",
                        WeekMinute(s),
                        WeekMinute(e),
                        if gaps.len() > 1 {
                            format!(" (and {} more gaps)", gaps.len() - 1)
                        } else {
                            String::new()
                        }
                    ),
                )
                .hint("callers then hear none of these advices; cover 00:00-24:00");
        }
    }
}
