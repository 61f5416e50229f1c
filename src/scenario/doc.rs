//! Typed reading of a parsed TOML document that keeps going after a bad
//! value. Serde would stop at the first problem; ops staff want every
//! problem of a file in one `holdmix check`, each with its line and column,
//! so fields are read one by one here and every miss becomes a diagnostic.

use super::diag::{Diags, closest};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A value in the document with its dotted key path.
#[derive(Clone, Copy)]
pub struct Node<'a, 'i> {
    pub value: &'a Spanned<DeValue<'i>>,
    pub path: &'a str,
}

/// A table in the document.
pub struct Table<'a, 'i> {
    pub map: &'a DeTable<'i>,
    pub span: Range<usize>,
    pub path: String,
}

impl<'a, 'i> Table<'a, 'i> {
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Table {
            map: doc.get_ref(),
            span: 0..0,
            path: String::new(),
        }
    }

    /// `path.key` (or `key` at the root).
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.map.get(key)
    }

    /// The entries in file order (by position), with each key's span.
    pub fn entries(&self) -> Vec<(&'a str, Range<usize>, &'a Spanned<DeValue<'i>>)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(k, val)| (k.get_ref().as_ref(), k.span(), val))
            .collect();
        v.sort_by_key(|(_, span, _)| span.start);
        v
    }

    /// Reports every key not in `known`, suggesting the closest valid one.
    pub fn deny_unknown(&self, d: &mut Diags, known: &[&str]) {
        for (key, span, _) in self.entries() {
            if known.contains(&key) {
                continue;
            }
            let msg = format!("unknown key `{key}`");
            let e = d.error(span, &self.key_path(key), msg);
            match closest(key, known.iter().copied()) {
                Some(c) => e.hint(format!("did you mean `{c}`?")),
                None => e.hint(format!("valid keys here: {}", known.join(", "))),
            };
        }
    }

    pub fn table(&self, d: &mut Diags, key: &str) -> Option<Table<'a, 'i>> {
        let v = self.get(key)?;
        as_table(d, v, &self.key_path(key))
    }

    pub fn str(&self, d: &mut Diags, key: &str) -> Option<(&'a str, Range<usize>)> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.as_ref(), v.span())),
            other => {
                type_error(d, v.span(), &self.key_path(key), "a string", other);
                None
            }
        }
    }

    pub fn bool(&self, d: &mut Diags, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                type_error(d, v.span(), &self.key_path(key), "true or false", other);
                None
            }
        }
    }

    /// A number (integer or float).
    pub fn number(&self, d: &mut Diags, key: &str) -> Option<(f64, Range<usize>)> {
        let v = self.get(key)?;
        match number(v.get_ref()) {
            Some(n) => Some((n, v.span())),
            None => {
                type_error(d, v.span(), &self.key_path(key), "a number", v.get_ref());
                None
            }
        }
    }

    /// A whole number from `min` to `max`, with its span. A fraction, or
    /// a number out of range, is a diagnostic that says the range: "too
    /// large: at most 20", never "expected a number".
    pub fn whole(&self, d: &mut Diags, key: &str, min: u64, max: u64) -> Option<(u64, Range<usize>)> {
        let (n, span) = self.number(d, key)?;
        let path = self.key_path(key);
        let written = self
            .get(key)
            .map_or_else(|| shown(n), |v| as_written(v.get_ref(), n));
        let problem = if n > max as f64 {
            format!("{written} is too large: at most {max}")
        } else if n < min as f64 {
            format!("{written} is too small: a whole number from {min} to {max}")
        } else if n.fract() != 0.0 {
            format!("{written} is not a whole number: write one from {min} to {max}")
        } else {
            return Some((n as u64, span));
        };
        d.error(span, &path, problem);
        None
    }

    /// A duration: `"20s"`, `"1m30s"`, `"500ms"` or a number of seconds.
    pub fn duration(&self, d: &mut Diags, key: &str) -> Option<Duration> {
        let v = self.get(key)?;
        let path = self.key_path(key);
        duration(d, v, &path)
    }

    /// A string or a list of strings, each with its span.
    pub fn strings(&self, d: &mut Diags, key: &str) -> Option<Vec<(&'a str, Range<usize>)>> {
        let v = self.get(key)?;
        strings(d, v, &self.key_path(key))
    }
}

pub fn as_table<'a, 'i>(d: &mut Diags, v: &'a Spanned<DeValue<'i>>, path: &str) -> Option<Table<'a, 'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(Table {
            map: t,
            span: v.span(),
            path: path.to_string(),
        }),
        other => {
            type_error(d, v.span(), path, "a table", other);
            None
        }
    }
}

pub fn duration(d: &mut Diags, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Duration> {
    let parsed = match v.get_ref() {
        DeValue::String(s) => crate::util::duration::parse(s),
        other => match number(other) {
            Some(n) if n.is_finite() && (0.0..=1e9).contains(&n) => Ok(Duration::from_secs_f64(n)),
            Some(n) if n < 0.0 => Err(anyhow::anyhow!("{} seconds is negative", as_written(other, n))),
            Some(n) => Err(anyhow::anyhow!(
                "{} seconds is too large: at most 1000000000 (about 31 years)",
                as_written(other, n)
            )),
            None => {
                type_error(d, v.span(), path, "a duration such as \"20s\"", other);
                return None;
            }
        },
    };
    match parsed {
        Ok(dur) => Some(dur),
        Err(e) => {
            d.error(v.span(), path, format!("{e:#}"))
                .hint("write e.g. \"20s\", \"500ms\", \"2m\" or \"1m30s\"");
            None
        }
    }
}

pub fn strings<'a>(
    d: &mut Diags,
    v: &'a Spanned<DeValue<'_>>,
    path: &str,
) -> Option<Vec<(&'a str, Range<usize>)>> {
    match v.get_ref() {
        DeValue::String(s) => Some(vec![(s.as_ref(), v.span())]),
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.get_ref() {
                    DeValue::String(s) => out.push((s.as_ref(), item.span())),
                    other => type_error(d, item.span(), &format!("{path}[{i}]"), "a string", other),
                }
            }
            Some(out)
        }
        other => {
            type_error(d, v.span(), path, "a string or a list of strings", other);
            None
        }
    }
}

pub fn number(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Integer(i) => {
            let s = i.as_str().replace('_', "");
            let digits = s.trim_start_matches(['+', '-']);
            let digits = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0o"))
                .or_else(|| digits.strip_prefix("0b"))
                .unwrap_or(digits);
            // Beyond i64 it is still a number, only too large for any key:
            // the caller's range check says so ("at most 20"), where
            // refusing it here would call it "not a number".
            let n = match (i64::from_str_radix(digits, i.radix()), i.radix()) {
                (Ok(n), _) => n as f64,
                (Err(_), 10) => digits.parse().ok()?,
                (Err(_), radix) => digits.chars().try_fold(0.0, |acc: f64, c| {
                    c.to_digit(radix).map(|d| acc * f64::from(radix) + f64::from(d))
                })?,
            };
            Some(if s.starts_with('-') { -n } else { n })
        }
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// A number as a message shows it: as written when it is whole and of a
/// readable size, in scientific notation when huge or tiny (`1e300`, not
/// three hundred digits).
pub fn shown(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e16 {
        format!("{}", n as i64)
    } else if n != 0.0 && (n.abs() >= 1e16 || n.abs() < 1e-4) {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

/// A number `v` (read as `n`) as the file writes it, when that is short
/// enough to read; else as [`shown`].
pub fn as_written(v: &DeValue<'_>, n: f64) -> String {
    let text = match v {
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        _ => String::new(),
    };
    if text.is_empty() || text.len() > 24 {
        shown(n)
    } else {
        text
    }
}

pub fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

pub fn type_error(d: &mut Diags, span: Range<usize>, path: &str, expected: &str, got: &DeValue<'_>) {
    d.error(span, path, format!("expected {expected}, found {}", kind(got)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_short() {
        assert_eq!(shown(20.0), "20");
        assert_eq!(shown(-3.0), "-3");
        assert_eq!(shown(2.5), "2.5");
        assert_eq!(shown(1e300), "1e300");
        assert_eq!(shown(1e20), "1e20");
        assert_eq!(shown(f64::INFINITY), "inf");
    }

    /// An integer beyond i64 is a (too large) number, not "not a number".
    #[test]
    fn huge_integers_are_numbers() {
        let (doc, errors) =
            DeTable::parse_recoverable("a = 99999999999999999999\nb = 0xffffffffffffffffff\n");
        assert!(errors.is_empty());
        let root = Table::root(&doc);
        let value = |k: &str| root.get(k).and_then(|v| number(v.get_ref()));
        assert_eq!(value("a"), Some(1e20));
        assert_eq!(value("b"), Some(2f64.powi(72) - 1.0));
    }
}
