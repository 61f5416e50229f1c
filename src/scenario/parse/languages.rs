//! `[languages]`: the languages a playlist offers, each a `prompts` table
//! and a `speech` map laid over the shared `[prompts]` and `[speech]`, and
//! the `default`; and the codes `language` keys name.
//!
//! Gaps between languages: a prompt a template says that one language
//! records and another does not is a **warning** — that language's callers
//! hear the shared (or default) recording, a phrase whole in the wrong
//! language rather than one with a hole, and a half-translated playlist
//! still reloads (a reload refuses any error), so a language can be rolled
//! out a prompt at a time. A prompt the default language lacks stays an
//! **error** (the template names a prompt nobody can say by default). A
//! bad code, a key for a language not offered and a map that fails to load
//! are errors.

use super::Parser;
use crate::scenario::diag::closest;
use crate::scenario::doc::{self, Table};
use crate::scenario::language::{LanguageSet, Languages, valid_code};
use crate::scenario::*;
use std::collections::BTreeSet;
use std::ops::Range;

/// What one `[languages.CODE]` table gives of its own, and where.
struct Own {
    prompts: BTreeMap<String, PathBuf>,
    speech: Option<crate::speech::map::SoundMap>,
    /// Advice group name → this language's files for it.
    advice: BTreeMap<String, Vec<PathBuf>>,
    span: Range<usize>,
    path: String,
}

const CODE_HINT: &str =
    "a language code: 2 or 3 lower-case letters and one optional subtag, e.g. \"en\", \"ru\", \"pt-BR\"";

impl Parser<'_> {
    /// The code of a `language` key (`to = "en"`), checked for its shape;
    /// whether the playlist offers it is checked once `[languages]` is read.
    pub(super) fn language_key(&mut self, t: &Table) -> Option<String> {
        let Some((code, span)) = t.str(&mut self.d, "to") else {
            if t.get("to").is_none() {
                self.d
                    .error(t.span.clone(), &t.path, "action \"language\" needs `to`")
                    .hint("the language it chooses, e.g. to = \"en\"");
            }
            return None;
        };
        if !valid_code(code) {
            self.d
                .error(
                    span,
                    &t.key_path("to"),
                    format!("{code:?} is not a language code"),
                )
                .hint(CODE_HINT);
            return None;
        }
        self.language_refs
            .push((code.to_string(), span, t.key_path("to")));
        Some(code.to_string())
    }

    /// Reads `[languages]` (when `t` is given) against the shared prompts
    /// and map already in `s`; the default language's set becomes
    /// `s.prompts`/`s.speech`, so everything else reads one language as
    /// before.
    pub(super) fn languages(&mut self, t: Option<&Table>, s: &mut Scenario) {
        let refs = std::mem::take(&mut self.language_refs);
        let Some(t) = t else {
            for (code, span, path) in refs {
                self.d
                    .error(span, &path, format!("no [languages] section offers {code:?}"))
                    .hint("add [languages] with default = \"...\" and a [languages.CODE] table per language");
            }
            return;
        };
        let mut own: BTreeMap<String, Own> = BTreeMap::new();
        for (name, span, v) in t.entries() {
            if name == "default" {
                continue;
            }
            let path = t.key_path(name);
            if !valid_code(name) {
                self.d
                    .error(span, &path, format!("{name:?} is not a language code"))
                    .hint(CODE_HINT);
                continue;
            }
            let Some(lt) = doc::as_table(&mut self.d, v, &path) else {
                continue;
            };
            lt.deny_unknown(&mut self.d, &["prompts", "speech", "advice"]);
            let prompts = match lt.table(&mut self.d, "prompts") {
                Some(p) => self.prompts(&p),
                None => BTreeMap::new(),
            };
            let speech = lt.table(&mut self.d, "speech").and_then(|m| self.speech(&m));
            let advice = match lt.table(&mut self.d, "advice") {
                Some(a) => self.language_advice(&a, s),
                None => BTreeMap::new(),
            };
            own.insert(
                name.to_string(),
                Own {
                    prompts,
                    speech,
                    advice,
                    span,
                    path,
                },
            );
        }
        let (default, default_span) = match t.str(&mut self.d, "default") {
            Some((code, span)) if !valid_code(code) => {
                self.d
                    .error(
                        span,
                        &t.key_path("default"),
                        format!("{code:?} is not a language code"),
                    )
                    .hint(CODE_HINT);
                return;
            }
            Some((code, span)) => (code.to_string(), span),
            None => {
                if t.get("default").is_none() {
                    self.d
                        .error(t.span.clone(), &t.path, "`default` is missing")
                        .hint("the language a caller hears when nobody chose one, e.g. default = \"en\"");
                }
                return;
            }
        };
        // The default is its own table over the shared sections, or the
        // shared sections alone: an existing playlist gains a language by
        // adding `default` and one table.
        let mut default_set = LanguageSet {
            prompts: s.prompts.clone(),
            speech: s.speech.clone(),
            advice: None,
        };
        if let Some(o) = own.get(&default) {
            default_set.prompts.extend(o.prompts.clone());
            if o.speech.is_some() {
                default_set.speech = o.speech.clone();
            }
            // The default's own advices are the playlist's.
            overlay_advice(&mut s.advice.groups, &o.advice);
        }
        self.language_gaps(&default, default_span, &own, s);
        let mut sets = BTreeMap::new();
        for (code, o) in &own {
            if *code == default {
                continue;
            }
            let mut set = default_set.clone();
            set.prompts.extend(o.prompts.clone());
            if o.speech.is_some() {
                set.speech = o.speech.clone();
            }
            if !o.advice.is_empty() {
                let mut groups = s.advice.groups.clone();
                overlay_advice(&mut groups, &o.advice);
                set.advice = Some(groups);
            }
            sets.insert(code.clone(), set);
        }
        s.prompts = default_set.prompts.clone();
        s.speech = default_set.speech.clone();
        sets.insert(default.clone(), default_set);
        let languages = Languages { default, sets };
        for (code, span, path) in refs {
            if languages.pick(&code).is_none() {
                let e = self
                    .d
                    .error(span, &path, format!("language {code:?} is not offered here"));
                match closest(&code, languages.sets.keys().map(String::as_str)) {
                    Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                    None => e.hint(format!("offered: {}", languages.names())),
                };
            }
        }
        s.languages = Some(languages);
    }

    /// `[languages.CODE.advice]`: a group of `[advice]` by name, and this
    /// language's files for it (as a group's `files`).
    fn language_advice(&mut self, t: &Table, s: &Scenario) -> BTreeMap<String, Vec<PathBuf>> {
        let mut out = BTreeMap::new();
        for (name, span, _) in t.entries() {
            if !s.advice.groups.iter().any(|g| g.name == name) {
                let e = self
                    .d
                    .error(span, &t.key_path(name), format!("no advice group named {name:?}"));
                match closest(name, s.advice.groups.iter().map(|g| g.name.as_str())) {
                    Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                    None => e.hint("name a [[advice.group]] of this playlist"),
                };
                continue;
            }
            out.insert(name.to_string(), self.files(t, name));
        }
        out
    }

    /// Warns, per language, of each prompt the templates say that another
    /// language records and this one does not, and of a language with no
    /// sound map of its own when another has one.
    fn language_gaps(
        &mut self,
        default: &str,
        default_span: Range<usize>,
        own: &BTreeMap<String, Own>,
        s: &Scenario,
    ) {
        let used: BTreeSet<&str> = self.used_prompts.iter().map(|(n, _, _)| n.as_str()).collect();
        // Without a table of its own, the default's recordings are the shared ones.
        let recorded = |code: &str| -> BTreeSet<&str> {
            match own.get(code) {
                Some(o) => o.prompts.keys().map(String::as_str).collect(),
                None if code == default => s.prompts.keys().map(String::as_str).collect(),
                None => BTreeSet::new(),
            }
        };
        let has_map = |code: &str| match own.get(code) {
            Some(o) => o.speech.is_some(),
            None => code == default && s.speech.is_some(),
        };
        let mut codes: Vec<&str> = own.keys().map(String::as_str).collect();
        if !own.contains_key(default) {
            codes.push(default);
        }
        let mut warnings = Vec::new();
        for &code in &codes {
            let mine = recorded(code);
            let mut told = BTreeSet::new();
            for &other in codes.iter().filter(|&&o| o != code) {
                for name in recorded(other).intersection(&used) {
                    if !mine.contains(name) && told.insert(*name) {
                        warnings.push((
                            code,
                            format!("no prompt {name:?} of its own (\"{other}\" has one)"),
                            format!(
                                "its callers hear the {} recording; add {name} to [languages.{code}.prompts]",
                                if s.prompts.contains_key(*name) {
                                    "shared [prompts]"
                                } else {
                                    "default language's"
                                }
                            ),
                        ));
                    }
                }
            }
            if !has_map(code) && codes.iter().any(|&o| o != code && has_map(o)) {
                warnings.push((code, "no sound map of its own".to_string(),
                    "its numbers are said through another language's map; add [languages.CODE.speech] map = \"...\"".replace("CODE", code)));
            }
        }
        for (code, message, hint) in warnings {
            let (span, path) = match own.get(code) {
                Some(o) => (o.span.clone(), o.path.clone()),
                None => (default_span.clone(), "languages.default".to_string()),
            };
            self.d
                .warning(span, &path, format!("language \"{code}\": {message}"))
                .hint(hint);
        }
    }
}

/// The groups with `own`'s files for the groups it names.
fn overlay_advice(groups: &mut [AdviceGroup], own: &BTreeMap<String, Vec<PathBuf>>) {
    for g in groups {
        if let Some(files) = own.get(&g.name) {
            g.files = files.clone();
        }
    }
}
