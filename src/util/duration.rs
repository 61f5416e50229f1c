//! Durations as people write them: `20s`, `1.5s`, `500ms`, `2m`, `1m30s`, or
//! a bare number of seconds.

use anyhow::{Result, bail};
use std::time::Duration;

pub fn parse(text: &str) -> Result<Duration> {
    let t = text.trim();
    if t.is_empty() {
        bail!("empty duration");
    }
    if let Ok(secs) = t.parse::<f64>() {
        return from_secs(secs, t);
    }
    // humantime has no fractions ("1.5s"): handle a single fractional unit here.
    for (unit, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] {
        if let Some(num) = t.strip_suffix(unit)
            && let Ok(v) = num.trim().parse::<f64>()
        {
            return from_secs(v * scale, t);
        }
    }
    match humantime::parse_duration(t) {
        Ok(d) => Ok(d),
        Err(e) => bail!("bad duration {t:?} ({e}); write e.g. 20s, 500ms, 1m30s"),
    }
}

fn from_secs(secs: f64, text: &str) -> Result<Duration> {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        bail!("bad duration {text:?}: must be between 0 and 1e9 seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Serde adapter: a duration field written as a string (`"1s"`) or a number of seconds.
pub mod serde_dur {
    use serde::{Deserialize, Deserializer, de::Error};
    use std::time::Duration;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Num(n) => super::from_secs(n, &n.to_string()).map_err(D::Error::custom),
            Raw::Text(t) => super::parse(&t).map_err(|e| D::Error::custom(format!("{e:#}"))),
        }
    }

    pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert!(parse("-1s").is_err());
        assert!(parse("soon").is_err());
    }
}
