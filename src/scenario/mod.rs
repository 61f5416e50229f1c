//! Scenarios: a playlist file resolved into what the engine plays — paths
//! made absolute, directories and globs expanded, prompt names checked,
//! windows parsed. Loading never fails the stream: every problem becomes a
//! diagnostic (file:line:column, key, message, hint), and what is valid is
//! kept. `holdmix check` prints the same diagnostics.

mod billing;
pub mod calendar;
pub mod diag;
pub mod doc;
pub mod language;
mod parse;
mod plan;
mod playable;
pub mod window;
pub mod zone;

use crate::util::files::{self, Kind};
use anyhow::Result;
pub use diag::{Diagnostic, Severity};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use window::Window;
pub use zone::Zone;

/// Extensions holdmix can decode (containers and Asterisk raw formats).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "mp3", "flac", "ogg", "oga", "ulaw", "pcmu", "ul", "mu", "alaw", "pcma", "al", "sln", "raw",
    "slin", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192", "gsm", "g722",
];

#[derive(Debug, Clone)]
pub struct Scenario {
    /// The playlist file, if any (None: the empty scenario = comfort silence).
    pub source: Option<PathBuf>,
    /// Zone the time-of-day windows are evaluated in; `None`: the host's.
    pub timezone: Option<Zone>,
    pub music: Music,
    pub levels: Levels,
    pub prompts: BTreeMap<String, PathBuf>,
    pub welcome: Template,
    pub advice: Advice,
    pub repeats: Vec<Repeat>,
    pub announce: Announce,
    pub keys: BTreeMap<char, Key>,
    /// How spoken values are said: a language and its recordings.
    pub speech: Option<crate::speech::map::SoundMap>,
    /// Where balances come from; `None`: a lookup fails at once.
    pub billing: Option<crate::billing::BillingConfig>,
    /// `[languages]`: the languages offered; `None`: one, as `prompts`
    /// and `speech` say (then `prompts`/`speech` are the default's set).
    pub languages: Option<language::Languages>,
    /// The holidays of `calendar` files and `[holidays]` (for `plan`; the
    /// windows carry their own dates).
    pub holidays: calendar::Calendar,
    /// `[[welcome.variant]]`: the first open at call start is said instead
    /// of `welcome`.
    pub welcome_variants: Vec<WelcomeVariant>,
    /// `[plan]`: the webhook the call's hold plan is asked of.
    pub plan: Option<crate::webhook::PlanConfig>,
}

/// A welcome said instead of `[welcome]` while its window is open.
#[derive(Debug, Clone)]
pub struct WelcomeVariant {
    pub name: String,
    pub when: Window,
    pub say: Template,
}

/// Music played instead of `[music] tracks` while its window is open.
#[derive(Debug, Clone)]
pub struct MusicVariant {
    pub name: String,
    pub when: Window,
    pub tracks: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Music {
    pub tracks: Vec<PathBuf>,
    pub order: MusicOrder,
    pub start: MusicStart,
    pub crossfade: Duration,
    /// `[[music.variant]]`: the first open one plays instead of `tracks`,
    /// switched at a track boundary.
    pub variants: Vec<MusicVariant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MusicOrder {
    /// As listed, looping.
    Sequential,
    /// Shuffled once per call, looping through the shuffle.
    Random,
    /// As listed, but from a random track (and offset) per call.
    RandomStart,
    /// One track over and over until the caller switches (the old hack's
    /// way); `start` picks the track.
    RepeatOne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MusicStart {
    First,
    Random,
    /// The caller's remembered choice (the caller store); first without one.
    Remembered,
}

#[derive(Debug, Clone)]
pub struct Levels {
    /// Music amplitude while a prompt plays (0.1 = -20 dB).
    pub duck: f32,
    /// Length of the duck fades.
    pub fade: Duration,
    /// Loudness every source is normalised to, in LUFS.
    pub loudness: f64,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            duck: 0.1,
            fade: Duration::from_secs(1),
            loudness: -20.0,
        }
    }
}

/// What to say: fixed prompts and spoken values, in order.
pub type Template = Vec<Part>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A prompt from `[prompts]`, by name.
    Prompt(String),
    /// A value spoken through the playlist's sound map (`[speech]`).
    /// `gender`: what a number or ordinal agrees with (Russian).
    Value {
        say: SayKind,
        value: ValueName,
        gender: crate::speech::Gender,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayKind {
    Number,
    Ordinal,
    Digits,
    Money,
    Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueName {
    /// The caller's queue position.
    Position,
    /// The estimated wait.
    Wait,
    /// Time on hold so far.
    Hold,
    /// An account's balance (balance announcements).
    Balance,
    /// An account's number (balance announcements).
    Account,
}

#[derive(Debug, Clone)]
pub struct Advice {
    /// The first advice of the call comes this long after the start.
    pub start: Duration,
    /// Silence between the end of one advice and the next.
    pub gap: Duration,
    pub groups: Vec<AdviceGroup>,
}

impl Default for Advice {
    fn default() -> Self {
        Advice {
            start: Duration::from_secs(20),
            gap: Duration::from_secs(30),
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdviceGroup {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub order: AdviceOrder,
    /// Each file at most once per call (the default); else the group repeats.
    pub once: bool,
    /// Only while this window is open (in the playlist's timezone).
    pub when: Option<Window>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdviceOrder {
    Alphabetical,
    Random,
}

#[derive(Debug, Clone)]
pub struct Repeat {
    pub first: Duration,
    pub every: Duration,
    pub say: Template,
    /// Said only to a caller whose queue position is above this (or not
    /// known): "still there" is for a long wait, not for the next caller.
    pub position_above: u32,
    /// Only said while this window is open.
    pub when: Option<Window>,
}

#[derive(Debug, Clone, Default)]
pub struct Announce {
    pub position: Option<PositionAnnounce>,
    pub wait: Option<WaitAnnounce>,
    pub balance: Option<BalanceAnnounce>,
    pub dissuade: Option<Dissuade>,
}

#[derive(Debug, Clone)]
pub struct PositionAnnounce {
    pub say: Template,
    /// Said instead of `say` at position 1 (when set).
    pub next: Template,
    pub on_change: bool,
    /// Said again this long after it was last said (zero: never).
    pub every: Duration,
    /// Positions above this are said as this.
    pub cap: Option<u32>,
    /// Only say a changed position when it is better than the last one said.
    pub improved_only: bool,
}

#[derive(Debug, Clone)]
pub struct WaitAnnounce {
    pub say: Template,
    /// Said instead of `say` when the estimate is under a minute (when set).
    pub short: Template,
    /// First said this long after the start (zero: only on a key).
    pub first: Duration,
    pub every: Duration,
}

#[derive(Debug, Clone)]
pub struct BalanceAnnounce {
    /// Said for each account.
    pub say: Template,
    /// Said once before the accounts when there are several.
    pub several: Template,
    /// Said instead of `say` for the second and later accounts, when set
    /// (the old hack's "next account number N, ...").
    pub next: Template,
    /// No account for this caller.
    pub none: Template,
    /// The lookup failed.
    pub failed: Template,
    /// Said when the lookup takes over half a second ("one moment").
    pub wait: Template,
    /// Said instead of `say` for an account billing marks as locked.
    pub locked: Template,
}

#[derive(Debug, Clone)]
pub struct Dissuade {
    pub say: Template,
    pub after: Option<Duration>,
    pub position_above: Option<u32>,
    pub wait_above: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NextMusic,
    PreviousMusic,
    Say,
    SayBalance,
    SayPosition,
    SayWait,
    RepeatLast,
    SkipPrompt,
    Redirect,
    /// The caller's language choice ("for English press 9").
    Language,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::NextMusic,
        Action::PreviousMusic,
        Action::Say,
        Action::SayBalance,
        Action::SayPosition,
        Action::SayWait,
        Action::RepeatLast,
        Action::SkipPrompt,
        Action::Redirect,
        Action::Language,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::NextMusic => "next-music",
            Action::PreviousMusic => "previous-music",
            Action::Say => "say",
            Action::SayBalance => "say-balance",
            Action::SayPosition => "say-position",
            Action::SayWait => "say-wait",
            Action::RepeatLast => "repeat-last",
            Action::SkipPrompt => "skip-prompt",
            Action::Redirect => "redirect",
            Action::Language => "language",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    pub action: Action,
    /// Prompts for `say`; the confirmation before a `redirect`.
    pub say: Template,
    pub debounce: Duration,
    pub priority: u8,
    pub redirect: Option<Redirect>,
    /// The language a `language` key chooses (an offered code).
    pub language: Option<String>,
    /// The key works only while this window is open.
    pub when: Option<Window>,
    /// Said when the key is pressed while its window is closed.
    pub closed: Template,
}

/// Where a `redirect` key sends the caller in the dialplan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub context: String,
    pub exten: String,
    pub priority: u32,
}

/// A playlist and what was found wrong with it.
pub struct Loaded {
    pub scenario: Scenario,
    pub diagnostics: Vec<Diagnostic>,
    /// Where each audio file was named (for errors found later, by decoding).
    pub file_refs: Vec<FileRef>,
    /// Where `[billing] accounts_file` is named: `check` reads it (the
    /// parser reads no file but the playlist).
    pub accounts_file: Option<FileRef>,
}

#[derive(Debug, Clone)]
pub struct FileRef {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

impl Scenario {
    /// Nothing to play: the stream carries silence.
    pub fn empty() -> Scenario {
        Scenario {
            source: None,
            timezone: None,
            music: Music {
                tracks: Vec::new(),
                order: MusicOrder::Sequential,
                start: MusicStart::First,
                crossfade: Duration::from_secs(1),
                variants: Vec::new(),
            },
            levels: Levels::default(),
            prompts: BTreeMap::new(),
            welcome: Vec::new(),
            advice: Advice::default(),
            repeats: Vec::new(),
            announce: Announce::default(),
            keys: BTreeMap::new(),
            speech: None,
            billing: None,
            languages: None,
            holidays: calendar::Calendar::default(),
            welcome_variants: Vec::new(),
            plan: None,
        }
    }

    /// Reads and resolves a playlist. Only an unreadable file is an error
    /// (missing, not a regular file, over the playlist limit: see
    /// [`crate::util::files`]); anything wrong inside is a diagnostic, and
    /// the valid parts are kept.
    pub fn load(path: &Path) -> Result<Loaded> {
        let text = files::read_string(path, Kind::Playlist)?;
        Ok(Scenario::from_text(path, &text))
    }

    /// Resolves a playlist's text, read from `path`.
    pub fn from_text(path: &Path, text: &str) -> Loaded {
        let mut loaded = parse::parse(path, text);
        if let Some(d) = playable::judge(path, text, &loaded) {
            loaded.diagnostics.push(d);
        }
        loaded
    }

    /// Every audio file the scenario may play.
    pub fn audio_files(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.music.tracks.iter().map(PathBuf::as_path).collect();
        for m in &self.music.variants {
            v.extend(m.tracks.iter().map(PathBuf::as_path));
        }
        v.extend(self.prompts.values().map(PathBuf::as_path));
        for g in &self.advice.groups {
            v.extend(g.files.iter().map(PathBuf::as_path));
        }
        if let Some(m) = &self.speech {
            v.extend(m.files().map(PathBuf::as_path));
        }
        // Languages share most files (the shared prompts): each once.
        let mut seen: std::collections::HashSet<&Path> = v.iter().copied().collect();
        for set in self.languages.iter().flat_map(|l| l.sets.values()) {
            let advice = set.advice.iter().flatten().flat_map(|g| g.files.iter());
            let files = set
                .prompts
                .values()
                .chain(set.speech.iter().flat_map(|m| m.files()))
                .chain(advice);
            v.extend(files.map(PathBuf::as_path).filter(|p| seen.insert(p)));
        }
        v
    }
}

/// Loads a new version of a playlist for a hot reload: a version with
/// errors is refused (its diagnostics logged), so a typo saved by mistake
/// never replaces a working playlist; so is an empty one (a truncated
/// save) and one with nothing to play (see [`playable`]).
pub fn load_valid(path: &Path) -> std::result::Result<Scenario, String> {
    match files::read_string(path, Kind::Playlist) {
        Ok(text) => accept(path, &text),
        Err(e) => Err(refuse_unreadable(&e)),
    }
}

/// [`load_valid`] of a version already read from `path`.
pub fn accept(path: &Path, text: &str) -> std::result::Result<Scenario, String> {
    let loaded = Scenario::from_text(path, text);
    log_diagnostics(&loaded.diagnostics);
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors == 0 {
        tracing::info!(playlist = %path.display(), "playlist reloaded");
        Ok(loaded.scenario)
    } else {
        let reason = format!("{errors} error(s); keeping the playlist in use");
        tracing::error!(playlist = %path.display(), "new version refused: {reason}");
        Err(reason)
    }
}

/// Logs a new version that could not be read (one line) and returns the
/// reason it was refused.
pub fn refuse_unreadable(e: &files::FileError) -> String {
    tracing::error!("{e}; keeping the playlist in use");
    e.to_string()
}

/// Logs the diagnostics, one line each up to a bound, then one line for
/// the rest (a playlist with 100,000 errors must not log 100,000 lines at
/// every start and reload).
pub fn log_diagnostics(diagnostics: &[Diagnostic]) {
    diag::log(diagnostics);
}

pub fn is_audio(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}
