//! The playlist file as written (TOML): the minimal scenario of the core
//! engine: music, levels, named prompts, a welcome, repeated announcements
//! and keys. Unknown keys are errors, so a typo never passes silently.

use crate::duration::serde_dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistFile {
    #[serde(default)]
    pub music: Music,
    #[serde(default)]
    pub levels: Levels,
    /// Prompt name → sound file.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    pub welcome: Option<Say>,
    #[serde(default)]
    pub repeat: Vec<Repeat>,
    /// DTMF digit → what it does.
    #[serde(default)]
    pub keys: BTreeMap<String, Key>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Music {
    /// Files or directories, relative to the playlist file.
    #[serde(default)]
    pub tracks: Vec<String>,
    #[serde(default = "one_second", deserialize_with = "serde_dur::deserialize")]
    pub crossfade: Duration,
}

impl Default for Music {
    fn default() -> Self {
        Music {
            tracks: Vec::new(),
            crossfade: one_second(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// Music amplitude while a prompt plays (0.1 = -20 dB).
    #[serde(default = "default_duck")]
    pub duck: f32,
    /// Length of the duck fades.
    #[serde(default = "one_second", deserialize_with = "serde_dur::deserialize")]
    pub fade: Duration,
    /// Loudness every source is normalised to, in LUFS.
    #[serde(default = "default_loudness")]
    pub loudness: f64,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            duck: default_duck(),
            fade: one_second(),
            loudness: default_loudness(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Say {
    pub say: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    #[serde(default = "twenty_seconds", deserialize_with = "serde_dur::deserialize")]
    pub first: Duration,
    #[serde(deserialize_with = "serde_dur::deserialize")]
    pub every: Duration,
    pub say: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub action: Action,
    /// Prompts for `say`.
    #[serde(default)]
    pub say: Vec<String>,
    #[serde(default, deserialize_with = "serde_dur::deserialize_opt")]
    pub debounce: Option<Duration>,
    #[serde(default)]
    pub priority: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NextMusic,
    PreviousMusic,
    Say,
    SkipPrompt,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::NextMusic => "next-music",
            Action::PreviousMusic => "previous-music",
            Action::Say => "say",
            Action::SkipPrompt => "skip-prompt",
        }
    }
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn twenty_seconds() -> Duration {
    Duration::from_secs(20)
}
fn default_duck() -> f32 {
    0.1
}
fn default_loudness() -> f64 {
    -20.0
}
