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
            Some(n) => Err(anyhow::anyhow!("{n} seconds is out of range")),
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
            let n = i64::from_str_radix(digits, i.radix()).ok()? as f64;
            Some(if s.starts_with('-') { -n } else { n })
        }
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        _ => None,
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
