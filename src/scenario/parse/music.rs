//! `[music]` and `[levels]`: which tracks play in what order, and how
//! loud music sits under speech.

use super::Parser;
use crate::scenario::doc::{self, Table};
use crate::scenario::*;
use toml::de::DeValue;

impl Parser<'_> {
    pub(super) fn music(&mut self, t: &Table) -> Music {
        t.deny_unknown(&mut self.d, &["tracks", "order", "start", "crossfade", "variant"]);
        let mut m = Scenario::empty().music;
        m.tracks = self.files(t, "tracks");
        if let Some(order) = self.choice(
            t,
            "order",
            &[
                ("sequential", MusicOrder::Sequential),
                ("random", MusicOrder::Random),
                ("random-start", MusicOrder::RandomStart),
                ("repeat-one", MusicOrder::RepeatOne),
            ],
        ) {
            m.order = order;
        }
        if let Some(start) = self.choice(
            t,
            "start",
            &[
                ("first", MusicStart::First),
                ("random", MusicStart::Random),
                ("remembered", MusicStart::Remembered),
            ],
        ) {
            m.start = start;
        }
        if let Some(c) = t.duration(&mut self.d, "crossfade") {
            m.crossfade = c;
        }
        if let Some(v) = t.get("variant") {
            m.variants = self.array_of_tables(v, "music.variant", |p, t| p.music_variant(t));
            if m.tracks.is_empty() && !m.variants.is_empty() {
                // Music is never silence: with no variant open the call
                // keeps the variant it has (the first at the start).
                self.d
                    .warning(
                        t.span.clone(),
                        &t.path,
                        "music variants but no `tracks` for when none is open",
                    )
                    .hint(
                        "outside every variant's window callers keep hearing a variant's music; add tracks",
                    );
            }
        }
        m
    }
    pub(super) fn levels(&mut self, t: &Table) -> Levels {
        t.deny_unknown(&mut self.d, &["duck", "fade", "loudness"]);
        let mut l = Levels::default();
        if let Some(v) = t.get("duck") {
            let path = t.key_path("duck");
            // A gain (0.1) or a level in dB ("-20dB").
            let gain = match v.get_ref() {
                DeValue::String(s) => s
                    .trim()
                    .strip_suffix("dB")
                    .or_else(|| s.trim().strip_suffix("db"))
                    .and_then(|n| n.trim().parse::<f32>().ok())
                    .map(|db| 10f32.powf(db / 20.0)),
                other => doc::number(other).map(|n| n as f32),
            };
            match gain {
                Some(g) if (0.0..=1.0).contains(&g) => l.duck = g,
                _ => {
                    self.d
                        .error(
                            v.span(),
                            &path,
                            "the duck level must be a gain from 0 to 1, or a level in dB",
                        )
                        .hint("e.g. duck = 0.1 or duck = \"-20dB\"");
                }
            }
        }
        if let Some(f) = t.duration(&mut self.d, "fade") {
            l.fade = f;
        }
        if let Some((n, span)) = t.number(&mut self.d, "loudness") {
            if (-70.0..=0.0).contains(&n) {
                l.loudness = n;
            } else {
                self.d
                    .error(
                        span,
                        &t.key_path("loudness"),
                        format!("{} LUFS is outside -70..0", doc::shown(n)),
                    )
                    .hint("-20 suits telephone audio");
            }
        }
        l
    }
}
