//! What a generator reports to its hub, in words both sides share: one
//! line per thing counted, on the hub socket after the `SUBSCRIBE` line
//! (see `hub::protocol`):
//!
//! ```text
//! COUNT start
//! COUNT exit reason=sighup
//! COUNT key action=next-music
//! COUNT prompt queue=advice/tips
//! OBSERVE billing outcome=accounts 0.153
//! ```
//!
//! Every name, label and value comes from a fixed set (a prompt queue
//! from a fixed shape, and the hub keeps a bounded number of them): a
//! client cannot make the hub grow a series per line it sends. Nothing a
//! caller typed or is (a number, a digit) has a word here.

use std::fmt::Write;

/// Longest report line the hub reads; anything longer is not a report.
pub const MAX_LINE: usize = 128;

/// The reasons a generator ends with, as `run::Exit` words them.
pub const EXIT_REASONS: [&str; 9] = [
    "sighup",
    "sigterm",
    "sigint",
    "signal",
    "hangup",
    "music-stopped",
    "reader-gone",
    "write-error",
    "orphaned",
];

/// A key's outcome besides its action's name: no action bound, pressed
/// again within its debounce, pressed while its window is closed.
pub const KEY_OUTCOMES: [&str; 3] = ["none", "debounced", "closed"];

/// The speaker's own queues (an advice group's is `advice/<group>`):
/// `control` is a control socket's `play`, `plan` a hold plan's items.
pub const PROMPT_QUEUES: [&str; 10] = [
    "welcome", "repeat", "key", "position", "wait", "balance", "dissuade", "redirect", "control", "plan",
];

/// What the store failed at: reading a caller at start, or writing.
pub const STORE_OPS: [&str; 2] = ["load", "write"];

/// A billing lookup's answer.
pub const BILLING_OUTCOMES: [&str; 3] = ["accounts", "none", "failed"];

/// Longest advice group name kept in a prompt queue's label.
const GROUP_LEN: usize = 32;

/// One report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The generator started streaming a call.
    Start,
    /// It took up a call an earlier generator played (a checkpoint).
    Resume,
    /// It ended, for this reason (one of [`EXIT_REASONS`]).
    Exit(&'static str),
    /// A key was pressed: its action's name, or one of [`KEY_OUTCOMES`].
    Key(&'static str),
    /// A prompt started, from this speaker queue.
    Prompt(String),
    /// The reader stalled (at most one a minute per generator: see `send`).
    Stall,
    /// The callers' store failed (one of [`STORE_OPS`]).
    StoreError(&'static str),
    /// A billing lookup: its outcome and how long it took.
    Billing { outcome: &'static str, seconds: f64 },
}

impl Report {
    /// An exit by `reason`; `None` for a word that is not an exit reason.
    pub fn exit(reason: &str) -> Option<Report> {
        find(&EXIT_REASONS, reason).map(Report::Exit)
    }

    /// A key by its action's name (or `none`, `debounced`); `None` for
    /// anything else.
    pub fn key(action: &str) -> Option<Report> {
        key_word(action).map(Report::Key)
    }

    /// A prompt from `queue`; a queue of another shape counts as `other`.
    pub fn prompt(queue: &str) -> Report {
        Report::Prompt(if queue_ok(queue) { queue } else { "other" }.to_string())
    }

    /// The line that carries it, newline included.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(48);
        match self {
            Report::Start => s.push_str("COUNT start"),
            Report::Resume => s.push_str("COUNT resume"),
            Report::Exit(r) => {
                let _ = write!(s, "COUNT exit reason={r}");
            }
            Report::Key(a) => {
                let _ = write!(s, "COUNT key action={a}");
            }
            Report::Prompt(q) => {
                let _ = write!(s, "COUNT prompt queue={q}");
            }
            Report::Stall => s.push_str("COUNT stall"),
            Report::StoreError(op) => {
                let _ = write!(s, "COUNT store_error op={op}");
            }
            Report::Billing { outcome, seconds } => {
                let _ = write!(s, "OBSERVE billing outcome={outcome} {seconds:.6}");
            }
        }
        s.push('\n');
        s
    }

    /// The report a line carries; `None` for anything not exactly one of
    /// the shapes above (an unknown name, label or value, a value out of
    /// range, a line too long).
    pub fn parse(line: &str) -> Option<Report> {
        if line.len() > MAX_LINE {
            return None;
        }
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let label = |w: &str, key: &str| -> Option<String> {
            let (k, v) = w.split_once('=')?;
            (k == key).then(|| v.to_string())
        };
        match words.as_slice() {
            ["COUNT", "start"] => Some(Report::Start),
            ["COUNT", "resume"] => Some(Report::Resume),
            ["COUNT", "stall"] => Some(Report::Stall),
            ["COUNT", "exit", l] => Report::exit(&label(l, "reason")?),
            ["COUNT", "key", l] => Report::key(&label(l, "action")?),
            ["COUNT", "prompt", l] => {
                let q = label(l, "queue")?;
                (queue_ok(&q) || q == "other").then_some(Report::Prompt(q))
            }
            ["COUNT", "store_error", l] => find(&STORE_OPS, &label(l, "op")?).map(Report::StoreError),
            ["OBSERVE", "billing", l, v] => {
                let outcome = find(&BILLING_OUTCOMES, &label(l, "outcome")?)?;
                let seconds: f64 = v.parse().ok()?;
                // A lookup is bounded by billing's timeouts: minutes at most.
                (seconds.is_finite() && (0.0..=3600.0).contains(&seconds))
                    .then_some(Report::Billing { outcome, seconds })
            }
            _ => None,
        }
    }
}

/// The word of `set` equal to `w`, as a `'static` str.
fn find(set: &[&'static str], w: &str) -> Option<&'static str> {
    set.iter().copied().find(|s| *s == w)
}

/// A key's word: an action's name or one of [`KEY_OUTCOMES`]; a key a
/// hold plan armed (`plan:<action>` in the timeline) counts under its
/// action, `ask` when it asks the plan again.
fn key_word(w: &str) -> Option<&'static str> {
    let plan = crate::webhook::answer::KEY_ACTIONS;
    if let Some(planned) = w.strip_prefix("plan:") {
        return find(plan, planned);
    }
    crate::scenario::Action::from_name(w)
        .map(crate::scenario::Action::name)
        .or_else(|| find(&KEY_OUTCOMES, w))
        .or_else(|| find(plan, w))
}

/// One of the speaker's queues, or `advice/<group>` with a short name of
/// letters, digits, `-`, `_` and `.`.
fn queue_ok(q: &str) -> bool {
    if PROMPT_QUEUES.contains(&q) {
        return true;
    }
    q.strip_prefix("advice/").is_some_and(|g| {
        !g.is_empty()
            && g.len() <= GROUP_LEN
            && g.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_round_trips_through_its_line() {
        let all = [
            Report::Start,
            Report::Resume,
            Report::Exit("orphaned"),
            Report::Key("next-music"),
            Report::Key("debounced"),
            Report::Key("ask"),
            Report::Prompt("plan".into()),
            Report::Prompt("control".into()),
            Report::Prompt("advice/tips-2".into()),
            Report::Prompt("welcome".into()),
            Report::Stall,
            Report::StoreError("write"),
            Report::Billing {
                outcome: "failed",
                seconds: 0.25,
            },
        ];
        for r in all {
            let line = r.to_line();
            assert!(line.ends_with('\n') && line.len() <= MAX_LINE, "{line:?}");
            assert_eq!(Report::parse(&line), Some(r));
        }
    }

    #[test]
    fn anything_outside_the_fixed_words_is_refused() {
        for bad in [
            "COUNT",
            "COUNT start extra",
            "COUNT made_up",
            "COUNT exit reason=because",
            "COUNT exit cause=sighup",
            "COUNT key action=79001112233",
            "COUNT key action=3",
            "COUNT prompt queue=advice/",
            "COUNT prompt queue=advice/a b",
            "COUNT prompt queue=advice/ünï",
            "COUNT prompt queue=anything",
            "COUNT store_error op=drop",
            "OBSERVE billing outcome=accounts",
            "OBSERVE billing outcome=accounts NaN",
            "OBSERVE billing outcome=accounts -1",
            "OBSERVE billing outcome=accounts 1e9",
            "OBSERVE billing outcome=maybe 0.1",
            "REDIRECT a 1 1",
        ] {
            assert_eq!(Report::parse(bad), None, "{bad:?}");
        }
        let long = format!("COUNT prompt queue=advice/{}", "a".repeat(GROUP_LEN + 1));
        assert_eq!(Report::parse(&long), None);
        let huge = format!("COUNT start{}", " ".repeat(MAX_LINE));
        assert_eq!(Report::parse(&huge), None, "a line over the limit");
    }

    #[test]
    fn a_generator_words_its_own_values_into_the_fixed_set() {
        assert_eq!(
            Report::prompt("advice/with space"),
            Report::Prompt("other".into())
        );
        assert_eq!(Report::prompt("position"), Report::Prompt("position".into()));
        assert_eq!(Report::key("say-balance"), Some(Report::Key("say-balance")));
        assert_eq!(Report::key("7"), None);
        // A key a hold plan armed counts under its action.
        assert_eq!(Report::key("plan:ask"), Some(Report::Key("ask")));
        assert_eq!(Report::key("plan:say-wait"), Some(Report::Key("say-wait")));
        assert_eq!(Report::key("plan:redirect"), None);
        assert_eq!(Report::prompt("control"), Report::Prompt("control".into()));
        assert_eq!(Report::prompt("plan"), Report::Prompt("plan".into()));
        assert_eq!(Report::exit("music-stopped"), Some(Report::Exit("music-stopped")));
    }
}
