//! The playlist file, read key by key into a [`Scenario`]. Every problem is
//! a diagnostic with its place; the valid parts are kept, so `run` plays
//! what it can of a broken file.

use super::diag::{Diags, closest};
use super::doc::{self, Table};
use super::window::{self, Rule, WeekMinute, Window};
use super::*;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

const ROOT_KEYS: &[&str] = &[
    "timezone", "speech", "prompts", "music", "levels", "welcome", "advice", "repeat", "announce", "keys",
    "billing",
];

pub fn parse(path: &Path, text: &str) -> Loaded {
    let mut d = Diags::new(path, text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        d.error(span, "", e.message().trim_end().to_string())
            .hint("see playlists/README.md for the file format");
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut scenario = Scenario::empty();
    scenario.source = Some(path.to_path_buf());
    let root = Table::root(&doc);
    root.deny_unknown(&mut d, ROOT_KEYS);
    let mut p = Parser {
        d,
        base,
        used_prompts: Vec::new(),
        refs: Vec::new(),
    };
    if let Some((tz, span)) = root.str(&mut p.d, "timezone") {
        match Zone::named(tz) {
            Ok(z) => scenario.timezone = Some(z),
            Err(e) => {
                let names = Zone::known_names();
                let hint = closest(tz, names.iter().map(String::as_str)).map_or_else(
                    || {
                        "use an IANA zone name such as \"Europe/Moscow\" (see /usr/share/zoneinfo)"
                            .to_string()
                    },
                    |c| format!("did you mean \"{c}\"?"),
                );
                p.d.error(span, "timezone", e).hint(hint);
            }
        }
    }
    if let Some(t) = root.table(&mut p.d, "speech") {
        scenario.speech = p.speech(&t);
    }
    if let Some(t) = root.table(&mut p.d, "prompts") {
        scenario.prompts = p.prompts(&t);
    }
    if let Some(t) = root.table(&mut p.d, "music") {
        scenario.music = p.music(&t);
    }
    if let Some(t) = root.table(&mut p.d, "levels") {
        scenario.levels = p.levels(&t);
    }
    if let Some(t) = root.table(&mut p.d, "welcome") {
        t.deny_unknown(&mut p.d, &["say"]);
        scenario.welcome = p.template_at(&t, "say").unwrap_or_default();
    }
    if let Some(t) = root.table(&mut p.d, "advice") {
        scenario.advice = p.advice(&t);
    }
    if let Some(v) = root.get("repeat") {
        scenario.repeats = p.array_of_tables(v, "repeat", |p, t| p.repeat(t));
    }
    if let Some(t) = root.table(&mut p.d, "announce") {
        scenario.announce = p.announce(&t);
    }
    if let Some(t) = root.table(&mut p.d, "keys") {
        scenario.keys = p.keys(&t);
    }
    let mut accounts_at = None;
    if let Some(t) = root.table(&mut p.d, "billing") {
        scenario.billing = super::billing::parse(&mut p.d, &p.base, &t, &mut accounts_at);
    }
    p.check_prompt_names(&root, &mut scenario);
    let file_refs = std::mem::take(&mut p.refs)
        .into_iter()
        .map(|(path, span, key)| {
            let (line, column) = p.d.locate(span);
            FileRef {
                path,
                line,
                column,
                key,
            }
        })
        .collect();
    let accounts_file = match (&scenario.billing, accounts_at) {
        (Some(b), Some(span)) => match &b.source {
            crate::billing::Source::File(path) => {
                let (line, column) = p.d.locate(span);
                Some(FileRef {
                    path: path.clone(),
                    line,
                    column,
                    key: "billing.accounts_file".to_string(),
                })
            }
            crate::billing::Source::Http(_) => None,
        },
        _ => None,
    };
    let mut diagnostics = p.d.list;
    diagnostics.sort_by_key(|x| (x.line, x.column));
    Loaded {
        scenario,
        diagnostics,
        file_refs,
        accounts_file,
    }
}

struct Parser<'t> {
    d: Diags<'t>,
    base: PathBuf,
    /// Prompt names used by templates, with where: checked once all are known.
    used_prompts: Vec<(String, Range<usize>, String)>,
    /// Every audio file named, with where.
    refs: Vec<(PathBuf, Range<usize>, String)>,
}

impl Parser<'_> {
    fn prompts(&mut self, t: &Table) -> BTreeMap<String, PathBuf> {
        let mut prompts = BTreeMap::new();
        for (name, _, v) in t.entries() {
            let path = t.key_path(name);
            if name == "from" {
                // Every audio file in these directories, named by its stem.
                let Some(dirs) = doc::strings(&mut self.d, v, &path) else {
                    continue;
                };
                for (dir, span) in dirs {
                    let p = self.base.join(dir);
                    let files = audio_files_in(&p);
                    if files.is_empty() {
                        self.d
                            .error(span.clone(), &path, format!("{} has no audio files", p.display()));
                    }
                    for f in files {
                        self.refs.push((f.clone(), span.clone(), path.clone()));
                        if let Some(stem) = f.file_stem().and_then(|s| s.to_str()) {
                            prompts.entry(stem.to_string()).or_insert(f);
                        }
                    }
                }
                continue;
            }
            let DeValue::String(file) = v.get_ref() else {
                doc::type_error(&mut self.d, v.span(), &path, "a sound file name", v.get_ref());
                continue;
            };
            let p = self.base.join(file.as_ref());
            self.check_audio_file(&p, v.span(), &path);
            self.refs.push((p.clone(), v.span(), path.clone()));
            prompts.insert(name.to_string(), p);
        }
        prompts
    }

    fn speech(&mut self, t: &Table) -> Option<crate::speech::map::SoundMap> {
        t.deny_unknown(&mut self.d, &["map"]);
        let Some((file, span)) = t.str(&mut self.d, "map") else {
            self.d
                .error(t.span.clone(), &t.path, "`map` is missing")
                .hint("the sound map of the recordings, e.g. map = \"../sample-audio/words/en/map.toml\"");
            return None;
        };
        let path = self.base.join(file);
        match crate::speech::map::SoundMap::load(&path) {
            Ok(m) => {
                if !m.missing.is_empty() {
                    let n = m.missing.len();
                    let some: Vec<&str> = m.missing.iter().take(8).map(String::as_str).collect();
                    self.d
                        .warning(
                            span.clone(),
                            &t.key_path("map"),
                            format!("{n} speech token(s) have no recording: {}{}", some.join(", "), if n > 8 { ", …" } else { "" }),
                        )
                        .hint("other forms stand in where they can; a value needing a token with none is left out");
                }
                for f in m.files() {
                    self.refs.push((f.clone(), span.clone(), t.key_path("map")));
                }
                Some(m)
            }
            Err(e) => {
                self.d.error(span, &t.key_path("map"), format!("{e:#}"));
                None
            }
        }
    }

    fn check_audio_file(&mut self, p: &Path, span: Range<usize>, key: &str) {
        if !p.is_file() {
            let e = self.d.error(span, key, format!("{} does not exist", p.display()));
            if let Some(hint) = sibling_hint(p) {
                e.hint(hint);
            }
        } else if !is_audio(p) {
            self.d
                .warning(span, key, format!("{} does not look like audio", p.display()))
                .hint(format!("holdmix plays {}", AUDIO_EXTENSIONS.join(", ")));
        }
    }

    /// Files, directories (their audio files, sorted) and globs.
    fn files(&mut self, t: &Table, key: &str) -> Vec<PathBuf> {
        let path = t.key_path(key);
        let Some(items) = t.strings(&mut self.d, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (item, span) in items {
            let p = self.base.join(item);
            if item.contains(['*', '?', '[']) {
                let pattern = p.to_string_lossy().to_string();
                match glob::glob(&pattern) {
                    Ok(paths) => {
                        let mut found: Vec<PathBuf> = paths
                            .filter_map(|r| r.ok())
                            .filter(|f| f.is_file() && is_audio(f))
                            .collect();
                        found.sort();
                        if found.is_empty() {
                            self.d
                                .warning(span.clone(), &path, format!("{item:?} matches no audio file"));
                        }
                        self.refs
                            .extend(found.iter().map(|f| (f.clone(), span.clone(), path.clone())));
                        out.extend(found);
                    }
                    Err(e) => {
                        self.d.error(span, &path, format!("bad pattern {item:?}: {e}"));
                    }
                }
            } else if p.is_dir() {
                let found = audio_files_in(&p);
                if found.is_empty() {
                    self.d.warning(
                        span.clone(),
                        &path,
                        format!("directory {} has no audio files", p.display()),
                    );
                }
                self.refs
                    .extend(found.iter().map(|f| (f.clone(), span.clone(), path.clone())));
                out.extend(found);
            } else {
                self.check_audio_file(&p, span.clone(), &path);
                self.refs.push((p.clone(), span, path.clone()));
                out.push(p);
            }
        }
        out
    }

    fn music(&mut self, t: &Table) -> Music {
        t.deny_unknown(&mut self.d, &["tracks", "order", "start", "crossfade"]);
        let mut m = Scenario::empty().music;
        m.tracks = self.files(t, "tracks");
        if let Some(order) = self.choice(
            t,
            "order",
            &[
                ("sequential", MusicOrder::Sequential),
                ("random", MusicOrder::Random),
                ("random-start", MusicOrder::RandomStart),
            ],
        ) {
            m.order = order;
        }
        if let Some(start) = self.choice(
            t,
            "start",
            &[
                ("first", MusicStart::First),
                ("random", MusicStart::Random),
                ("remembered", MusicStart::Remembered),
            ],
        ) {
            m.start = start;
        }
        if let Some(c) = t.duration(&mut self.d, "crossfade") {
            m.crossfade = c;
        }
        m
    }

    fn choice<T: Copy>(&mut self, t: &Table, key: &str, options: &[(&str, T)]) -> Option<T> {
        let (value, span) = t.str(&mut self.d, key)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let e = self
            .d
            .error(span, &t.key_path(key), format!("unknown value {value:?}"));
        match closest(value, names.iter().copied()) {
            Some(c) => e.hint(format!("did you mean \"{c}\"?")),
            None => e.hint(format!("one of: {}", names.join(", "))),
        };
        None
    }

    fn levels(&mut self, t: &Table) -> Levels {
        t.deny_unknown(&mut self.d, &["duck", "fade", "loudness"]);
        let mut l = Levels::default();
        if let Some(v) = t.get("duck") {
            let path = t.key_path("duck");
            // A gain (0.1) or a level in dB ("-20dB").
            let gain = match v.get_ref() {
                DeValue::String(s) => s
                    .trim()
                    .strip_suffix("dB")
                    .or_else(|| s.trim().strip_suffix("db"))
                    .and_then(|n| n.trim().parse::<f32>().ok())
                    .map(|db| 10f32.powf(db / 20.0)),
                other => doc::number(other).map(|n| n as f32),
            };
            match gain {
                Some(g) if (0.0..=1.0).contains(&g) => l.duck = g,
                _ => {
                    self.d
                        .error(
                            v.span(),
                            &path,
                            "the duck level must be a gain from 0 to 1, or a level in dB",
                        )
                        .hint("e.g. duck = 0.1 or duck = \"-20dB\"");
                }
            }
        }
        if let Some(f) = t.duration(&mut self.d, "fade") {
            l.fade = f;
        }
        if let Some((n, span)) = t.number(&mut self.d, "loudness") {
            if (-70.0..=0.0).contains(&n) {
                l.loudness = n;
            } else {
                self.d
                    .error(
                        span,
                        &t.key_path("loudness"),
                        format!("{n} LUFS is outside -70..0"),
                    )
                    .hint("-20 suits telephone audio");
            }
        }
        l
    }

    fn advice(&mut self, t: &Table) -> Advice {
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

    fn repeat(&mut self, t: &Table) -> Option<Repeat> {
        t.deny_unknown(&mut self.d, &["first", "every", "say"]);
        let first = t
            .duration(&mut self.d, "first")
            .unwrap_or(Duration::from_secs(20));
        let every = t.duration(&mut self.d, "every").unwrap_or(Duration::ZERO);
        let say = self.template_at(t, "say")?;
        Some(Repeat { first, every, say })
    }

    fn announce(&mut self, t: &Table) -> Announce {
        t.deny_unknown(&mut self.d, &["position", "wait", "balance", "dissuade"]);
        let mut a = Announce::default();
        if let Some(p) = t.table(&mut self.d, "position") {
            p.deny_unknown(
                &mut self.d,
                &["say", "next", "on_change", "every", "cap", "improved_only"],
            );
            let say = self.required_template(&p, "say");
            let cap = p.number(&mut self.d, "cap").and_then(|(n, span)| {
                if n >= 1.0 && n.fract() == 0.0 && n <= 1e6 {
                    Some(n as u32)
                } else {
                    self.d
                        .error(span, &p.key_path("cap"), "cap must be a whole number from 1");
                    None
                }
            });
            a.position = Some(PositionAnnounce {
                say,
                next: self.template_at(&p, "next").unwrap_or_default(),
                on_change: p.bool(&mut self.d, "on_change").unwrap_or(true),
                every: p
                    .duration(&mut self.d, "every")
                    .unwrap_or(Duration::from_secs(120)),
                cap,
                improved_only: p.bool(&mut self.d, "improved_only").unwrap_or(false),
            });
        }
        if let Some(w) = t.table(&mut self.d, "wait") {
            w.deny_unknown(&mut self.d, &["say", "short", "first", "every"]);
            a.wait = Some(WaitAnnounce {
                say: self.required_template(&w, "say"),
                short: self.template_at(&w, "short").unwrap_or_default(),
                first: w.duration(&mut self.d, "first").unwrap_or(Duration::ZERO),
                every: w.duration(&mut self.d, "every").unwrap_or(Duration::ZERO),
            });
        }
        if let Some(b) = t.table(&mut self.d, "balance") {
            b.deny_unknown(
                &mut self.d,
                &["say", "several", "none", "failed", "wait", "locked"],
            );
            a.balance = Some(BalanceAnnounce {
                say: self.required_template(&b, "say"),
                several: self.template_at(&b, "several").unwrap_or_default(),
                none: self.template_at(&b, "none").unwrap_or_default(),
                failed: self.template_at(&b, "failed").unwrap_or_default(),
                wait: self.template_at(&b, "wait").unwrap_or_default(),
                locked: self.template_at(&b, "locked").unwrap_or_default(),
            });
        }
        if let Some(x) = t.table(&mut self.d, "dissuade") {
            x.deny_unknown(&mut self.d, &["say", "after", "position_above", "wait_above"]);
            let position_above = x
                .number(&mut self.d, "position_above")
                .map(|(n, _)| n.max(0.0) as u32);
            let dissuade = Dissuade {
                say: self.required_template(&x, "say"),
                after: x.duration(&mut self.d, "after"),
                position_above,
                wait_above: x.duration(&mut self.d, "wait_above"),
            };
            if dissuade.after.is_none() && dissuade.position_above.is_none() && dissuade.wait_above.is_none()
            {
                self.d
                    .error(x.span.clone(), &x.path, "a dissuading message needs a threshold")
                    .hint("set after = \"10m\", position_above = 15 or wait_above = \"20m\"");
            }
            a.dissuade = Some(dissuade);
        }
        a
    }

    fn keys(&mut self, t: &Table) -> BTreeMap<char, Key> {
        let mut keys = BTreeMap::new();
        for (digit, key_span, v) in t.entries() {
            let path = t.key_path(digit);
            let mut chars = digit.chars();
            let c = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => c,
                _ => {
                    self.d
                        .error(key_span, &path, format!("{digit:?} is not a DTMF digit"))
                        .hint("keys are 0-9, *, #, A-D, e.g. [keys] \"3\" = { action = \"next-music\" }");
                    continue;
                }
            };
            let Some(k) = doc::as_table(&mut self.d, v, &path) else {
                continue;
            };
            if let Some(key) = self.key(&k) {
                keys.insert(c, key);
            }
        }
        keys
    }

    fn key(&mut self, t: &Table) -> Option<Key> {
        t.deny_unknown(&mut self.d, &["action", "say", "debounce", "priority", "to"]);
        let Some((name, span)) = t.str(&mut self.d, "action") else {
            if t.get("action").is_none() {
                self.d
                    .error(t.span.clone(), &t.path, "a key needs an `action`")
                    .hint(format!("one of: {}", action_names().join(", ")));
            }
            return None;
        };
        let Some(action) = Action::from_name(name) else {
            let names = action_names();
            let e = self
                .d
                .error(span, &t.key_path("action"), format!("unknown action {name:?}"));
            match closest(name, names.iter().copied()) {
                Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                None => e.hint(format!("one of: {}", names.join(", "))),
            };
            return None;
        };
        let say = self.template_at(t, "say").unwrap_or_default();
        if action == Action::Say && say.is_empty() {
            self.d
                .error(t.span.clone(), &t.path, "action \"say\" needs prompts in `say`")
                .hint("e.g. say = [\"key-help\"]");
        }
        let redirect = match t.str(&mut self.d, "to") {
            Some((to, span)) => match parse_redirect(to) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.d
                        .error(span, &t.key_path("to"), e)
                        .hint("write \"context,extension,priority\", e.g. \"callback,s,1\"");
                    None
                }
            },
            None => None,
        };
        if action == Action::Redirect && redirect.is_none() && t.get("to").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "action \"redirect\" needs `to`")
                .hint("the dialplan place, e.g. to = \"callback,s,1\"");
        }
        if action != Action::Redirect
            && let Some(v) = t.get("to")
        {
            self.d.warning(
                v.span(),
                &t.key_path("to"),
                "`to` is only used by the \"redirect\" action",
            );
        }
        let priority = match t.number(&mut self.d, "priority") {
            Some((n, _)) if (0.0..=9.0).contains(&n) => n as u8,
            Some((_, span)) => {
                self.d
                    .error(span, &t.key_path("priority"), "priority must be 0 to 9");
                5
            }
            None => 5,
        };
        Some(Key {
            action,
            say,
            debounce: t.duration(&mut self.d, "debounce").unwrap_or(Duration::ZERO),
            priority,
            redirect,
        })
    }

    fn required_template(&mut self, t: &Table, key: &str) -> Template {
        if t.get(key).is_none() {
            self.d
                .error(t.span.clone(), &t.path, format!("`{key}` is missing"))
                .hint("what to say, e.g. say = [\"you-are\", { say = \"ordinal\", value = \"position\" }, \"in-queue\"]");
        }
        self.template_at(t, key).unwrap_or_default()
    }

    /// A template: a prompt name, or a list of prompt names and spoken
    /// values (`{ say = "ordinal", value = "position" }`).
    fn template_at(&mut self, t: &Table, key: &str) -> Option<Template> {
        let v = t.get(key)?;
        let path = t.key_path(key);
        let items: Vec<&Spanned<DeValue<'_>>> = match v.get_ref() {
            DeValue::String(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            other => {
                doc::type_error(&mut self.d, v.span(), &path, "a list of prompts", other);
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            match item.get_ref() {
                DeValue::String(name) => {
                    self.used_prompts.push((name.to_string(), item.span(), ipath));
                    out.push(Part::Prompt(name.to_string()));
                }
                DeValue::Table(_) => {
                    if let Some(p) = self.value_part(item, &ipath) {
                        out.push(p);
                    }
                }
                other => doc::type_error(
                    &mut self.d,
                    item.span(),
                    &ipath,
                    "a prompt name or { say, value }",
                    other,
                ),
            }
        }
        Some(out)
    }

    fn value_part(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Part> {
        let t = doc::as_table(&mut self.d, v, path)?;
        t.deny_unknown(&mut self.d, &["say", "value"]);
        let say = self.choice(
            &t,
            "say",
            &[
                ("number", SayKind::Number),
                ("ordinal", SayKind::Ordinal),
                ("digits", SayKind::Digits),
                ("money", SayKind::Money),
                ("duration", SayKind::Duration),
            ],
        );
        let value = self.choice(
            &t,
            "value",
            &[
                ("position", ValueName::Position),
                ("wait", ValueName::Wait),
                ("hold", ValueName::Hold),
                ("balance", ValueName::Balance),
                ("account", ValueName::Account),
            ],
        );
        if t.get("say").is_none() || t.get("value").is_none() {
            self.d
                .error(v.span(), path, "a spoken value needs `say` and `value`")
                .hint("e.g. { say = \"ordinal\", value = \"position\" }");
        }
        Some(Part::Value {
            say: say?,
            value: value?,
        })
    }

    fn array_of_tables<T>(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        path: &str,
        mut each: impl FnMut(&mut Self, &Table) -> Option<T>,
    ) -> Vec<T> {
        let DeValue::Array(items) = v.get_ref() else {
            doc::type_error(
                &mut self.d,
                v.span(),
                path,
                &format!("a list of tables ([[{path}]])"),
                v.get_ref(),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(t) = doc::as_table(&mut self.d, item, &format!("{path}[{i}]"))
                && let Some(x) = each(self, &t)
            {
                out.push(x);
            }
        }
        out
    }

    /// Every prompt a template names must exist; a prompt nobody uses is
    /// worth a warning. Unknown names are dropped from the scenario.
    fn check_prompt_names(&mut self, root: &Table, s: &mut Scenario) {
        let used = std::mem::take(&mut self.used_prompts);
        for (name, span, path) in &used {
            if !s.prompts.contains_key(name) {
                let e = self
                    .d
                    .error(span.clone(), path, format!("no prompt named {name:?}"));
                match closest(name, s.prompts.keys().map(String::as_str)) {
                    Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                    None => e.hint("add it to [prompts]: name = \"file.wav\""),
                };
            }
        }
        let prompts = &s.prompts;
        let keep = |t: &mut Template| t.retain(|p| !matches!(p, Part::Prompt(n) if !prompts.contains_key(n)));
        keep(&mut s.welcome);
        s.repeats.iter_mut().for_each(|r| keep(&mut r.say));
        s.keys.values_mut().for_each(|k| keep(&mut k.say));
        if let Some(p) = &mut s.announce.position {
            keep(&mut p.say);
            keep(&mut p.next);
        }
        if let Some(w) = &mut s.announce.wait {
            keep(&mut w.say);
            keep(&mut w.short);
        }
        if let Some(b) = &mut s.announce.balance {
            for t in [&mut b.say, &mut b.several, &mut b.none, &mut b.failed] {
                keep(t);
            }
        }
        if let Some(x) = &mut s.announce.dissuade {
            keep(&mut x.say);
        }
        // Explicitly listed prompts that nothing says.
        if let Some(t) = root.get("prompts")
            && let DeValue::Table(map) = t.get_ref()
        {
            for (k, _) in map.iter() {
                let name = k.get_ref().as_ref();
                if name != "from" && !used.iter().any(|(n, _, _)| n == name) {
                    self.d
                        .warning(k.span(), &format!("prompts.{name}"), "prompt is never used")
                        .hint("say it in a template, or remove it");
                }
            }
        }
    }
}

fn action_names() -> Vec<&'static str> {
    Action::ALL.iter().map(|a| a.name()).collect()
}

/// `context,exten,priority` (priority defaults to 1), as in Asterisk's `Goto`.
fn parse_redirect(to: &str) -> Result<Redirect, String> {
    let parts: Vec<&str> = to.split(',').map(str::trim).collect();
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_+*#.".contains(c))
    };
    match parts.as_slice() {
        [context, exten] | [context, exten, _] if ok_name(context) && ok_name(exten) => {
            let priority = match parts.get(2) {
                Some(p) => p.parse().map_err(|_| format!("{p:?} is not a priority number"))?,
                None => 1,
            };
            Ok(Redirect {
                context: context.to_string(),
                exten: exten.to_string(),
                priority,
            })
        }
        _ => Err(format!("{to:?} is not a dialplan place")),
    }
}

/// For a missing file: a file in the same directory with a close name.
fn sibling_hint(p: &Path) -> Option<String> {
    let dir = p.parent()?;
    let name = p.file_name()?.to_str()?;
    let entries: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    closest(name, entries.iter().map(String::as_str)).map(|c| format!("did you mean {c:?}?"))
}
