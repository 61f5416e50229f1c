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

/// The grammatical gender a value agrees with. English ignores it; Russian
/// says один / одна / одно, два / две, третий / третья / третье.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gender {
    #[default]
    Masculine,
    Feminine,
    Neuter,
}

impl Gender {
    pub fn parse(s: &str) -> Option<Gender> {
        match s.to_ascii_lowercase().as_str() {
            "m" | "masculine" => Some(Gender::Masculine),
            "f" | "feminine" => Some(Gender::Feminine),
            "n" | "neuter" => Some(Gender::Neuter),
            _ => None,
        }
    }
}

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

    /// Every token the language can produce (what a sound map may name).
    pub fn tokens(self) -> Vec<String> {
        match self {
            Lang::En => en::all_tokens(),
            Lang::Ru => ru::all_tokens(),
        }
    }

    /// Tokens a map need not record: gendered forms that only a template
    /// asking for that gender uses, and that fall back by rule (see
    /// [`speak`]). `holdmix check` does not count them as missing.
    pub fn optional_tokens(self) -> Vec<String> {
        match self {
            Lang::En => Vec::new(),
            Lang::Ru => ru::gendered_tokens(),
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

/// The tokens that say `text` as `kind` in `lang` (masculine).
pub fn say(lang: Lang, kind: Kind, text: &str) -> Result<Vec<String>, ValueError> {
    say_as(lang, kind, text, Gender::Masculine)
}

/// Why a value was not said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsaid {
    /// The value itself is not one of its kind.
    Value(ValueError),
    /// A word has no recording in any form (the token).
    NoRecording(String),
}

impl std::fmt::Display for Unsaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsaid::Value(e) => write!(f, "{e}"),
            Unsaid::NoRecording(t) => write!(f, "no recording for {t}"),
        }
    }
}

/// `text` said as `kind` through `map`, whole or not at all.
///
/// An ordinal whose ordinal words the map lacks is said as its cardinal,
/// whole (in the same gender): "вы два" rather than a dropped position,
/// and "две тысячи" rather than "два тысячный" pieced from other forms.
/// Asterisk's Russian core sounds have no ordinal recordings at all, so
/// through them every ordinal is said this way.
pub fn speak(map: &map::SoundMap, kind: Kind, text: &str, gender: Gender) -> Result<map::Spoken, Unsaid> {
    let tokens = say_as(map.lang, kind, text, gender).map_err(Unsaid::Value)?;
    let lacks_ordinal = kind == Kind::Ordinal && tokens.iter().any(|t| t.starts_with("ord-") && !map.has(t));
    if !lacks_ordinal {
        return map.speak(&tokens).map_err(Unsaid::NoRecording);
    }
    let cardinal_tokens = say_as(map.lang, Kind::Number, text, gender).map_err(Unsaid::Value)?;
    let mut spoken = map.speak(&cardinal_tokens).map_err(Unsaid::NoRecording)?;
    spoken
        .substituted
        .insert(0, (format!("ordinal {text}"), format!("cardinal {text}")));
    Ok(spoken)
}

/// The tokens that say `text` as `kind` in `lang`, agreeing with `gender`
/// where the language has one (numbers and ordinals; money, minutes and
/// identifiers have their own).
pub fn say_as(lang: Lang, kind: Kind, text: &str, gender: Gender) -> Result<Vec<String>, ValueError> {
    let mut out = Vec::new();
    match kind {
        Kind::Number => {
            let (neg, n) = value::integer(text)?;
            if neg && n > 0 {
                out.push("minus".to_string());
            }
            match lang {
                Lang::En => en::cardinal(n, &mut out),
                Lang::Ru => ru::cardinal(n, gender, &mut out),
            }
        }
        Kind::Ordinal => {
            let (neg, n) = value::integer(text)?;
            if neg || n == 0 {
                return Err(ValueError::new(text, "an ordinal is a whole number from 1"));
            }
            match lang {
                Lang::En => en::ordinal(n, &mut out),
                Lang::Ru => ru::ordinal(n, gender, &mut out),
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
        Lang::Ru => ru::cardinal(n, Gender::Masculine, out),
    }
}
