//! `[[music.variant]]` and `[[welcome.variant]]`: music and welcomes for
//! a window (Christmas music, a holiday welcome). The first open variant
//! wins; with none open the section's own tracks or prompts play.

use super::Parser;
use crate::scenario::doc::Table;
use crate::scenario::*;

impl Parser<'_> {
    pub(super) fn music_variant(&mut self, t: &Table) -> Option<MusicVariant> {
        t.deny_unknown(&mut self.d, &["name", "when", "tracks"]);
        let name = self.variant_name(t);
        if t.get("tracks").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "a music variant needs `tracks`")
                .hint("a directory, a list of files or a pattern such as \"music/christmas/*.wav\"");
        }
        let tracks = self.files(t, "tracks");
        let when = self.required_when(t)?;
        Some(MusicVariant { name, when, tracks })
    }

    pub(super) fn welcome_variant(&mut self, t: &Table) -> Option<WelcomeVariant> {
        t.deny_unknown(&mut self.d, &["name", "when", "say"]);
        let name = self.variant_name(t);
        let say = self.required_template(t, "say");
        let when = self.required_when(t)?;
        Some(WelcomeVariant { name, when, say })
    }

    fn variant_name(&mut self, t: &Table) -> String {
        t.str(&mut self.d, "name")
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| t.path.clone())
    }

    fn required_when(&mut self, t: &Table) -> Option<Window> {
        if t.get("when").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "a variant needs `when`")
                .hint("e.g. when = { on = [\"christmas\"] } or when = { dates = [\"12-24..12-26\"] }");
        }
        self.when(t)
    }
}
