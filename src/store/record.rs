//! What the store keeps: one record per caller number, the error type every
//! backend returns, and the limits a key or value must fit.

use std::collections::BTreeMap;

/// What holdmix remembers about a caller number across calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerRecord {
    /// The chosen music: the track's file path as the playlist names it
    /// (the old hack's `queue_music.music_class`). `None` means "no choice";
    /// writing a record with `None` keeps any stored choice.
    pub music: Option<String>,
    /// Where in that music the caller left off.
    pub offset_ms: u64,
    /// Advices already heard: advice key → unix seconds when heard. Writing
    /// merges into what is stored (the later time wins per key), so two
    /// overlapping processes never make an advice "unheard". Reading returns
    /// only the entries inside the heard window.
    pub heard: BTreeMap<String, i64>,
    /// The language the caller chose with a key (a code such as "en").
    /// `None` keeps any stored choice, as for `music`. Schema version 2.
    pub language: Option<String>,
}

/// Heard entries are kept at least this long (longer if the heard window is).
pub const HEARD_KEEP: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Longest caller number (Asterisk's `AST_MAX_EXTENSION`), in characters.
pub const MAX_NUMBER: usize = 80;
/// Longest music path and advice key, in characters.
pub const MAX_MUSIC: usize = 1024;
pub const MAX_ADVICE: usize = 512;
/// Longest language code (see `scenario::language`), in characters.
pub const MAX_LANGUAGE: usize = crate::scenario::language::MAX_CODE;

/// Why a store operation failed: worth retrying later, or never.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is busy: keep the data, retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The data itself is refused (too long, wrong type): retrying cannot help.
    #[error("store refused the data: {0}")]
    Rejected(String),
    /// The store specification or its password is unusable.
    #[error("store configuration: {0}")]
    Config(String),
}

/// One queued write. (An enum with one kind today, so the queue, the batch
/// and the backends need no change when another kind of record comes.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Caller(String, CallerRecord),
}

/// What a queued write is about: the newest write per key wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Caller(String),
}

impl Write {
    pub fn key(&self) -> Key {
        match self {
            Write::Caller(n, _) => Key::Caller(n.clone()),
        }
    }

    /// Folds a newer write for the same key into this one, leaving what the
    /// database would hold after writing both in order: a caller keeps its
    /// music choice if the newer record has none, and heard entries merge.
    pub fn absorb(&mut self, newer: Write) {
        let (Write::Caller(_, old), Write::Caller(_, mut new)) = (self, newer);
        if new.music.is_none() {
            new.music = old.music.take();
        }
        if new.language.is_none() {
            new.language = old.language.take();
        }
        for (k, at) in std::mem::take(&mut old.heard) {
            let e = new.heard.entry(k).or_insert(at);
            *e = (*e).max(at);
        }
        *old = new;
    }

    /// Checks the limits every backend can hold, before touching a database.
    pub fn validate(&self) -> Result<(), StoreError> {
        let too_long = |what: &str, len: usize, max: usize| {
            Err(StoreError::Rejected(format!("{what} longer than {max}: {len}")))
        };
        match self {
            Write::Caller(number, rec) => {
                let n = number.chars().count();
                if n > MAX_NUMBER {
                    return too_long("caller number", n, MAX_NUMBER);
                }
                if let Some(m) = &rec.music {
                    let n = m.chars().count();
                    if n > MAX_MUSIC {
                        return too_long("music", n, MAX_MUSIC);
                    }
                }
                if let Some(l) = &rec.language
                    && !crate::scenario::language::valid_code(l)
                {
                    let n = l.chars().count();
                    return Err(StoreError::Rejected(format!(
                        "language is not a code ({n} characters, at most {MAX_LANGUAGE})"
                    )));
                }
                if let Some(k) = rec.heard.keys().find(|k| k.chars().count() > MAX_ADVICE) {
                    return too_long("advice key", k.chars().count(), MAX_ADVICE);
                }
            }
        }
        Ok(())
    }
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `now - age` in unix seconds, saturating: entries with `at > cutoff` are younger than `age`.
pub fn cutoff(now: i64, age: std::time::Duration) -> i64 {
    now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_in_characters() {
        let ok = Write::Caller("ж".repeat(MAX_NUMBER), CallerRecord::default());
        assert!(ok.validate().is_ok());
        let long = Write::Caller("1".repeat(MAX_NUMBER + 1), CallerRecord::default());
        assert!(matches!(long.validate(), Err(StoreError::Rejected(_))));
        let mut rec = CallerRecord::default();
        rec.heard.insert("a".repeat(MAX_ADVICE + 1), 1);
        assert!(Write::Caller("1".into(), rec).validate().is_err());
    }

    #[test]
    fn absorb_is_writing_both_in_order() {
        let rec = |music: Option<&str>, offset, heard: &[(&str, i64)]| CallerRecord {
            music: music.map(str::to_string),
            offset_ms: offset,
            heard: heard.iter().map(|&(k, t)| (k.to_string(), t)).collect(),
            language: None,
        };
        let mut w = Write::Caller("1".into(), rec(Some("a"), 1, &[("x", 5), ("y", 1)]));
        w.absorb(Write::Caller("1".into(), rec(None, 2, &[("x", 3), ("z", 9)])));
        assert_eq!(
            w,
            Write::Caller("1".into(), rec(Some("a"), 2, &[("x", 5), ("y", 1), ("z", 9)]))
        );
        w.absorb(Write::Caller("1".into(), rec(Some("b"), 3, &[])));
        let Write::Caller(_, r) = &w;
        assert_eq!(
            (r.music.as_deref(), r.offset_ms, r.heard.len()),
            (Some("b"), 3, 3)
        );
    }

    #[test]
    fn cutoff_saturates() {
        assert_eq!(cutoff(100, std::time::Duration::from_secs(40)), 60);
        assert_eq!(cutoff(i64::MIN + 1, std::time::Duration::from_secs(40)), i64::MIN);
        assert_eq!(cutoff(0, std::time::Duration::MAX), i64::MIN + 1);
    }
}
