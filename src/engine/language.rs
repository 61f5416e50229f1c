//! The call's language: which of the playlist's languages says the prompts
//! and values, and who chose it. Choices come in a fixed precedence — the
//! caller's own (a key, or remembered from an earlier call) over the route
//! (`run --language`) over the channel's language (from Asterisk) over the
//! playlist's default — so the order they arrive in does not matter: a
//! choice below the one in force is ignored. A code the playlist does not
//! offer changes nothing (the call keeps what it has: the default when
//! nobody chose), logged once per call.
//!
//! Switching only swaps the engine's lookup tables (prompt names and the
//! sound map to sources): templates are shared, so every phrase resolved
//! after the switch is in the new language, and the music is untouched.

use super::library::{Library, SourceId};
use super::phrase::Speech;
use super::{Engine, TimelineEvent};
use crate::scenario::language::{Languages, pick};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who chose a language, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LanguageBy {
    /// Nobody: the playlist's default.
    Default,
    /// The channel's language, as Asterisk says it (`CHANNEL(language)`).
    Channel,
    /// The route the call came by (`run --language`).
    Route,
    /// The caller: a language key, now or on an earlier call.
    Caller,
}

impl LanguageBy {
    pub fn name(self) -> &'static str {
        match self {
            LanguageBy::Default => "default",
            LanguageBy::Channel => "channel",
            LanguageBy::Route => "route",
            LanguageBy::Caller => "caller",
        }
    }
}

/// One language's lookup tables.
pub(super) struct LangTables {
    pub prompts: BTreeMap<String, SourceId>,
    pub speech: Option<Speech>,
    /// Its advice groups where it has files of its own (`None`: the shared).
    pub advice: Option<Vec<crate::scenario::AdviceGroup>>,
}

/// The languages of the playlist in use, and the call's choice.
#[derive(Default)]
pub(super) struct LangState {
    pub tables: BTreeMap<String, LangTables>,
    pub default: String,
    /// The language in force and who chose it (`None`: no languages).
    pub current: Option<(Arc<str>, LanguageBy)>,
    /// Whether a choice the playlist does not offer was logged this call.
    pub warned: bool,
}

impl LangState {
    /// The tables for `l`, registering their sources in `lib`.
    pub fn build(l: &Languages, lib: &mut Library) -> LangState {
        let tables = l
            .sets
            .iter()
            .map(|(code, set)| {
                let prompts = set.prompts.iter().map(|(n, p)| (n.clone(), lib.add(p))).collect();
                let speech = set.speech.as_ref().map(|map| Speech {
                    ids: map.files().map(|f| (f.clone(), lib.add(f))).collect(),
                    map: map.clone(),
                });
                for g in set.advice.iter().flatten() {
                    g.files.iter().for_each(|f| {
                        lib.add(f);
                    });
                }
                let advice = set.advice.clone();
                (
                    code.clone(),
                    LangTables {
                        prompts,
                        speech,
                        advice,
                    },
                )
            })
            .collect();
        LangState {
            tables,
            default: l.default.clone(),
            current: None,
            warned: false,
        }
    }
}

impl Engine {
    /// Chooses the call's language; returns whether it is now `code`'s
    /// (false: the playlist offers no such language, or a choice of higher
    /// precedence is in force).
    pub fn choose_language(&mut self, code: &str, by: LanguageBy) -> bool {
        if self.langs.tables.is_empty() {
            return false;
        }
        if self.langs.current.as_ref().is_some_and(|(_, was)| *was > by) {
            tracing::debug!(by = by.name(), "language choice below the one in force: ignored");
            return false;
        }
        let Some(picked) = pick(&self.langs.tables, code).map(str::to_string) else {
            if !self.langs.warned {
                self.langs.warned = true;
                // The code is checked before it is shown: no free text in a log.
                let shown =
                    crate::scenario::language::normalise(code).unwrap_or_else(|| "(not a code)".into());
                tracing::warn!(
                    language = %shown,
                    by = by.name(),
                    "the playlist does not offer this language: keeping {}",
                    self.language().unwrap_or("the default")
                );
            }
            self.scratch.push(TimelineEvent::Language {
                code: Arc::from(self.language().unwrap_or("")),
                by: by.name(),
                offered: false,
            });
            return false;
        };
        let before = self.langs.current.as_ref().map(|(c, _)| c.clone());
        self.set_language(&picked, by);
        // A language with advices of its own: the advisor goes on with its
        // files (what was heard stays heard).
        let own = |e: &Engine, c: Option<&str>| {
            c.and_then(|c| e.langs.tables.get(c))
                .is_some_and(|t| t.advice.is_some())
        };
        if before.as_deref() != Some(picked.as_str())
            && (own(self, before.as_deref()) || own(self, Some(&picked)))
        {
            self.rebuild_advisor(None);
        }
        true
    }

    /// The advice groups of the language in force (the shared ones when it
    /// has none of its own).
    pub(super) fn language_advice(&self) -> Option<&[crate::scenario::AdviceGroup]> {
        let (code, _) = self.langs.current.as_ref()?;
        self.langs.tables.get(&**code)?.advice.as_deref()
    }

    /// Builds the advisor from the language's groups, or `shared`'s (or the
    /// groups now in force when `None` and the language has none of its own).
    pub(super) fn rebuild_advisor(&mut self, shared: Option<&[crate::scenario::AdviceGroup]>) {
        let groups: Vec<crate::scenario::AdviceGroup> = match (self.language_advice(), shared) {
            (Some(g), _) => g.to_vec(),
            (None, Some(s)) => s.to_vec(),
            (None, None) => self.shared_advice.clone(),
        };
        let lib = &mut self.lib;
        self.advisor = super::advice::Advisor::new(
            &groups,
            |g| g.files.iter().map(|p| lib.add(p)).collect(),
            &self.heard,
            &mut self.rng,
        );
    }

    /// The language in force (`None`: the playlist offers no languages).
    pub fn language(&self) -> Option<&str> {
        self.langs.current.as_ref().map(|(c, _)| &**c)
    }

    /// The language the caller chose themself, if any: what their memory keeps.
    pub fn caller_language(&self) -> Option<&str> {
        match &self.langs.current {
            Some((c, LanguageBy::Caller)) => Some(c),
            _ => None,
        }
    }

    /// The language in force and who chose it (a resumed call goes on with it).
    pub fn language_choice(&self) -> Option<(String, LanguageBy)> {
        self.langs.current.as_ref().map(|(c, by)| (c.to_string(), *by))
    }

    /// Makes `code` (offered) the language: its tables become the engine's.
    pub(super) fn set_language(&mut self, code: &str, by: LanguageBy) {
        let Some(t) = self.langs.tables.get(code) else {
            return;
        };
        self.prompts = t.prompts.clone();
        self.speech = t.speech.as_ref().map(|s| Speech {
            map: s.map.clone(),
            ids: s.ids.clone(),
        });
        let changed = self.language() != Some(code);
        self.langs.current = Some((Arc::from(code), by));
        if changed || by != LanguageBy::Default {
            self.scratch.push(TimelineEvent::Language {
                code: Arc::from(code),
                by: by.name(),
                offered: true,
            });
        }
        self.calm = std::time::Duration::ZERO;
    }

    /// After a (re)configure: the languages of the playlist now in use; the
    /// choice in force stays when still offered, else the default.
    pub(super) fn configure_languages(&mut self, l: Option<&Languages>) {
        let before = self.langs.current.take();
        self.langs = match l {
            Some(l) => LangState {
                warned: self.langs.warned,
                ..LangState::build(l, &mut self.lib)
            },
            None => LangState::default(),
        };
        if self.langs.tables.is_empty() {
            return;
        }
        let default = self.langs.default.clone();
        match before {
            Some((code, by)) if self.langs.tables.contains_key(&*code) => self.set_language(&code, by),
            _ => self.set_language(&default, LanguageBy::Default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        // Missing files are kept (they fail to load): the tables are what counts.
        Scenario::from_text(Path::new("/nonexistent/p.toml"), text).scenario
    }

    const BOTH: &str = "[prompts]\nhello = \"en.wav\"\n[languages]\ndefault = \"en\"\n\
                        [languages.ru.prompts]\nhello = \"ru.wav\"\n";

    fn hello(e: &Engine) -> String {
        e.lib.path(e.prompts["hello"]).display().to_string()
    }

    #[test]
    fn precedence_holds_whatever_the_order_and_a_reload_keeps_the_choice() {
        let s = scenario(BOTH);
        let mut e = Engine::new(&s, 8000, 1);
        assert_eq!(e.language(), Some("en"));
        assert!(e.choose_language("ru", LanguageBy::Route));
        assert!(!e.choose_language("en", LanguageBy::Channel), "below the route");
        assert_eq!(hello(&e), "/nonexistent/ru.wav");
        assert!(!e.choose_language("de", LanguageBy::Caller), "not offered");
        assert_eq!(e.language_choice(), Some(("ru".into(), LanguageBy::Route)));
        assert_eq!(e.caller_language(), None, "only the caller's own is remembered");
        // A new version of the playlist that still offers it: kept.
        e.configure(&s, true);
        assert_eq!(e.language_choice(), Some(("ru".into(), LanguageBy::Route)));
        assert_eq!(hello(&e), "/nonexistent/ru.wav");
        assert!(e.choose_language("en", LanguageBy::Caller));
        assert_eq!(e.caller_language(), Some("en"));
        // One that no longer offers Russian, or no languages at all.
        e.choose_language("ru", LanguageBy::Caller);
        e.configure(&scenario(&BOTH.replace("ru", "uk")), true);
        assert_eq!(e.language_choice(), Some(("en".into(), LanguageBy::Default)));
        e.configure(&scenario("[prompts]\nhello = \"en.wav\"\n"), true);
        assert_eq!(e.language(), None);
        assert!(!e.choose_language("en", LanguageBy::Caller));
        assert_eq!(hello(&e), "/nonexistent/en.wav");
    }
}
