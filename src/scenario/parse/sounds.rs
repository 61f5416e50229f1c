//! `[prompts]` and `[speech]`, and the audio files any section names:
//! each must exist, be a regular file and look like audio, and every one
//! is remembered with its place so `check` can list them. Directories and
//! globs are walked within the playlist's limits (see [`super::walk`]).

use super::Parser;
use super::walk::{self, Found};
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
                    if let Err(what) = is_dir(&p) {
                        self.d
                            .error(span.clone(), &path, format!("{} {what}", p.display()));
                        continue;
                    }
                    let found = walk::dir(&p, &mut self.walk);
                    let files = self.found(found, &span, &path, dir);
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
            if !self.check_audio_file(&p, v.span(), &path) {
                continue;
            }
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

    /// Reports what is wrong with a sound file named one by one. False for
    /// one that exists but is not a regular file: it is left out, as
    /// opening a FIFO blocks and a device never ends. A missing file is
    /// kept (it fails to load, as before).
    fn check_audio_file(&mut self, p: &Path, span: Range<usize>, key: &str) -> bool {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => {
                if !is_audio(p) {
                    self.d
                        .warning(span, key, format!("{} does not look like audio", p.display()))
                        .hint(format!("holdmix plays {}", AUDIO_EXTENSIONS.join(", ")));
                }
                true
            }
            Ok(m) if m.is_dir() => {
                self.d
                    .error(
                        span,
                        key,
                        format!("{} is a directory, not a regular file", p.display()),
                    )
                    .hint("name one audio file here; every audio file of a directory: from = [\"dir\"]");
                false
            }
            Ok(m) => {
                let what = describe(m.file_type());
                self.d.error(
                    span,
                    key,
                    format!("{} is {what}, not a regular file", p.display()),
                );
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling link has the right name: a near name is no
                // help, where it points is. The search for a near name is
                // budgeted (see diag::SEARCHES).
                let dangling = dangling(p);
                let hint = match &dangling {
                    Some(_) => {
                        Some("the link's target is missing: restore it or point the link elsewhere".into())
                    }
                    None if self.d.may_search() => sibling_hint(p),
                    None => None,
                };
                let what = dangling.unwrap_or_else(|| "does not exist".to_string());
                let e = self.d.error(span, key, format!("{} {what}", p.display()));
                if let Some(hint) = hint {
                    e.hint(hint);
                }
                true
            }
            Err(e) => {
                self.d
                    .error(span, key, format!("{} cannot be read: {e}", p.display()));
                true
            }
        }
    }

    /// The files of a walk, with a diagnostic when a limit cut it short.
    fn found(&mut self, found: Found, span: &Range<usize>, key: &str, item: &str) -> Vec<PathBuf> {
        if let Some(limit) = found.stopped {
            self.d
                .error(
                    span.clone(),
                    key,
                    format!(
                        "{item:?}: stopped after it {}; {} audio file(s) found until then",
                        limit.describe(),
                        found.files.len()
                    ),
                )
                .hint("name a narrower directory or pattern (limits: see playlists/README.md)");
        }
        found.files
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
                match walk::glob(&pattern, &mut self.walk) {
                    Ok(found) => {
                        let found = self.found(found, &span, &path, item);
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
                let found = walk::dir(&p, &mut self.walk);
                let found = self.found(found, &span, &path, item);
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
                if self.check_audio_file(&p, span.clone(), &path) {
                    self.refs.push((p.clone(), span, path.clone()));
                    out.push(p);
                }
            }
        }
        out
    }
}

/// For a missing file: a file in the same directory with a close name.
/// A directory of more than [`HINT_ENTRIES`] names gives no hint: the
/// search is linear in them.
fn sibling_hint(p: &Path) -> Option<String> {
    let dir = p.parent()?;
    let name = p.file_name()?.to_str()?;
    let entries: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .take(HINT_ENTRIES + 1)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    if entries.len() > HINT_ENTRIES {
        return None;
    }
    // The name itself may be there (a dangling link): never "did you mean" it.
    let others = entries.iter().map(String::as_str).filter(|e| *e != name);
    closest(name, others).map(|c| format!("did you mean {c:?}?"))
}

/// For a name that does not resolve: "is a dangling symbolic link to
/// TARGET" when the name is a link whose target is missing.
fn dangling(p: &Path) -> Option<String> {
    let m = std::fs::symlink_metadata(p).ok()?;
    if !m.file_type().is_symlink() {
        return None;
    }
    let target = std::fs::read_link(p).ok()?;
    Some(format!("is a dangling symbolic link to {}", target.display()))
}

/// Names a directory may hold for a "did you mean" among them.
const HINT_ENTRIES: usize = 1_000;

/// Whether `p` is a directory; else what it is, for a diagnostic.
fn is_dir(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => Err(format!("is {}, not a directory", describe(m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(dangling(p).unwrap_or_else(|| "does not exist".to_string()))
        }
        Err(e) => Err(format!("cannot be read: {e}")),
    }
}

/// "a character device", "a FIFO (named pipe)", … for a diagnostic.
fn describe(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "an unknown kind of file"
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_within, walk::Budget};
    use crate::scenario::{Diagnostic, Severity};
    use std::path::Path;

    fn diagnose(dir: &Path, text: &str, budget: Budget) -> Vec<Diagnostic> {
        load(dir, text, budget).diagnostics
    }

    fn load(dir: &Path, text: &str, budget: Budget) -> crate::scenario::Loaded {
        let p = dir.join("p.toml");
        std::fs::write(&p, text).unwrap();
        parse_within(&p, text, budget)
    }

    #[test]
    fn a_walk_cut_short_is_an_error_at_the_key() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..30 {
            let d = t.path().join(format!("m/d{i:02}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("t.wav"), b"").unwrap();
        }
        let budget = Budget {
            entries: 20,
            ..Budget::default()
        };
        let d = diagnose(t.path(), "[music]\ntracks = [\"m/**/*.wav\"]\n", budget);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].severity, d[0].line, d[0].column), (Severity::Error, 2, 11));
        assert_eq!(d[0].key, "music.tracks");
        assert!(
            d[0].message.starts_with(
                "\"m/**/*.wav\": stopped after it looked at 200000 directory entries, the limit per playlist;"
            ),
            "{}",
            d[0]
        );
    }

    #[test]
    fn a_device_is_not_taken_for_a_missing_file() {
        let t = tempfile::tempdir().unwrap();
        let d = diagnose(t.path(), "[music]\ntracks = \"/dev/zero\"\n", Budget::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            d[0].message,
            "/dev/zero is a character device, not a regular file"
        );
        assert_eq!(d[0].hint, None);
    }

    #[test]
    fn fifos_sockets_and_directories_are_named_for_what_they_are() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("pipe.wav");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path we own, a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(t.path().join("sock.wav")).unwrap();
        std::fs::create_dir(t.path().join("dir.wav")).unwrap();
        let text = "[music]\ntracks = [\"pipe.wav\", \"sock.wav\"]\n[prompts]\nhello = \"dir.wav\"\nfrom = [\"pipe.wav\"]\n";
        let d = diagnose(t.path(), text, Budget::default());
        let messages: Vec<String> = d.iter().map(|d| format!("{}: {}", d.key, d.message)).collect();
        let base = t.path().display();
        for want in [
            format!("music.tracks: {base}/pipe.wav is a FIFO (named pipe), not a regular file"),
            format!("music.tracks: {base}/sock.wav is a socket, not a regular file"),
            format!("prompts.hello: {base}/dir.wav is a directory, not a regular file"),
            format!("prompts.from: {base}/pipe.wav is a FIFO (named pipe), not a directory"),
        ] {
            assert!(messages.contains(&want), "{want} not in {messages:#?}");
        }
        assert!(
            d.iter().all(|d| !d.message.contains("does not exist")),
            "{messages:#?}"
        );
    }

    #[test]
    fn a_missing_file_still_gets_a_near_name() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("hold.wav"), b"").unwrap();
        let d = diagnose(t.path(), "[music]\ntracks = \"hlod.wav\"\n", Budget::default());
        assert!(d[0].message.ends_with("hlod.wav does not exist"), "{}", d[0]);
        assert_eq!(d[0].hint.as_deref(), Some("did you mean \"hold.wav\"?"));
    }

    /// A dangling link is named as one, with its target: never "did you
    /// mean" its own name.
    #[test]
    fn a_dangling_link_is_named_with_its_target() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("gone.wav", t.path().join("dangling.wav")).unwrap();
        std::os::unix::fs::symlink("gone", t.path().join("prompts")).unwrap();
        let text = "[music]\ntracks = \"dangling.wav\"\n[prompts]\nfrom = \"prompts\"\n";
        let d = diagnose(t.path(), text, Budget::default());
        let base = t.path().display();
        assert_eq!(
            d[0].message,
            format!("{base}/dangling.wav is a dangling symbolic link to gone.wav")
        );
        assert_eq!(
            d[0].hint.as_deref(),
            Some("the link's target is missing: restore it or point the link elsewhere")
        );
        assert_eq!(
            d[1].message,
            format!("{base}/prompts is a dangling symbolic link to gone")
        );
    }
}
