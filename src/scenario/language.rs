//! The languages a playlist offers: per language, a prompt set (names to
//! files) and a sound map, and which language is the default. Templates
//! are shared: they name prompts, and each language says those names with
//! its own recordings, so "the next prompts in the new language" is only a
//! change of lookup table. Codes come from a strict alphabet (they arrive
//! from the argv and from Asterisk, never free text into a lookup).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[languages]`: what each offered language says with, and the default.
#[derive(Debug, Clone)]
pub struct Languages {
    /// Said to a caller nobody chose a language for (and for a choice the
    /// playlist does not offer).
    pub default: String,
    /// Every offered language, the default included, with its whole set:
    /// the shared `[prompts]`/`[speech]` laid under its own.
    pub sets: BTreeMap<String, LanguageSet>,
}

#[derive(Debug, Clone, Default)]
pub struct LanguageSet {
    pub prompts: BTreeMap<String, PathBuf>,
    pub speech: Option<crate::speech::map::SoundMap>,
    /// The advice groups with this language's files where it gives its
    /// own (`[languages.CODE.advice] GROUP = files`); `None`: the shared ones.
    pub advice: Option<Vec<crate::scenario::AdviceGroup>>,
}

/// Longest code accepted: `[a-z]{2,3}` and one `-subtag` of up to 8.
pub const MAX_CODE: usize = 12;

/// Whether `code` is `[a-z]{2,3}(-[A-Za-z0-9]{1,8})?` (BCP 47's shape,
/// kept to a language and one subtag: "en", "ru", "pt-BR").
pub fn valid_code(code: &str) -> bool {
    let (primary, sub) = match code.split_once('-') {
        Some((p, s)) => (p, Some(s)),
        None => (code, None),
    };
    let primary_ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    let sub_ok =
        sub.is_none_or(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    primary_ok && sub_ok
}

/// A code as Asterisk may give it (`CHANNEL(language)` is "en", "pt_BR",
/// "EN"): `_` read as `-` and the primary subtag lower-cased; `None` when
/// it still is not a valid code.
pub fn normalise(code: &str) -> Option<String> {
    let code = code.trim();
    if code.len() > MAX_CODE {
        return None;
    }
    let code = code.replace('_', "-");
    let code = match code.split_once('-') {
        Some((p, s)) => format!("{}-{s}", p.to_ascii_lowercase()),
        None => code.to_ascii_lowercase(),
    };
    valid_code(&code).then_some(code)
}

impl Languages {
    /// The offered language a choice of `code` means: the code itself, else
    /// its primary subtag ("en-GB" → "en"); `None` when neither is offered.
    pub fn pick(&self, code: &str) -> Option<&str> {
        pick(&self.sets, code)
    }

    /// The offered codes, comma-separated (for messages).
    pub fn names(&self) -> String {
        self.sets.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// [`Languages::pick`] over any table keyed by code.
pub fn pick<'a, V>(offered: &'a BTreeMap<String, V>, code: &str) -> Option<&'a str> {
    let code = normalise(code)?;
    let primary = code.split('-').next().unwrap_or("");
    [code.as_str(), primary]
        .into_iter()
        .find_map(|c| offered.get_key_value(c).map(|(k, _)| k.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_strict_alphabet() {
        for ok in ["en", "ru", "kab", "pt-BR", "zh-Hant", "en-1", "de-12345678"] {
            assert!(valid_code(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english",
            "EN",
            "en-",
            "en-GB-x",
            "en_GB",
            "en-123456789",
            "ru;",
            "../en",
            "en gb",
        ] {
            assert!(!valid_code(bad), "{bad}");
        }
    }

    #[test]
    fn asterisk_spellings_are_normalised_and_picked_by_primary() {
        assert_eq!(normalise("pt_BR").as_deref(), Some("pt-BR"));
        assert_eq!(normalise(" EN ").as_deref(), Some("en"));
        assert_eq!(normalise("x;rm"), None);
        let sets = ["en", "ru", "pt-BR"]
            .into_iter()
            .map(|c| (c.to_string(), LanguageSet::default()))
            .collect();
        let l = Languages {
            default: "en".into(),
            sets,
        };
        assert_eq!(l.pick("en_GB"), Some("en"));
        assert_eq!(l.pick("pt_BR"), Some("pt-BR"));
        assert_eq!(l.pick("pt"), None);
        assert_eq!(l.pick("de"), None);
        assert_eq!(l.pick("RU"), Some("ru"));
    }
}
