//! Diagnostics about a playlist: where (file:line:column), which key, what
//! is wrong and how to fix it. Ops staff read these, so every one names the
//! place and, where it can, suggests the fix.

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

/// Collects diagnostics for one playlist file, turning byte spans into
/// line:column.
pub struct Diags<'t> {
    file: PathBuf,
    text: &'t str,
    pub list: Vec<Diagnostic>,
}

impl<'t> Diags<'t> {
    pub fn new(file: &Path, text: &'t str) -> Self {
        Diags {
            file: file.to_path_buf(),
            text,
            list: Vec::new(),
        }
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
        let (line, column) = line_col(self.text, span.start);
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
        line_col(self.text, span.start)
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
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

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
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

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("a = 1\nbé = 2\n", 0), (1, 1));
        assert_eq!(line_col("a = 1\nbé = 2\n", 6), (2, 1));
        assert_eq!(line_col("a = 1\nbé = 2\n", 9), (2, 3));
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("crosfade", ["tracks", "crossfade"]), Some("crossfade"));
        assert_eq!(closest("zzz", ["tracks", "crossfade"]), None);
    }
}
