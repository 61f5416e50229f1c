//! The playlist file, read key by key into a [`Scenario`]. Every problem is
//! a diagnostic with its place; the valid parts are kept, so `run` plays
//! what it can of a broken file.
//!
//! Each section is read in a file of its own; this one holds the entry
//! point, the parser's state and the helpers every section uses.

mod advice;
mod announce;
mod dates;
mod keys;
mod languages;
mod music;
mod sounds;
mod templates;
mod variants;
mod walk;

use super::diag::{Diags, closest};
use super::doc::{self, Table};
use super::*;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

const ROOT_KEYS: &[&str] = &[
    "timezone",
    "speech",
    "prompts",
    "music",
    "levels",
    "welcome",
    "advice",
    "repeat",
    "announce",
    "keys",
    "billing",
    "calendar",
    "holidays",
    "languages",
    "plan",
];

pub fn parse(path: &Path, text: &str) -> Loaded {
    parse_within(path, text, walk::Budget::default())
}

/// [`parse`] with what its directories and globs may cost (tests give less).
fn parse_within(path: &Path, text: &str, walk: walk::Budget) -> Loaded {
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
        language_refs: Vec::new(),
        walk,
        calendar: super::calendar::Calendar::default(),
    };
    if let Some((tz, span)) = root.str(&mut p.d, "timezone") {
        match Zone::named(tz) {
            Ok(z) => scenario.timezone = Some(z),
            Err(e) => {
                p.d.error(span, "timezone", e).hint(super::zone::hint(tz));
            }
        }
    }
    p.calendar = p.calendars(&root);
    scenario.holidays = p.calendar.clone();
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
        t.deny_unknown(&mut p.d, &["say", "variant"]);
        scenario.welcome = p.template_at(&t, "say").unwrap_or_default();
        if let Some(v) = t.get("variant") {
            scenario.welcome_variants = p.array_of_tables(v, "welcome.variant", |p, t| p.welcome_variant(t));
        }
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
    if let Some(t) = root.table(&mut p.d, "plan") {
        scenario.plan = super::plan::parse(&mut p.d, &p.base, &t);
    }
    let languages = root.table(&mut p.d, "languages");
    p.languages(languages.as_ref(), &mut scenario);
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
    // The playlist's own first, then each calendar's, each in file order.
    diagnostics.sort_by_key(|x| (x.file != path, x.file.clone(), x.line, x.column));
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
    /// Language codes `language` keys name, with where: checked against
    /// `[languages]` once it is read.
    language_refs: Vec<(String, Range<usize>, String)>,
    /// What the playlist's directories and globs may still cost.
    walk: walk::Budget,
    /// The holidays windows may name (`on`, `holiday`).
    calendar: super::calendar::Calendar,
}

impl Parser<'_> {
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
}
