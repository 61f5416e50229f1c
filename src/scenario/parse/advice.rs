//! `[advice]`: the groups of advices and the weekly windows they play in,
//! with a warning where a time-of-day set overlaps or leaves a gap.

use super::Parser;
use crate::scenario::doc::Table;
use crate::scenario::window::{self, WeekMinute, Window};
use crate::scenario::*;
use std::ops::Range;

/// What the time-of-day checks know of a group besides its window.
struct Member {
    span: Range<usize>,
    /// Its `when` (if any) read without an error.
    whole: bool,
    /// Where its `name` is written, if it is.
    name_at: Option<Range<usize>>,
    /// `advice.group[N]`, N as in the file.
    path: String,
}

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
            let read = self.array_of_tables(v, "advice.group", |p, g| p.advice_group(g));
            let (groups, members): (Vec<_>, Vec<_>) = read.into_iter().unzip();
            a.groups = groups;
            self.check_names(&a.groups, &members);
            self.check_day_sets(&a.groups, &members);
        }
        a
    }

    fn advice_group(&mut self, t: &Table) -> Option<(AdviceGroup, Member)> {
        t.deny_unknown(&mut self.d, &["name", "files", "order", "once", "when"]);
        let named = t.str(&mut self.d, "name");
        let name_at = named.as_ref().map(|(_, span)| span.clone());
        let name = named.map_or_else(|| t.path.clone(), |(n, _)| n.to_string());
        if t.get("files").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "an advice group needs `files`")
                .hint("a directory, a list of files or a pattern such as \"advice/*.wav\"");
        }
        let files = self.files(t, "files");
        // `files = []` names no file at all: the group never plays. A
        // warning, as for a directory or pattern with no audio file.
        if let Some(v) = t.get("files")
            && matches!(v.get_ref(), toml::de::DeValue::Array(items) if items.is_empty())
        {
            self.d
                .warning(
                    v.span(),
                    &t.key_path("files"),
                    "an empty list: the group never plays",
                )
                .hint("name a directory, files or a pattern such as \"advice/*.wav\", or remove the group");
        }
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
        let (when, whole) = self.when_read(t);
        let group = AdviceGroup {
            name,
            files,
            order,
            once,
            when,
        };
        let member = Member {
            span: t.span.clone(),
            whole,
            name_at,
            path: t.path.clone(),
        };
        Some((group, member))
    }

    /// Two groups with one name are an error: the timeline says
    /// `advice/NAME` and `[languages.X.advice]` gives a group its files by
    /// name, so neither could tell them apart.
    fn check_names(&mut self, groups: &[AdviceGroup], members: &[Member]) {
        // By name, the first group that has it (a map: a generated
        // playlist may hold many groups).
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, (g, m)) in groups.iter().zip(members).enumerate() {
            let first = *seen.entry(g.name.as_str()).or_insert(i);
            if first == i {
                continue;
            }
            let first_at = members[first]
                .name_at
                .clone()
                .unwrap_or(members[first].span.clone());
            let (line, _) = self.d.locate(first_at);
            let at = m.name_at.clone().unwrap_or(m.span.clone());
            let path = format!("{}.name", m.path);
            let message = format!(
                "{:?} is already the name of {} (line {line})",
                g.name, members[first].path
            );
            self.d
                .error(at, &path, message)
                .hint("the timeline and [languages.*.advice] tell groups by name: give each its own");
        }
    }

    /// Consecutive groups with windows form a time-of-day set (morning, day,
    /// evening): warn where two are open at once, or none is.
    fn check_day_sets(&mut self, groups: &[AdviceGroup], members: &[Member]) {
        // Dated windows differ from week to week (`plan` shows their days);
        // a window with an error may have been meant either way.
        let in_set = |i: usize| !members[i].whole || groups[i].when.as_ref().is_some_and(Window::is_weekly);
        let mut i = 0;
        while i < groups.len() {
            let start = i;
            while i < groups.len() && in_set(i) {
                i += 1;
            }
            // A set with a window that did not read whole is not judged:
            // its gaps and overlaps would be those of the part read, not
            // of what was written (the error says what to fix).
            let whole = members[start..i].iter().all(|m| m.whole);
            if i - start >= 2 && whole {
                self.check_day_set(&groups[start..i], &members[start..i]);
            }
            i += 1;
        }
    }

    fn check_day_set(&mut self, set: &[AdviceGroup], members: &[Member]) {
        let windows: Vec<&Window> = set.iter().filter_map(|g| g.when.as_ref()).collect();
        let span = members.first().map_or(0..0, |m| m.span.clone());
        let names: Vec<&str> = set.iter().map(|g| g.name.as_str()).collect();
        let key = format!("advice.group ({})", names.join(", "));
        for (a, b) in (0..windows.len()).flat_map(|a| (a + 1..windows.len()).map(move |b| (a, b))) {
            let both = window::week_spans(|m| {
                windows[a].contains_week_minute(m) && windows[b].contains_week_minute(m)
            });
            if let Some(&(s, e)) = both.first() {
                let at = members.get(b).map_or(span.clone(), |m| m.span.clone());
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
                        match gaps.len() {
                            1 => String::new(),
                            2 => " (and 1 more gap)".to_string(),
                            n => format!(" (and {} more gaps)", n - 1),
                        }
                    ),
                )
                .hint("callers then hear none of these advices; cover 00:00-24:00");
        }
    }
}
