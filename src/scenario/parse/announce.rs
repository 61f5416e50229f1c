//! `[[repeat]]` and `[announce]`: the messages said on a timer (position,
//! wait, balance, dissuading).

use super::Parser;
use crate::scenario::doc::Table;
use crate::scenario::*;

/// The largest queue position a playlist may name (a cap, a threshold):
/// far beyond any real queue, and well inside a `u32`.
const POSITIONS: u64 = 1_000_000;

impl Parser<'_> {
    pub(super) fn repeat(&mut self, t: &Table) -> Option<Repeat> {
        t.deny_unknown(&mut self.d, &["first", "every", "say", "position_above", "when"]);
        let first = t
            .duration(&mut self.d, "first")
            .unwrap_or(Duration::from_secs(20));
        let every = t.duration(&mut self.d, "every").unwrap_or(Duration::ZERO);
        // Default 1: a caller at position 1 is next, and "still there"
        // repeats are for a long wait (issue 19). 0: at any position.
        let position_above = t
            .whole(&mut self.d, "position_above", 0, POSITIONS)
            .map_or(1, |(n, _)| n as u32);
        let say = self.template_at(t, "say")?;
        let when = self.when(t);
        Some(Repeat {
            first,
            every,
            say,
            position_above,
            when,
        })
    }

    pub(super) fn announce(&mut self, t: &Table) -> Announce {
        t.deny_unknown(&mut self.d, &["position", "wait", "balance", "dissuade"]);
        let mut a = Announce::default();
        if let Some(p) = t.table(&mut self.d, "position") {
            p.deny_unknown(
                &mut self.d,
                &["say", "next", "on_change", "every", "cap", "improved_only"],
            );
            let say = self.required_template(&p, "say");
            let cap = p.whole(&mut self.d, "cap", 1, POSITIONS).map(|(n, _)| n as u32);
            a.position = Some(PositionAnnounce {
                say,
                next: self.template_at(&p, "next").unwrap_or_default(),
                on_change: p.bool(&mut self.d, "on_change").unwrap_or(true),
                every: p
                    .duration(&mut self.d, "every")
                    .unwrap_or(Duration::from_secs(120)),
                cap,
                improved_only: p.bool(&mut self.d, "improved_only").unwrap_or(false),
            });
        }
        if let Some(w) = t.table(&mut self.d, "wait") {
            w.deny_unknown(&mut self.d, &["say", "short", "first", "every"]);
            a.wait = Some(WaitAnnounce {
                say: self.required_template(&w, "say"),
                short: self.template_at(&w, "short").unwrap_or_default(),
                first: w.duration(&mut self.d, "first").unwrap_or(Duration::ZERO),
                every: w.duration(&mut self.d, "every").unwrap_or(Duration::ZERO),
            });
        }
        if let Some(b) = t.table(&mut self.d, "balance") {
            b.deny_unknown(
                &mut self.d,
                &["say", "several", "next", "none", "failed", "wait", "locked"],
            );
            a.balance = Some(BalanceAnnounce {
                say: self.required_template(&b, "say"),
                several: self.template_at(&b, "several").unwrap_or_default(),
                next: self.template_at(&b, "next").unwrap_or_default(),
                none: self.template_at(&b, "none").unwrap_or_default(),
                failed: self.template_at(&b, "failed").unwrap_or_default(),
                wait: self.template_at(&b, "wait").unwrap_or_default(),
                locked: self.template_at(&b, "locked").unwrap_or_default(),
            });
        }
        if let Some(x) = t.table(&mut self.d, "dissuade") {
            x.deny_unknown(&mut self.d, &["say", "after", "position_above", "wait_above"]);
            let position_above = x
                .whole(&mut self.d, "position_above", 0, POSITIONS)
                .map(|(n, _)| n as u32);
            let dissuade = Dissuade {
                say: self.required_template(&x, "say"),
                after: x.duration(&mut self.d, "after"),
                position_above,
                wait_above: x.duration(&mut self.d, "wait_above"),
            };
            // A threshold written wrong is its own error: not also "none".
            let written = ["after", "position_above", "wait_above"]
                .iter()
                .any(|k| x.get(k).is_some());
            if !written {
                self.d
                    .error(x.span.clone(), &x.path, "a dissuading message needs a threshold")
                    .hint("set after = \"10m\", position_above = 15 or wait_above = \"20m\"");
            }
            a.dissuade = Some(dissuade);
        }
        a
    }
}
