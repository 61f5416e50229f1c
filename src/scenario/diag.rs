//! Diagnostics about a playlist: where (file:line:column), which key, what
//! is wrong and how to fix it. Ops staff read these, so every one names the
//! place and, where it can, suggests the fix.

use crate::util::logging::DIAGNOSTIC;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `keys.3.action` (empty for the file itself).
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {sev}: ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// How many "did you mean" searches against a list that grows with the
/// file (prompt names, a directory's files) one playlist may cost: each is
/// linear in that list, so a file with 100,000 misses would be quadratic.
/// Only the first diagnostics are shown anyway ([`SHOWN`]).
pub const SEARCHES: usize = 100;

/// How many diagnostics `check` prints and `run` logs before one summary
/// line: a file with 100,000 errors must not write 100,000 lines at every
/// start and reload.
pub const SHOWN: usize = 50;

/// Collects diagnostics for one playlist file, turning byte spans into
/// line:column.
pub struct Diags<'t> {
    file: PathBuf,
    text: &'t str,
    /// Byte offset of each line's start, for a binary search per
    /// diagnostic (a rescan of the text per diagnostic is quadratic).
    lines: Vec<usize>,
    searches: usize,
    pub list: Vec<Diagnostic>,
}

impl<'t> Diags<'t> {
    pub fn new(file: &Path, text: &'t str) -> Self {
        let lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Diags {
            file: file.to_path_buf(),
            text,
            lines,
            searches: SEARCHES,
            list: Vec::new(),
        }
    }

    /// Whether one more search for a "did you mean" hint fits in the
    /// playlist's budget ([`SEARCHES`]); counts it.
    pub fn may_search(&mut self) -> bool {
        let ok = self.searches > 0;
        self.searches = self.searches.saturating_sub(1);
        ok
    }

    pub fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, span, key, message.into())
    }

    pub fn warning(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Warning, span, key, message.into())
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        key: &str,
        message: String,
    ) -> &mut Diagnostic {
        let (line, column) = self.locate(span);
        self.list.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            key: key.to_string(),
            message,
            hint: None,
        });
        let last = self.list.len() - 1;
        &mut self.list[last]
    }

    pub fn locate(&self, span: Range<usize>) -> (usize, usize) {
        line_col(self.text, &self.lines, span.start)
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether an error was reported after the first `mark` diagnostics
    /// (`list.len()` taken before reading something).
    pub fn any_error_since(&self, mark: usize) -> bool {
        let new = self.list.get(mark..).unwrap_or_default();
        new.iter().any(|d| d.severity == Severity::Error)
    }
}

impl Diagnostic {
    /// A diagnostic at `line:column` (found after parsing, e.g. a decode error).
    pub fn at(
        file: &Path,
        line: usize,
        column: usize,
        key: &str,
        severity: Severity,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            file: file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message,
            hint: None,
        }
    }

    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// 1-based line and column (in characters) of byte offset `at`, given the
/// offsets where lines start (`lines[0] == 0`).
fn line_col(text: &str, lines: &[usize], at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    // The last line starting at or before `at`.
    let line = lines.partition_point(|&start| start <= at).max(1);
    let line_start = lines.get(line - 1).copied().unwrap_or(0);
    let column = text.get(line_start..at).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The lines to print or log for `diagnostics`: the first `max` as they
/// are, then one line saying how many more there are (errors and warnings)
/// instead of one line each. Each line comes with the severity to log it
/// at (the summary: an error when it hides one).
pub fn summarize(diagnostics: &[Diagnostic], max: usize) -> impl Iterator<Item = (Severity, String)> + '_ {
    let shown = diagnostics.iter().take(max).map(|d| (d.severity, d.to_string()));
    let rest = diagnostics.get(max..).unwrap_or_default();
    let summary = (!rest.is_empty()).then(|| {
        let errors = rest.iter().filter(|d| d.severity == Severity::Error).count();
        let warnings = rest.len() - errors;
        let mut parts = Vec::new();
        if errors > 0 {
            parts.push(count(errors, "more error"));
        }
        if warnings > 0 {
            parts.push(count(warnings, "more warning"));
        }
        let severity = if errors > 0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        let file = rest
            .first()
            .map(|d| d.file.display().to_string())
            .unwrap_or_default();
        (
            severity,
            format!(
                "{file}: … and {} (only the first {max} are shown)",
                parts.join(" and ")
            ),
        )
    });
    shown.chain(summary)
}

/// Logs diagnostics as [`summarize`] gives them: errors as ERROR, warnings
/// as WARN, at most `SHOWN + 1` lines whatever the file holds.
pub fn log(diagnostics: &[Diagnostic]) {
    for (severity, line) in summarize(diagnostics, SHOWN) {
        match severity {
            Severity::Error => tracing::error!(target: DIAGNOSTIC, "{line}"),
            Severity::Warning => tracing::warn!(target: DIAGNOSTIC, "{line}"),
        }
    }
}

/// "1 more error", "99,950 more errors".
fn count(n: usize, what: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} {what}{}", if n == 1 { "" } else { "s" })
}

/// The valid name closest to `wrong`, if any is close enough to be a typo.
pub fn closest<'a>(wrong: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::damerau_levenshtein(wrong, v), v))
        .filter(|&(d, v)| d <= 2.max(v.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, offset: usize) -> (usize, usize) {
        Diags::new(Path::new("p.toml"), text).locate(offset..offset)
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(at("a = 1\nbé = 2\n", 0), (1, 1));
        assert_eq!(at("a = 1\nbé = 2\n", 5), (1, 6));
        assert_eq!(at("a = 1\nbé = 2\n", 6), (2, 1));
        assert_eq!(at("a = 1\nbé = 2\n", 9), (2, 3));
        assert_eq!(at("a = 1\nbé = 2\n", 14), (3, 1));
        assert_eq!(at("a = 1\nbé = 2\n", 99), (3, 1));
        assert_eq!(at("", 0), (1, 1));
    }

    fn errors(n: usize) -> Vec<Diagnostic> {
        (1..=n)
            .map(|i| {
                Diagnostic::at(
                    Path::new("p.toml"),
                    i,
                    1,
                    "k",
                    Severity::Error,
                    format!("bad {i}"),
                )
            })
            .collect()
    }

    #[test]
    fn a_few_diagnostics_are_shown_as_they_are() {
        let lines: Vec<_> = summarize(&errors(3), 50).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            (Severity::Error, "p.toml:3:1: error: k: bad 3".to_string())
        );
    }

    #[test]
    fn many_diagnostics_end_with_one_summary_line() {
        let mut all = errors(100_000);
        all.push(Diagnostic::at(
            Path::new("p.toml"),
            100_001,
            1,
            "",
            Severity::Warning,
            "w".into(),
        ));
        let lines: Vec<_> = summarize(&all, 50).collect();
        assert_eq!(lines.len(), 51);
        assert_eq!(lines[49].1, "p.toml:50:1: error: k: bad 50");
        assert_eq!(
            lines[50],
            (
                Severity::Error,
                "p.toml: … and 99,950 more errors and 1 more warning (only the first 50 are shown)"
                    .to_string()
            )
        );
        let warnings = vec![all[100_000].clone(); 2];
        assert_eq!(
            summarize(&warnings, 1).last(),
            Some((
                Severity::Warning,
                "p.toml: … and 1 more warning (only the first 1 are shown)".to_string()
            ))
        );
    }

    #[test]
    fn searches_are_budgeted() {
        let mut d = Diags::new(Path::new("p.toml"), "");
        assert_eq!((0..SEARCHES + 5).filter(|_| d.may_search()).count(), SEARCHES);
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("crosfade", ["tracks", "crossfade"]), Some("crossfade"));
        assert_eq!(closest("zzz", ["tracks", "crossfade"]), None);
    }
}
