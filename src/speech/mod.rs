//! Speaking values: numbers, ordinals, money, identifiers and durations
//! turned into sequences of sound tokens, per language. A sound map (data,
//! per site) then turns tokens into files.
//!
//! Tokens are plain names: `7`, `20`, `hundred`, `thousand`, `minus`,
//! `ord-3`, `unit-one`, `minutes-many`... Each language has its own set
//! (Russian needs gendered and plural forms: `1f`, `thousand-few`), listed
//! by [`Lang::tokens`].

mod en;
pub mod map;
mod ru;
pub mod value;

pub use value::{Amount, MAX, ValueError, round_minutes};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Number,
    Ordinal,
    Money,
    Digits,
    Duration,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "english" => Some(Lang::En),
            "ru" | "russian" => Some(Lang::Ru),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// Every token the language can produce (what a sound map must cover).
    pub fn tokens(self) -> Vec<String> {
        match self {
            Lang::En => en::all_tokens(),
            Lang::Ru => ru::all_tokens(),
        }
    }
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "number" => Some(Kind::Number),
            "ordinal" => Some(Kind::Ordinal),
            "money" => Some(Kind::Money),
            "digits" => Some(Kind::Digits),
            "duration" => Some(Kind::Duration),
            _ => None,
        }
    }
}

/// The tokens that say `text` as `kind` in `lang`.
pub fn say(lang: Lang, kind: Kind, text: &str) -> Result<Vec<String>, ValueError> {
    let mut out = Vec::new();
    match kind {
        Kind::Number => {
            let (neg, n) = value::integer(text)?;
            if neg && n > 0 {
                out.push("minus".to_string());
            }
            cardinal(lang, n, &mut out);
        }
        Kind::Ordinal => {
            let (neg, n) = value::integer(text)?;
            if neg || n == 0 {
                return Err(ValueError::new(text, "an ordinal is a whole number from 1"));
            }
            match lang {
                Lang::En => en::ordinal(n, &mut out),
                Lang::Ru => ru::ordinal(n, &mut out),
            }
        }
        Kind::Money => {
            let a = value::amount(text)?;
            if a.negative && (a.units > 0 || a.subunits > 0) {
                out.push("minus".to_string());
            }
            match lang {
                Lang::En => en::money(a.units, a.subunits, &mut out),
                Lang::Ru => ru::money(a.units, a.subunits, &mut out),
            }
        }
        Kind::Digits => {
            let digits = value::identifier(text)?;
            // Groups of three from the left, as the old hack read account
            // numbers: "200045" is "two hundred, zero forty-five".
            for (i, group) in digits.as_bytes().chunks(3).enumerate() {
                if i > 0 {
                    out.push("pause".to_string());
                }
                let zeros = group.iter().take_while(|&&b| b == b'0').count();
                let rest = &group[zeros..];
                for _ in 0..zeros {
                    out.push("0".to_string());
                }
                if !rest.is_empty() {
                    let n: u64 = std::str::from_utf8(rest)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    cardinal(lang, n, &mut out);
                }
            }
        }
        Kind::Duration => {
            let secs = value::seconds(text)?;
            match lang {
                Lang::En => en::duration(secs, &mut out),
                Lang::Ru => ru::duration(secs, &mut out),
            }
        }
    }
    Ok(out)
}

fn cardinal(lang: Lang, n: u64, out: &mut Vec<String>) {
    match lang {
        Lang::En => en::cardinal(n, out),
        Lang::Ru => ru::cardinal(n, ru::Gender::Masculine, out),
    }
}
