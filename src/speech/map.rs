//! Sound maps: which recorded file says each token, per language and per
//! site. A map is a TOML file:
//!
//! ```toml
//! language = "ru"
//! dir = "/var/lib/asterisk/sounds/ru"   # relative to the map file, or absolute
//! ext = ["wav", "gsm", "ulaw"]          # tried in order for names without one
//! [tokens]
//! "1m" = "digits/1"
//! "1f" = "digits/1f"
//! ```
//!
//! When a recording is missing, speech degrades by rule, never by a hole in
//! a number: a feminine or plural form falls back to another form of the
//! same word (`1f` → `1m`, `thousand-few` → `thousand-many` → `thousand-one`),
//! an ordinal word to its cardinal (`ord-3` → `3`, `ord-1` → `1m`; whole
//! ordinals are said as cardinals earlier, by `speech::speak`), a pause to
//! nothing. If a
//! token still has no file, the whole value is left out (the caller logs
//! it): a listener hears the sentence without the number rather than half
//! a number.

use super::Lang;
use crate::util::files::{self, Kind};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SoundMap {
    pub lang: Lang,
    /// Token → file that exists.
    files: BTreeMap<String, PathBuf>,
    /// Tokens the map names whose file is missing, and tokens it lacks.
    pub missing: Vec<String>,
}

/// A value said through a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    pub files: Vec<PathBuf>,
    /// Tokens said with a fallback form: (wanted, used).
    pub substituted: Vec<(String, String)>,
}

impl SoundMap {
    pub fn load(path: &Path) -> Result<SoundMap> {
        // Bounded, regular files only: see `util::files` (1 MiB).
        let text = files::read_string(path, Kind::SoundMap)?;
        let doc: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        for key in doc.keys() {
            if !matches!(key.as_str(), "language" | "dir" | "ext" | "tokens") {
                bail!(
                    "{}: unknown key `{key}` (language, dir, ext, tokens)",
                    path.display()
                );
            }
        }
        let lang_name = doc.get("language").and_then(|v| v.as_str()).unwrap_or("");
        let lang = Lang::parse(lang_name).with_context(|| {
            format!(
                "{}: language {lang_name:?} is not \"en\" or \"ru\"",
                path.display()
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let dir = match doc.get("dir").and_then(|v| v.as_str()) {
            None | Some(".") => base.to_path_buf(),
            Some(d) => base.join(d),
        };
        let exts: Vec<String> = match doc.get("ext") {
            None => vec!["wav".into()],
            Some(v) => v
                .as_array()
                .with_context(|| {
                    format!(
                        "{}: ext must be a list such as [\"wav\", \"gsm\"]",
                        path.display()
                    )
                })?
                .iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect(),
        };
        let tokens = doc
            .get("tokens")
            .and_then(|v| v.as_table())
            .with_context(|| format!("{}: no [tokens] table", path.display()))?;
        let known = lang.tokens();
        let mut files = BTreeMap::new();
        let mut missing = Vec::new();
        for (token, file) in tokens {
            if !known.contains(token) {
                bail!(
                    "{}: tokens.{token}: not a token of language {}",
                    path.display(),
                    lang.code()
                );
            }
            let Some(name) = file.as_str() else {
                bail!("{}: tokens.{token}: expected a file name", path.display());
            };
            match find(&dir, name, &exts) {
                Some(p) => {
                    files.insert(token.clone(), p);
                }
                None => missing.push(token.clone()),
            }
        }
        let optional = lang.optional_tokens();
        missing.retain(|t| !optional.contains(t));
        missing.extend(
            known
                .into_iter()
                .filter(|t| !tokens.contains_key(t) && !optional.contains(t)),
        );
        missing.sort();
        Ok(SoundMap { lang, files, missing })
    }

    /// Whether `token` has a recording of its own (no fallback).
    pub fn has(&self, token: &str) -> bool {
        self.files.contains_key(token)
    }

    /// Every recording the map names.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.values()
    }

    /// The files for `tokens`, with fallbacks; `Err` names a token that has
    /// no recording in any form.
    pub fn speak(&self, tokens: &[String]) -> std::result::Result<Spoken, String> {
        let mut out = Spoken {
            files: Vec::new(),
            substituted: Vec::new(),
        };
        for t in tokens {
            if let Some(f) = self.files.get(t) {
                out.files.push(f.clone());
                continue;
            }
            if t == "pause" {
                continue;
            }
            let Some((used, f)) = fallbacks(t)
                .into_iter()
                .find_map(|alt| self.files.get(&alt).map(|f| (alt, f)))
            else {
                return Err(t.clone());
            };
            out.files.push(f.clone());
            out.substituted.push((t.clone(), used));
        }
        Ok(out)
    }
}

/// `dir/name`, or with the first extension that exists when `name` has none.
fn find(dir: &Path, name: &str, exts: &[String]) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.extension().is_some() && p.is_file() {
        return Some(p);
    }
    exts.iter()
        .map(|e| dir.join(format!("{name}.{e}")))
        .find(|c| c.is_file())
}

/// Other forms of the same word, best first.
fn fallbacks(token: &str) -> Vec<String> {
    match token {
        "1f" => return vec!["1m".into(), "1".into()],
        "2f" => return vec!["2m".into(), "2".into()],
        "1n" => return vec!["1m".into(), "1".into()],
        "1m" => return vec!["1".into(), "1f".into()],
        "2m" => return vec!["2".into(), "2f".into()],
        _ => {}
    }
    // An ordinal word's cardinal (`ord-3` → `3`; in Russian `ord-1` →
    // `1m`, `ord-thousand` → `thousand-one`). `speech::speak` says a whole
    // ordinal as its cardinal before this is needed; this keeps callers of
    // `speak` with raw tokens from dropping the value.
    if let Some(n) = token.strip_prefix("ord-") {
        let n = n.strip_suffix("-f").or_else(|| n.strip_suffix("-n")).unwrap_or(n);
        let mut v = vec![n.to_string()];
        v.extend(fallbacks(n));
        v.push(format!("{n}m"));
        v.push(format!("{n}-one"));
        return v;
    }
    for (form, others) in [
        ("-few", ["-many", "-one"]),
        ("-many", ["-few", "-one"]),
        ("-one", ["-many", "-few"]),
    ] {
        if let Some(stem) = token.strip_suffix(form) {
            return others.iter().map(|o| format!("{stem}{o}")).collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_with(dir: &Path, lang: &str, tokens: &[(&str, &str)]) -> SoundMap {
        let mut text = format!("language = \"{lang}\"\ndir = \".\"\n[tokens]\n");
        for (t, f) in tokens {
            text.push_str(&format!("{t:?} = {f:?}\n"));
            if !f.is_empty() {
                std::fs::write(dir.join(format!("{f}.wav")), b"x").unwrap();
            }
        }
        let p = dir.join("map.toml");
        std::fs::write(&p, text).unwrap();
        SoundMap::load(&p).unwrap()
    }

    #[test]
    fn forms_fall_back_and_holes_refuse_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let m = map_with(
            dir.path(),
            "ru",
            &[("1m", "one"), ("thousand-many", "thousands"), ("20", "twenty")],
        );
        let toks = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let s = m.speak(&toks("1f thousand-one pause 20 1m")).unwrap();
        assert_eq!(s.files.len(), 4);
        assert_eq!(
            s.substituted,
            [
                ("1f".to_string(), "1m".to_string()),
                ("thousand-one".to_string(), "thousand-many".to_string())
            ]
        );
        assert_eq!(m.speak(&toks("20 5")), Err("5".to_string()));
        assert!(m.missing.contains(&"5".to_string()));
    }

    /// Russian has no plain `1` or `thousand` token: an ordinal word falls
    /// back to the masculine cardinal and the singular scale.
    #[test]
    fn russian_ordinal_words_fall_back_to_forms_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let m = map_with(
            dir.path(),
            "ru",
            &[("1m", "one"), ("2m", "two"), ("thousand-one", "thousand")],
        );
        let toks = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let s = m
            .speak(&toks("ord-1 ord-2-f ord-thousand ord-million"))
            .map(|s| s.files.len());
        assert_eq!(s, Err("ord-million".to_string()));
        let s = m.speak(&toks("ord-1 ord-2-f ord-thousand-n")).unwrap();
        assert_eq!(s.files.len(), 3);
        assert_eq!(s.substituted[0], ("ord-1".to_string(), "1m".to_string()));
        assert_eq!(
            s.substituted[2],
            ("ord-thousand-n".to_string(), "thousand-one".to_string())
        );
    }

    #[test]
    fn unknown_tokens_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "language = \"en\"\n[tokens]\n\"1f\" = \"x\"\n").unwrap();
        let e = SoundMap::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("tokens.1f") && e.contains("not a token of language en"),
            "{e}"
        );
    }
}
