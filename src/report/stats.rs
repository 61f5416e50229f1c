//! The figures of a group of calls (all, a day, a queue): counts by
//! outcome, the hold-time distribution, keys by action, prompts heard,
//! and what abandoning callers heard when they hung up. Calls are added
//! one summary at a time; [`Group::figures`] gives the serialisable
//! figures that the text, the JSON and the PNG all show.

use super::call::CallSummary;
use serde::Serialize;
use std::collections::BTreeMap;

/// Hold-time histogram bins' lower edges, in seconds (the last is open).
pub const HOLD_BINS: [u64; 8] = [0, 15, 30, 60, 120, 300, 600, 1200];
/// "Within N s of its start" thresholds for what abandoners heard.
pub const WITHIN: [u64; 3] = [5, 15, 30];

/// How a call ended, as far as the report can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Answered,
    Abandoned,
    Timeout,
    Key,
    Empty,
    /// Not known (no queue_log line for it, or without queue_log a call
    /// that did not end with the caller's hangup).
    Unknown,
}

/// Calls being added up.
#[derive(Debug, Default)]
pub struct Group {
    calls: u64,
    outcomes: Outcomes,
    truncated: u64,
    /// One number per call: bounded by the calls, not their lines.
    holds: Vec<f64>,
    keys: BTreeMap<String, u64>,
    prompts: BTreeMap<String, u64>,
    abandons: u64,
    heard: BTreeMap<(String, String), HeardCount>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
pub struct Outcomes {
    pub answered: u64,
    pub abandoned: u64,
    pub timeout: u64,
    pub key: u64,
    pub empty: u64,
    pub unknown: u64,
}

#[derive(Debug, Default)]
struct HeardCount {
    abandons: u64,
    within: [u64; WITHIN.len()],
}

impl Group {
    pub fn add(&mut self, c: &CallSummary, end: End) {
        self.calls += 1;
        let o = &mut self.outcomes;
        *match end {
            End::Answered => &mut o.answered,
            End::Abandoned => &mut o.abandoned,
            End::Timeout => &mut o.timeout,
            End::Key => &mut o.key,
            End::Empty => &mut o.empty,
            End::Unknown => &mut o.unknown,
        } += 1;
        self.truncated += u64::from(c.truncated);
        self.holds.push(c.hold);
        for (k, n) in &c.keys {
            *self.keys.entry(k.clone()).or_default() += n;
        }
        for (p, n) in &c.prompts {
            *self.prompts.entry(p.clone()).or_default() += n;
        }
        if end == End::Abandoned {
            self.abandons += 1;
            match &c.heard {
                Some(h) => {
                    let e = self
                        .heard
                        .entry((h.kind.to_string(), h.name.clone()))
                        .or_default();
                    e.abandons += 1;
                    for (i, &w) in WITHIN.iter().enumerate() {
                        if h.after <= w as f64 {
                            e.within[i] += 1;
                        }
                    }
                }
                // No exit line (cut at the cap, or the generator killed):
                // counted, so the shares still add up to the abandons.
                None => {
                    let key = ("unknown".to_string(), "-".to_string());
                    self.heard.entry(key).or_default().abandons += 1;
                }
            }
        }
    }

    pub fn figures(&self) -> Figures {
        let mut holds = self.holds.clone();
        holds.sort_by(f64::total_cmp);
        let share = |n: u64| round(n as f64 / self.abandons.max(1) as f64, 4);
        let mut heard: Vec<HeardFigures> = self
            .heard
            .iter()
            .map(|((kind, name), h)| HeardFigures {
                kind: kind.clone(),
                name: name.clone(),
                abandons: h.abandons,
                share: share(h.abandons),
                within: WITHIN
                    .iter()
                    .zip(h.within)
                    .map(|(&seconds, abandons)| Within {
                        seconds,
                        abandons,
                        share: share(abandons),
                    })
                    .collect(),
            })
            .collect();
        heard.sort_by(|a, b| b.abandons.cmp(&a.abandons).then_with(|| a.name.cmp(&b.name)));
        Figures {
            calls: self.calls,
            outcomes: self.outcomes,
            truncated: self.truncated,
            hold_time: HoldFigures::of(&holds),
            keys: self.keys.clone(),
            prompts: self.prompts.clone(),
            abandons: AbandonFigures {
                count: self.abandons,
                heard,
            },
        }
    }
}

/// A group's figures (the JSON schema's `Group`, docs/report.md).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    pub calls: u64,
    pub outcomes: Outcomes,
    pub truncated: u64,
    pub hold_time: HoldFigures,
    pub keys: BTreeMap<String, u64>,
    pub prompts: BTreeMap<String, u64>,
    pub abandons: AbandonFigures,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HoldFigures {
    pub mean: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub max: f64,
    pub histogram: Vec<Bin>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bin {
    pub from: u64,
    /// `null` for the last, open bin.
    pub to: Option<u64>,
    pub calls: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AbandonFigures {
    pub count: u64,
    pub heard: Vec<HeardFigures>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeardFigures {
    pub kind: String,
    pub name: String,
    pub abandons: u64,
    /// Of all the group's abandons.
    pub share: f64,
    pub within: Vec<Within>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Within {
    pub seconds: u64,
    pub abandons: u64,
    /// Of all the group's abandons.
    pub share: f64,
}

impl HoldFigures {
    fn of(sorted: &[f64]) -> HoldFigures {
        let mean = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().sum::<f64>() / sorted.len() as f64
        };
        let histogram = HOLD_BINS
            .iter()
            .enumerate()
            .map(|(i, &from)| {
                let to = HOLD_BINS.get(i + 1).copied();
                let calls = sorted
                    .iter()
                    .filter(|&&h| h >= from as f64 && to.is_none_or(|to| h < to as f64))
                    .count() as u64;
                Bin { from, to, calls }
            })
            .collect();
        HoldFigures {
            mean: round(mean, 2),
            p50: percentile(sorted, 50),
            p75: percentile(sorted, 75),
            p90: percentile(sorted, 90),
            p95: percentile(sorted, 95),
            max: round(sorted.last().copied().unwrap_or(0.0), 2),
            histogram,
        }
    }
}

/// Nearest rank: the smallest value with at least `p` % of the values at
/// or below it (0 for none).
fn percentile(sorted: &[f64], p: u64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    round(sorted[rank - 1], 2)
}

fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

#[cfg(test)]
mod tests {
    use super::super::call::Heard;
    use super::*;

    fn call(hold: f64, heard: Option<(&'static str, &str, f64)>) -> CallSummary {
        CallSummary {
            hold,
            heard: heard.map(|(kind, name, after)| Heard {
                kind,
                name: name.to_string(),
                after,
            }),
            ..CallSummary::default()
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50), 5.0);
        assert_eq!(percentile(&v, 90), 9.0);
        assert_eq!(percentile(&v, 95), 10.0);
        assert_eq!(percentile(&[7.0], 50), 7.0);
        assert_eq!(percentile(&[], 50), 0.0);
    }

    #[test]
    fn abandons_are_attributed_to_what_played_and_how_soon() {
        let mut g = Group::default();
        g.add(
            &call(40.0, Some(("prompt", "advice/first 02-app.wav", 3.0))),
            End::Abandoned,
        );
        g.add(
            &call(50.0, Some(("prompt", "advice/first 02-app.wav", 20.0))),
            End::Abandoned,
        );
        g.add(&call(70.0, Some(("music", "bed.wav", 4.0))), End::Abandoned);
        g.add(&call(10.0, Some(("music", "bed.wav", 1.0))), End::Answered);
        g.add(&call(15.0, None), End::Abandoned);
        let f = g.figures();
        assert_eq!(f.calls, 5);
        assert_eq!((f.outcomes.abandoned, f.outcomes.answered), (4, 1));
        assert_eq!(f.abandons.count, 4);
        let app = &f.abandons.heard[0];
        assert_eq!(
            (app.name.as_str(), app.abandons, app.share),
            ("advice/first 02-app.wav", 2, 0.5)
        );
        assert_eq!((app.within[0].abandons, app.within[0].share), (1, 0.25));
        assert_eq!(app.within[2].abandons, 2);
        let kinds: Vec<&str> = f.abandons.heard.iter().map(|h| h.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["prompt", "unknown", "music"],
            "a call without an exit line is counted too (name `-` sorts first)"
        );
        assert_eq!(f.hold_time.histogram[0].calls, 1, "10 s in 0..15");
        assert_eq!(f.hold_time.histogram[1].calls, 1, "15 s in 15..30");
        assert_eq!(f.hold_time.histogram[2].calls, 2, "40 and 50 s in 30..60");
        assert_eq!(f.hold_time.p50, 40.0);
        assert_eq!(f.hold_time.mean, 37.0);
    }
}
