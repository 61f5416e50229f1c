//! Scenarios: the playlist file resolved into what the engine plays — paths
//! made absolute, directories expanded, prompt names checked. Loading never
//! fails the stream: every problem is reported, and what is valid is kept.

pub mod file;

use anyhow::{Context, Result};
pub use file::{Action, Levels};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Extensions holdmix can decode (containers and Asterisk raw formats).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "mp3", "flac", "ogg", "oga", "ulaw", "pcmu", "ul", "mu", "alaw", "pcma", "al", "sln", "raw",
    "slin", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
];

#[derive(Debug, Clone)]
pub struct Scenario {
    /// The playlist file, if any (None: the empty scenario = comfort silence).
    pub source: Option<PathBuf>,
    pub tracks: Vec<PathBuf>,
    pub crossfade: Duration,
    pub levels: Levels,
    pub prompts: BTreeMap<String, PathBuf>,
    pub welcome: Vec<String>,
    pub repeats: Vec<Repeat>,
    pub keys: BTreeMap<char, Key>,
}

#[derive(Debug, Clone)]
pub struct Repeat {
    pub first: Duration,
    pub every: Duration,
    pub say: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub action: Action,
    pub say: Vec<String>,
    pub debounce: Duration,
    pub priority: u8,
}

impl Scenario {
    /// Nothing to play: the stream carries silence.
    pub fn empty() -> Scenario {
        Scenario {
            source: None,
            tracks: Vec::new(),
            crossfade: Duration::from_secs(1),
            levels: Levels::default(),
            prompts: BTreeMap::new(),
            welcome: Vec::new(),
            repeats: Vec::new(),
            keys: BTreeMap::new(),
        }
    }

    /// Reads and resolves a playlist. A file that cannot be read or parsed is
    /// an error; problems inside a valid file (a missing track, a key naming an
    /// unknown prompt) are returned as warnings beside a usable scenario.
    pub fn load(path: &Path) -> Result<(Scenario, Vec<String>)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read playlist", path.display()))?;
        let parsed: file::PlaylistFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(resolve(parsed, path, &base))
    }
}

fn resolve(f: file::PlaylistFile, path: &Path, base: &Path) -> (Scenario, Vec<String>) {
    let mut warnings = Vec::new();
    let at = path.display().to_string();
    let mut tracks = Vec::new();
    for t in &f.music.tracks {
        let p = base.join(t);
        if p.is_dir() {
            let mut found = audio_files_in(&p);
            if found.is_empty() {
                warnings.push(format!(
                    "{at}: music.tracks: directory {} has no audio files",
                    p.display()
                ));
            }
            tracks.append(&mut found);
        } else {
            if !p.exists() {
                warnings.push(format!("{at}: music.tracks: {} does not exist", p.display()));
            }
            tracks.push(p);
        }
    }
    let prompts: BTreeMap<String, PathBuf> =
        f.prompts.iter().map(|(k, v)| (k.clone(), base.join(v))).collect();
    for (name, p) in &prompts {
        if !p.is_file() {
            warnings.push(format!("{at}: prompts.{name}: {} does not exist", p.display()));
        }
    }
    let welcome = f
        .welcome
        .as_ref()
        .map(|w| check_names(&prompts, &at, "welcome.say", &w.say, &mut warnings))
        .unwrap_or_default();
    let repeats = f
        .repeat
        .iter()
        .enumerate()
        .map(|(i, r)| Repeat {
            first: r.first,
            every: r.every,
            say: check_names(&prompts, &at, &format!("repeat[{i}].say"), &r.say, &mut warnings),
        })
        .collect::<Vec<_>>();
    let mut keys = BTreeMap::new();
    for (digit, k) in &f.keys {
        let mut chars = digit.chars();
        let c = match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => c,
            _ => {
                warnings.push(format!("{at}: keys.{digit}: not a DTMF digit (0-9, *, #, A-D)"));
                continue;
            }
        };
        let say = check_names(&prompts, &at, &format!("keys.{digit}.say"), &k.say, &mut warnings);
        if k.action == Action::Say && say.is_empty() {
            warnings.push(format!(
                "{at}: keys.{digit}: action \"say\" needs prompts in `say`"
            ));
        }
        keys.insert(
            c,
            Key {
                action: k.action,
                say,
                debounce: k.debounce.unwrap_or(Duration::ZERO),
                priority: k.priority.unwrap_or(5),
            },
        );
    }
    let mut levels = f.levels.clone();
    if !(0.0..=1.0).contains(&levels.duck) {
        warnings.push(format!(
            "{at}: levels.duck: {} is outside 0..1; using 0.1",
            levels.duck
        ));
        levels.duck = 0.1;
    }
    if !(-70.0..=0.0).contains(&levels.loudness) {
        warnings.push(format!(
            "{at}: levels.loudness: {} LUFS is outside -70..0; using -20",
            levels.loudness
        ));
        levels.loudness = -20.0;
    }
    let scenario = Scenario {
        source: Some(path.to_path_buf()),
        tracks,
        crossfade: f.music.crossfade,
        levels,
        prompts,
        welcome,
        repeats,
        keys,
    };
    (scenario, warnings)
}

/// Keeps the prompt names that exist; warns about the others.
fn check_names(
    prompts: &BTreeMap<String, PathBuf>,
    at: &str,
    what: &str,
    names: &[String],
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let mut known = Vec::new();
    for n in names {
        if prompts.contains_key(n) {
            known.push(n.clone());
        } else {
            warnings.push(format!("{at}: {what}: no prompt named {n:?} in [prompts]"));
        }
    }
    known
}

/// Audio files directly in `dir`, sorted by name.
pub fn audio_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    files
}
