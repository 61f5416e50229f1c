//! English: "two thousand three hundred forty-one", "twenty-first",
//! "twelve dollars fifty cents", "about three minutes".

const SCALES: [(u64, &str); 5] = [
    (1_000_000_000_000_000, "quadrillion"),
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

pub fn cardinal(n: u64, out: &mut Vec<String>) {
    if n == 0 {
        out.push("0".into());
        return;
    }
    let mut rest = n;
    for (scale, name) in SCALES {
        if rest >= scale {
            below_thousand(rest / scale, out);
            out.push(name.into());
            rest %= scale;
        }
    }
    if rest > 0 {
        below_thousand(rest, out);
    }
}

fn below_thousand(n: u64, out: &mut Vec<String>) {
    let (h, r) = (n / 100, n % 100);
    if h > 0 {
        out.push(h.to_string());
        out.push("hundred".into());
    }
    if r >= 20 {
        out.push((r / 10 * 10).to_string());
        if r % 10 > 0 {
            out.push((r % 10).to_string());
        }
    } else if r > 0 {
        out.push(r.to_string());
    }
}

/// The cardinal with its last word made ordinal: 21 is "twenty" "first".
pub fn ordinal(n: u64, out: &mut Vec<String>) {
    let start = out.len();
    cardinal(n, out);
    if let Some(last) = out[start..].last_mut() {
        *last = format!("ord-{last}");
    }
}

pub fn money(units: u64, subunits: u64, out: &mut Vec<String>) {
    if units > 0 || subunits == 0 {
        cardinal(units, out);
        out.push(if units == 1 { "unit-one" } else { "unit-many" }.into());
    }
    if subunits > 0 {
        cardinal(subunits, out);
        out.push(
            if subunits == 1 {
                "subunit-one"
            } else {
                "subunit-many"
            }
            .into(),
        );
    }
}

pub fn duration(secs: u64, out: &mut Vec<String>) {
    match super::value::round_minutes(secs) {
        None => out.push("less-than-a-minute".into()),
        Some(m) => {
            cardinal(m, out);
            out.push(if m == 1 { "minute-one" } else { "minute-many" }.into());
        }
    }
}

pub fn all_tokens() -> Vec<String> {
    let mut t: Vec<String> = (0..20).map(|n: u32| n.to_string()).collect();
    t.extend((2..10).map(|n| (n * 10).to_string()));
    t.push("hundred".into());
    t.extend(SCALES.iter().rev().map(|(_, s)| s.to_string()));
    let ords: Vec<String> = t.iter().map(|w| format!("ord-{w}")).collect();
    t.extend(ords);
    t.retain(|w| w != "ord-0");
    for w in [
        "minus",
        "pause",
        "unit-one",
        "unit-many",
        "subunit-one",
        "subunit-many",
        "minute-one",
        "minute-many",
        "less-than-a-minute",
    ] {
        t.push(w.into());
    }
    t
}
