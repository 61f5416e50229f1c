//! Values as the world sends them, checked: integers, decimal amounts
//! exactly as billing systems write them, identifiers and durations. Never
//! floats: `"1000.5"` is 1000 units and 50 subunits, exactly.

use std::fmt;

/// Largest magnitude spoken: just under 10^18 (quintillion is not spoken).
pub const MAX: u64 = 999_999_999_999_999_999;

/// Rounds a wait for speaking: `None` under a minute, else whole minutes
/// (half a minute and more rounds up).
pub fn round_minutes(secs: u64) -> Option<u64> {
    (secs >= 60).then(|| (secs + 30) / 60)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub value: String,
    pub reason: String,
}

impl ValueError {
    pub fn new(value: &str, reason: &str) -> Self {
        ValueError {
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.value, self.reason)
    }
}

impl std::error::Error for ValueError {}

/// An amount of money: units and hundredths, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub negative: bool,
    pub units: u64,
    pub subunits: u64,
}

fn digits_value(text: &str, digits: &str) -> Result<u64, ValueError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(
            text,
            "not a number: write digits, e.g. 1234 or -2341.23",
        ));
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(ValueError::new(
            text,
            "too large to say (the limit is just under 10^18)",
        )),
    }
}

fn sign(text: &str) -> (bool, &str) {
    let t = text.trim();
    match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    }
}

/// A whole number, with its sign.
pub fn integer(text: &str) -> Result<(bool, u64), ValueError> {
    let (neg, digits) = sign(text);
    Ok((neg, digits_value(text, digits)?))
}

/// A decimal amount: `"1000.5"`, `"-2341.23"`, `"0"`, `"15023007000.30"`.
/// More than two decimals are accepted only as trailing zeros.
pub fn amount(text: &str) -> Result<Amount, ValueError> {
    let (negative, body) = sign(text);
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if body.contains('.') && frac.is_empty() {
        return Err(ValueError::new(text, "nothing after the decimal point"));
    }
    let units = digits_value(text, whole)?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(text, "not an amount: write e.g. 1234.56"));
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(ValueError::new(
            text,
            "more than two decimals: not an amount of money",
        ));
    }
    let subunits = match frac.len() {
        0 => 0,
        1 => u64::from(frac.as_bytes()[0] - b'0') * 10,
        _ => u64::from(frac.as_bytes()[0] - b'0') * 10 + u64::from(frac.as_bytes()[1] - b'0'),
    };
    Ok(Amount {
        negative,
        units,
        subunits,
    })
}

/// An identifier read digit group by digit group: digits only (spaces and
/// dashes between them are ignored), at most 64.
pub fn identifier(text: &str) -> Result<String, ValueError> {
    // A dash between digits is a separator (`200-045`); one in front is a
    // minus, and saying "-12" as "one two" would drop it unheard. `+12` is
    // refused below as not a digit: the two signs are refused alike.
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(ValueError::new(
            text,
            "an identifier has no sign: digits only, e.g. 200045",
        ));
    }
    if trimmed.ends_with('-') {
        return Err(ValueError::new(
            text,
            "a dash in an identifier goes between digits, e.g. 200-045",
        ));
    }
    let digits: String = trimmed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(text, "an identifier is digits only, e.g. 200045"));
    }
    if digits.len() > 64 {
        return Err(ValueError::new(
            text,
            "too long for an identifier (64 digits at most)",
        ));
    }
    Ok(digits)
}

/// A duration in whole seconds: `"90s"`, `"10m"`, `"59"`.
pub fn seconds(text: &str) -> Result<u64, ValueError> {
    crate::util::duration::parse(text)
        .map(|d| d.as_secs())
        .map_err(|e| ValueError::new(text, &format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_keep_separators_between_digits_and_refuse_signs() {
        assert_eq!(identifier("200045").unwrap(), "200045");
        assert_eq!(identifier(" 200-045 ").unwrap(), "200045");
        assert_eq!(identifier("200 045").unwrap(), "200045");
        for (bad, why) in [
            ("-12", "an identifier has no sign: digits only, e.g. 200045"),
            ("+12", "an identifier is digits only, e.g. 200045"),
            ("12-", "a dash in an identifier goes between digits, e.g. 200-045"),
            ("-", "an identifier has no sign: digits only, e.g. 200045"),
        ] {
            assert_eq!(identifier(bad), Err(ValueError::new(bad, why)), "{bad}");
        }
    }
}
