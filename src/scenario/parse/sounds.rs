//! `[prompts]` and `[speech]`, and the audio files any section names:
//! each must exist and look like audio, and every one is remembered with
//! its place so `check` can list them.

use super::Parser;
use crate::scenario::diag::closest;
use crate::scenario::doc::{self, Table};
use crate::scenario::*;
use std::ops::Range;
use toml::de::DeValue;

impl Parser<'_> {
    pub(super) fn prompts(&mut self, t: &Table) -> BTreeMap<String, PathBuf> {
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

    pub(super) fn speech(&mut self, t: &Table) -> Option<crate::speech::map::SoundMap> {
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
    pub(super) fn files(&mut self, t: &Table, key: &str) -> Vec<PathBuf> {
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
