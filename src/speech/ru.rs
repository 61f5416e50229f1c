//! Russian: grammatical gender (один/одна, два/две: thousands, kopecks and
//! minutes are feminine; millions and rubles masculine), three plural forms
//! (1; 2-4; 0 and 5-20, with 11-14 always in the third) at every power of a
//! thousand.
//!
//! Tokens: `1m`/`1f`, `2m`/`2f`, `3`…`19`, tens `20`…`90`, hundreds
//! `100`…`900`, scales as `thousand-one|few|many` (тысяча, тысячи, тысяч),
//! `million-…`, `billion-…`, `trillion-…`, `quadrillion-…`; ordinals
//! (masculine, "третий") as `ord-1`…`ord-19`, `ord-20`…`ord-90`,
//! `ord-100`…`ord-900`, `ord-thousand`, `ord-million`. Neuter "одно" is
//! `1n` (neuter два is `2m`); feminine and neuter ordinals ("третья",
//! "третье") are the masculine token with `-f` / `-n`: `ord-3-f`.

pub use super::Gender;

/// Scales, largest first, with the gender their count takes.
const SCALES: [(u64, &str, Gender); 5] = [
    (1_000_000_000_000_000, "quadrillion", Gender::Masculine),
    (1_000_000_000_000, "trillion", Gender::Masculine),
    (1_000_000_000, "billion", Gender::Masculine),
    (1_000_000, "million", Gender::Masculine),
    (1_000, "thousand", Gender::Feminine),
];

/// The plural form a count takes: `one` (1, 21, 101), `few` (2-4, 22-24),
/// `many` (0, 5-20, 11-14, 25-30…).
pub fn form(n: u64) -> &'static str {
    let (d, dd) = (n % 10, n % 100);
    if (11..=14).contains(&dd) {
        "many"
    } else if d == 1 {
        "one"
    } else if (2..=4).contains(&d) {
        "few"
    } else {
        "many"
    }
}

pub fn cardinal(n: u64, gender: Gender, out: &mut Vec<String>) {
    if n == 0 {
        out.push("0".into());
        return;
    }
    let mut rest = n;
    for (scale, name, g) in SCALES {
        if rest >= scale {
            let count = rest / scale;
            below_thousand(count, g, out);
            out.push(format!("{name}-{}", form(count)));
            rest %= scale;
        }
    }
    if rest > 0 {
        below_thousand(rest, gender, out);
    }
}

fn below_thousand(n: u64, gender: Gender, out: &mut Vec<String>) {
    let (h, r) = (n / 100, n % 100);
    if h > 0 {
        out.push((h * 100).to_string());
    }
    if r >= 20 {
        out.push((r / 10 * 10).to_string());
        if r % 10 > 0 {
            out.push(unit(r % 10, gender));
        }
    } else if r > 0 {
        out.push(unit(r, gender));
    }
}

fn unit(n: u64, gender: Gender) -> String {
    match (n, gender) {
        (1, Gender::Masculine) => "1m".into(),
        (1, Gender::Feminine) => "1f".into(),
        (1, Gender::Neuter) => "1n".into(),
        (2, Gender::Masculine | Gender::Neuter) => "2m".into(),
        (2, Gender::Feminine) => "2f".into(),
        _ => n.to_string(),
    }
}

/// The ordinal word for `stem` (`3`, `thousand`) in `gender`.
fn ord(stem: impl std::fmt::Display, gender: Gender) -> String {
    match gender {
        Gender::Masculine => format!("ord-{stem}"),
        Gender::Feminine => format!("ord-{stem}-f"),
        Gender::Neuter => format!("ord-{stem}-n"),
    }
}

/// Ordinal ("вы третий в очереди", "третья линия"): the words before the last
/// stay cardinal, the last one becomes ordinal: 21 is "двадцать первый",
/// 1021 "тысяча двадцать первый". Round thousands and millions beyond the
/// first (двухтысячный…) are one fused word Russian builds freely; they are
/// said as the cardinal count followed by "тысячный" / "миллионный".
pub fn ordinal(n: u64, gender: Gender, out: &mut Vec<String>) {
    let low = n % 1000;
    let high = n - low;
    if low == 0 {
        let (word, scale) = if n.is_multiple_of(1_000_000) {
            ("million", 1_000_000)
        } else {
            ("thousand", 1000)
        };
        let count = n / scale;
        if count > 1 {
            cardinal(count, Gender::Masculine, out);
        }
        out.push(ord(word, gender));
        return;
    }
    if high > 0 {
        cardinal(high, Gender::Masculine, out);
    }
    let (h, r) = (low / 100, low % 100);
    if r == 0 {
        out.push(ord(h * 100, gender));
        return;
    }
    if h > 0 {
        out.push((h * 100).to_string());
    }
    if r < 20 || r % 10 == 0 {
        out.push(ord(r, gender));
    } else {
        out.push((r / 10 * 10).to_string());
        out.push(ord(r % 10, gender));
    }
}

/// Rubles (masculine) and kopecks (feminine): "один рубль", "две копейки".
/// Below one ruble the rubles are still said, as Russians read an amount:
/// "ноль рублей девяносто девять копеек".
pub fn money(units: u64, subunits: u64, out: &mut Vec<String>) {
    cardinal(units, Gender::Masculine, out);
    out.push(format!("unit-{}", form(units)));
    if subunits > 0 {
        cardinal(subunits, Gender::Feminine, out);
        out.push(format!("subunit-{}", form(subunits)));
    }
}

/// Minutes are feminine: "одна минута", "две минуты", "пять минут".
pub fn duration(secs: u64, out: &mut Vec<String>) {
    match super::value::round_minutes(secs) {
        None => out.push("less-than-a-minute".into()),
        Some(m) => {
            cardinal(m, Gender::Feminine, out);
            out.push(format!("minute-{}", form(m)));
        }
    }
}

pub fn all_tokens() -> Vec<String> {
    let mut t: Vec<String> = vec!["0".into(), "1m".into(), "1f".into(), "2m".into(), "2f".into()];
    t.extend((3..20).map(|n: u32| n.to_string()));
    t.extend((2..10).map(|n| (n * 10).to_string()));
    t.extend((1..10).map(|n| (n * 100).to_string()));
    for (_, name, _) in SCALES.iter().rev() {
        for f in ["one", "few", "many"] {
            t.push(format!("{name}-{f}"));
        }
    }
    t.extend((1..20).map(|n| format!("ord-{n}")));
    t.extend((2..10).map(|n| format!("ord-{}", n * 10)));
    t.extend((1..10).map(|n| format!("ord-{}", n * 100)));
    t.push("ord-thousand".into());
    t.push("ord-million".into());
    for w in ["unit", "subunit", "minute"] {
        for f in ["one", "few", "many"] {
            t.push(format!("{w}-{f}"));
        }
    }
    t.extend(["minus".into(), "pause".into(), "less-than-a-minute".into()]);
    t.extend(gendered_tokens());
    t
}

/// `1n` and the feminine and neuter ordinals: used only when a template
/// asks for that gender.
pub fn gendered_tokens() -> Vec<String> {
    let mut stems: Vec<String> = (1..20).map(|n: u32| n.to_string()).collect();
    stems.extend((2..10).map(|n| (n * 10).to_string()));
    stems.extend((1..10).map(|n| (n * 100).to_string()));
    stems.extend(["thousand".into(), "million".into()]);
    let mut t = vec!["1n".to_string()];
    for g in [Gender::Feminine, Gender::Neuter] {
        t.extend(stems.iter().map(|s| ord(s, g)));
    }
    t
}
