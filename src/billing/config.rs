//! What the playlist's `[billing]` table says: where balances come from and
//! how to read them. Parsed (with diagnostics) by `scenario`; used by the
//! lookup worker. Secrets are named here (a file or an environment
//! variable), never held: they are read when a lookup starts.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct BillingConfig {
    pub source: Source,
    pub number: NumberRules,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A billing API over HTTP(S).
    Http(Box<HttpConfig>),
    /// A local accounts file (TOML or JSON): the embedded default for demos
    /// and tests, used when no URL is configured.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// May hold `{number}`, replaced by the percent-encoded number.
    pub url: String,
    pub method: Method,
    /// Query (GET) or form (POST) field carrying the number, unless the URL
    /// has `{number}`.
    pub param: String,
    pub auth: Auth,
    /// For each attempt.
    pub timeout: Duration,
    /// Attempts after the first, on a timeout, a connection error or a 5xx.
    pub retries: u32,
    /// How the answer is encoded.
    pub format: Format,
    pub fields: Fields,
}

/// The encoding of a billing answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// PHP's `serialize()`, as the old hack's billing answered (see `php`).
    Php,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Basic { user: String, secret: Secret },
    Bearer { secret: Secret },
}

/// Where a credential is read from; its value never enters a config, a log
/// or a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

impl Secret {
    /// The first line of the file, or the variable's value.
    pub fn read(&self) -> Result<String, String> {
        let value = match self {
            // Bounded, regular files only: see `util::files`.
            Secret::File(p) => crate::util::files::read_secret_line(p)
                .map_err(|e| format!("cannot read the billing secret: {e}"))?,
            Secret::Env(name) => {
                std::env::var(name).map_err(|_| format!("${name} (the billing secret) is not set"))?
            }
        };
        if value.is_empty() {
            return Err(match self {
                Secret::File(p) => format!("{}: the billing secret is empty", p.display()),
                Secret::Env(name) => format!("${name} (the billing secret) is empty"),
            });
        }
        Ok(value)
    }
}

/// Where the parts of an account are in the JSON answer: dotted paths,
/// array indices as numbers (`data.accounts`, `result.0.id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    /// The list of accounts (or one account object); empty: the whole body.
    pub accounts: String,
    /// Inside an account.
    pub id: String,
    pub balance: String,
    pub currency: String,
    pub locked: String,
    /// When set, `locked` holds a status and this value of it means locked
    /// (the old hack's billing: `Status` -2); else it is true/false (or 1/0).
    pub locked_value: Option<i64>,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            accounts: "accounts".into(),
            id: "id".into(),
            balance: "balance".into(),
            currency: "currency".into(),
            locked: "locked".into(),
            locked_value: None,
        }
    }
}

impl Fields {
    /// The old hack's billing: one array `IDUser`, `Balance`, `Status` (or a
    /// list of them), `Status` -2 for a locked account.
    pub fn hack() -> Fields {
        Fields {
            accounts: String::new(),
            id: "IDUser".into(),
            balance: "Balance".into(),
            currency: "Currency".into(),
            locked: "Status".into(),
            locked_value: Some(-2),
        }
    }
}

/// How the caller's number is rewritten before the lookup.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumberRules {
    /// Characters removed first (spaces, dashes, brackets...).
    pub strip: String,
    /// Prefix rewrites, e.g. `"+7" → "8"`; the longest matching one applies.
    pub prefixes: Vec<(String, String)>,
}

impl NumberRules {
    pub fn apply(&self, number: &str) -> String {
        let mut n: String = number.chars().filter(|c| !self.strip.contains(*c)).collect();
        let best = self
            .prefixes
            .iter()
            .filter(|(from, _)| n.starts_with(from.as_str()))
            .max_by_key(|(from, _)| from.len());
        if let Some((from, to)) = best {
            n = format!("{to}{}", &n[from.len()..]);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_after_strip() {
        let r = NumberRules {
            strip: " -()".into(),
            prefixes: vec![
                ("7".into(), "8".into()),
                ("+7".into(), "8".into()),
                ("+".into(), "00".into()),
            ],
        };
        assert_eq!(r.apply("+7 (916) 123-45-67"), "89161234567");
        assert_eq!(r.apply("79161234567"), "89161234567");
        assert_eq!(r.apply("+44 20 7946 0000"), "00442079460000");
        assert_eq!(r.apply("89161234567"), "89161234567");
    }
}
