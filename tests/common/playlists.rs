//! Playlist texts many integration tests share: the sample English speech
//! set-up and the "key 2 says the balance billing gives" playlist. One copy
//! here keeps the billing, fault, corpus, wire and respawn tests speaking
//! the same words from the same sample files.

use super::{playlist, root};
use std::path::{Path, PathBuf};

/// The `[music]`, `[speech]` and `[prompts]` tables of a playlist that
/// plays `music` and speaks with the sample English words and prompts.
/// Ends inside `[prompts]`, so a caller may add prompts of its own.
pub fn speech_head(music: &Path) -> String {
    let root = root();
    format!(
        r#"
[music]
tracks = ["{music}"]

[speech]
map = "{root}/sample-audio/words/en/map.toml"

[prompts]
from = "{root}/sample-audio/prompts/en"
"#,
        music = music.display(),
        root = root.display(),
    )
}

/// The `[keys]` and `[billing]` tables: key 2 says the balance that the
/// `[billing]` table (`billing`, its TOML lines) gives.
pub fn balance_on_key_2(billing: &str) -> String {
    format!(
        r#"
[keys]
2 = {{ action = "say-balance", debounce = "0s" }}

[billing]
{billing}
"#
    )
}

/// `billing.toml` in `dir`: `music`, and key 2 says the balance billing at
/// `url` gives, or "service unavailable".
pub fn balance_playlist(dir: &Path, music: &Path, url: &str) -> PathBuf {
    let text = format!(
        r#"{head}
[announce.balance]
say = ["your-balance-is", {{ say = "money", value = "balance" }}]
failed = ["service-unavailable"]
{keys}"#,
        head = speech_head(music),
        keys = balance_on_key_2(&format!("url = \"{url}\"")),
    );
    playlist(dir, "billing.toml", &text)
}
