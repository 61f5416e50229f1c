//! Whether a playlist gives a call anything to hear. An empty file is what
//! `> file`, a non-atomic save or a full disk leaves; taken by a hot reload
//! it would silence every call on the host after the current track. So an
//! empty playlist, and one with nothing to play at all (no music, prompts,
//! advice or speech recordings), is an error: `check` says so and a hot
//! reload refuses it, as it refuses any version with errors.

use super::{Diagnostic, Loaded, Severity};
use std::path::Path;

/// The error for a playlist that gives nothing to hear, if it is one.
/// "Nothing to play" is only said when nothing else is wrong: a file with
/// errors already says why its tracks are missing.
pub(super) fn judge(path: &Path, text: &str, loaded: &Loaded) -> Option<Diagnostic> {
    let error = |message: &str, hint: &str| {
        let mut d = Diagnostic::at(path, 0, 0, "", Severity::Error, message.to_string());
        d.hint(hint);
        d
    };
    if is_blank(text) {
        let what = if text.is_empty() {
            "the playlist is empty (0 bytes)"
        } else {
            "the playlist is empty (only blank lines and comments)"
        };
        return Some(error(
            what,
            "a truncated or half-written save leaves this; write the playlist again",
        ));
    }
    if !loaded.has_errors() && loaded.scenario.audio_files().is_empty() {
        return Some(error(
            "nothing to play: no music tracks, no prompts, no advice and no speech recordings",
            "name some music, e.g. [music] tracks = [\"music/\"]",
        ));
    }
    None
}

/// Only whitespace and `#` comments: no table, no key.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim_start();
        l.is_empty() || l.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn errors(text: &str) -> Vec<String> {
        let p = Path::new("/nonexistent/p.toml");
        Scenario::from_text(p, text)
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn empty_and_comment_only_playlists_are_errors() {
        assert_eq!(
            errors(""),
            [
                "/nonexistent/p.toml: error: the playlist is empty (0 bytes) (hint: a truncated or half-written save leaves this; write the playlist again)"
            ]
        );
        for text in ["\n\n  \t\n", "# only a comment\n   # another\n"] {
            let e = errors(text);
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(e[0].contains("empty (only blank lines and comments)"), "{e:?}");
        }
    }

    #[test]
    fn a_playlist_with_nothing_to_play_is_an_error() {
        let e = errors("[levels]\nduck = 0.2\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("nothing to play"), "{e:?}");
        // Music alone is enough.
        let music = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-audio/music");
        assert_eq!(
            errors(&format!("[music]\ntracks = [{:?}]\n", music)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_shipped_playlists_have_something_to_play() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playlists");
        for name in ["demo.toml", "operators.toml", "asterisk-queue.toml"] {
            let loaded = Scenario::load(&dir.join(name)).unwrap();
            assert!(!loaded.has_errors(), "{name}: {:?}", loaded.diagnostics);
        }
    }
}
