//! `holdmix plan PLAYLIST --date D`: what a caller would hear through one
//! day, window by window — which music, welcome, advice groups, repeats
//! and keys are open from when to when — with overlaps and gaps called
//! out, and (`--plot`) the same as a picture.
//!
//! The day is read minute by minute in local wall-clock time of the
//! playlist's zone (windows are minute-precise), with the same rules the
//! engine applies: the first open variant wins, music with no variant
//! open and no tracks of its own keeps what plays.

use crate::plot::day::{Lane, LaneSpan};
use crate::scenario::window::MINUTES_PER_DAY;
use crate::scenario::{Scenario, Severity, Window, zone};
use anyhow::{Result, bail};
use chrono::{Datelike, NaiveDate};
use std::fmt::Write;
use std::path::PathBuf;

pub struct PlanOptions {
    pub playlist: PathBuf,
    pub date: NaiveDate,
    /// Draw the day as a PNG here, of this size.
    pub plot: Option<(PathBuf, u32, u32)>,
}

/// What is open at one minute of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Moment {
    music: String,
    welcome: String,
    advice: Vec<String>,
    repeats: Vec<String>,
    keys: Vec<String>,
    closed: Vec<String>,
}

/// The plan as text; errors in the playlist stop it (they are logged first).
pub fn plan(opts: &PlanOptions) -> Result<String> {
    let loaded = Scenario::load(&opts.playlist)?;
    if loaded.has_errors() {
        // One line each, as `run` logs them.
        crate::scenario::log_diagnostics(&loaded.diagnostics);
        let n = (loaded.diagnostics.iter())
            .filter(|d| d.severity == Severity::Error)
            .count();
        bail!(
            "{}: {n} error(s); fix them first (see `holdmix check`)",
            opts.playlist.display()
        );
    }
    let s = &loaded.scenario;
    let text = describe(s, &opts.playlist.display().to_string(), opts.date);
    if let Some((path, w, h)) = &opts.plot {
        let title = format!("{}, {}", opts.playlist.display(), opts.date);
        crate::plot::day::write_png(path, *w, *h, &title, &lanes(s, opts.date))?;
    }
    Ok(text)
}

fn at(s: &Scenario, date: NaiveDate, m: u32) -> Moment {
    let open = |w: &Option<Window>| w.as_ref().is_none_or(|w| w.contains(date, m));
    let music = match s
        .music
        .variants
        .iter()
        .find(|v| !v.tracks.is_empty() && v.when.contains(date, m))
    {
        Some(v) => v.name.clone(),
        None if !s.music.tracks.is_empty() => "default".to_string(),
        None if s.music.variants.is_empty() => "none".to_string(),
        None => "(gap: keeps what plays)".to_string(),
    };
    let welcome = match s.welcome_variants.iter().find(|v| v.when.contains(date, m)) {
        Some(v) => v.name.clone(),
        None if s.welcome.is_empty() => "none".to_string(),
        None => "default".to_string(),
    };
    let advice = s
        .advice
        .groups
        .iter()
        .filter(|g| open(&g.when))
        .map(|g| g.name.clone())
        .collect();
    let repeats = (s.repeats.iter().enumerate())
        .filter(|(_, r)| open(&r.when))
        .map(|(i, r)| format!("#{} every {}", i + 1, humantime::format_duration(r.every)))
        .collect();
    let (mut keys, mut closed) = (Vec::new(), Vec::new());
    for (c, k) in &s.keys {
        let name = format!("{c} {}", k.action.name());
        if open(&k.when) { &mut keys } else { &mut closed }.push(name);
    }
    Moment {
        music,
        welcome,
        advice,
        repeats,
        keys,
        closed,
    }
}

/// The plan as text.
pub fn describe(s: &Scenario, name: &str, date: NaiveDate) -> String {
    let mut out = String::new();
    let zone = s
        .timezone
        .as_ref()
        .map_or("the host's time zone", |z| z.name.as_str());
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let day = DAYS[date.weekday().num_days_from_monday() as usize];
    let _ = writeln!(out, "plan for {name} on {date} ({day}), {zone}");
    let holidays = s.holidays.on(date);
    let _ = writeln!(
        out,
        "holidays: {}",
        if holidays.is_empty() {
            "none".to_string()
        } else {
            holidays.join(", ")
        }
    );
    if let Some(change) = clock_change(s, date) {
        let _ = writeln!(out, "clock change: {change}");
    }
    // The webhook's plan is made during the call, from what the call is:
    // not something a day's schedule can show (nor its URL, which may hold
    // a token).
    if s.plan.is_some() {
        let _ = writeln!(
            out,
            "hold plan: asked of the [plan] webhook during each call (dynamic)"
        );
    }
    let moments: Vec<Moment> = (0..MINUTES_PER_DAY).map(|m| at(s, date, m)).collect();
    let mut start = 0;
    for m in 1..=moments.len() {
        if m < moments.len() && moments[m] == moments[start] {
            continue;
        }
        let x = &moments[start];
        let _ = writeln!(out, "{}-{}", hhmm(start as u32), hhmm(m as u32));
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(out, "  music:   {}", x.music);
        let _ = writeln!(out, "  welcome: {}", x.welcome);
        let _ = writeln!(out, "  advice:  {}", list(&x.advice));
        let _ = writeln!(out, "  repeats: {}", list(&x.repeats));
        let _ = writeln!(out, "  keys:    {}", list(&x.keys));
        if !x.closed.is_empty() {
            let _ = writeln!(out, "  closed:  {}", x.closed.join(", "));
        }
        start = m;
    }
    let (overlaps, gaps) = findings(s, date);
    for (title, lines) in [("overlaps", overlaps), ("gaps", gaps)] {
        if lines.is_empty() {
            let _ = writeln!(out, "{title}: none");
        } else {
            let _ = writeln!(out, "{title}:");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
        }
    }
    out
}

/// Overlapping variants and groups, and gaps, as lines.
fn findings(s: &Scenario, date: NaiveDate) -> (Vec<String>, Vec<String>) {
    let mut overlaps = Vec::new();
    let named = |items: Vec<(&str, &Window)>, what: &str, effect: &str, out: &mut Vec<String>| {
        for (a, (na, wa)) in items.iter().enumerate() {
            for (nb, wb) in &items[a + 1..] {
                for (from, to) in spans(|m| wa.contains(date, m) && wb.contains(date, m)) {
                    let effect = effect.replace("{a}", na);
                    out.push(format!(
                        "{what}: \"{na}\" and \"{nb}\" both open {}-{}: {effect}",
                        hhmm(from),
                        hhmm(to)
                    ));
                }
            }
        }
    };
    let music = s
        .music
        .variants
        .iter()
        .map(|v| (v.name.as_str(), &v.when))
        .collect();
    named(music, "music", "\"{a}\" plays (the first listed)", &mut overlaps);
    let welcome = s
        .welcome_variants
        .iter()
        .map(|v| (v.name.as_str(), &v.when))
        .collect();
    named(
        welcome,
        "welcome",
        "\"{a}\" is said (the first listed)",
        &mut overlaps,
    );
    let groups: Vec<(&str, &Window)> = (s.advice.groups.iter())
        .filter_map(|g| Some((g.name.as_str(), g.when.as_ref()?)))
        .collect();
    let timed_only = s.advice.groups.iter().all(|g| g.when.is_some());
    named(
        groups.clone(),
        "advice",
        "both play, in group order",
        &mut overlaps,
    );

    let mut gaps = Vec::new();
    if s.music.tracks.is_empty() && !s.music.variants.is_empty() {
        for (from, to) in spans(|m| !s.music.variants.iter().any(|v| v.when.contains(date, m))) {
            gaps.push(format!(
                "music: no variant open and no [music] tracks {}-{}: a call keeps the music it \
                 has (the first variant at its start)",
                hhmm(from),
                hhmm(to)
            ));
        }
    }
    if s.welcome.is_empty() && !s.welcome_variants.is_empty() {
        for (from, to) in spans(|m| !s.welcome_variants.iter().any(|v| v.when.contains(date, m))) {
            gaps.push(format!(
                "welcome: no variant open and no [welcome] say {}-{}: a call starting then hears no welcome",
                hhmm(from),
                hhmm(to)
            ));
        }
    }
    if timed_only && !groups.is_empty() {
        for (from, to) in spans(|m| !groups.iter().any(|(_, w)| w.contains(date, m))) {
            gaps.push(format!(
                "advice: no group open {}-{}: no advices then",
                hhmm(from),
                hhmm(to)
            ));
        }
    }
    (overlaps, gaps)
}

/// The drawing's lanes: one per section, a span per stretch of one value.
fn lanes(s: &Scenario, date: NaiveDate) -> Vec<Lane> {
    let moments: Vec<Moment> = (0..MINUTES_PER_DAY).map(|m| at(s, date, m)).collect();
    let lane = |name: &str, value: &dyn Fn(&Moment) -> String| {
        let mut spans = Vec::new();
        let mut start = 0;
        for m in 1..=moments.len() {
            if m < moments.len() && value(&moments[m]) == value(&moments[start]) {
                continue;
            }
            let label = value(&moments[start]);
            if label != "none" {
                spans.push(LaneSpan {
                    start: start as u32,
                    end: m as u32,
                    label,
                });
            }
            start = m;
        }
        Lane {
            name: name.to_string(),
            spans,
        }
    };
    let join = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    vec![
        lane("music", &|x| x.music.clone()),
        lane("welcome", &|x| x.welcome.clone()),
        lane("advice", &|x| join(&x.advice)),
        lane("repeats", &|x| join(&x.repeats)),
        lane("keys", &|x| join(&x.keys)),
    ]
}

/// A change of UTC offset during the day (DST), as a sentence.
fn clock_change(s: &Scenario, date: NaiveDate) -> Option<String> {
    let z = s.timezone.as_ref()?;
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let start = zone::instant(Some(z), midnight).timestamp();
    let next = zone::instant(Some(z), date.succ_opt()?.and_hms_opt(0, 0, 0)?).timestamp();
    let (a, b) = (z.offset_at(start), z.offset_at(next - 1));
    (a != b).then(|| {
        format!(
            "UTC{} to UTC{}; the day has {} hours (times below are the clock's)",
            offset(a),
            offset(b),
            (next - start) / 3600
        )
    })
}

fn offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Spans of the day (start, end minute) where `pred` holds, merged.
fn spans(pred: impl Fn(u32) -> bool) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut open: Option<u32> = None;
    for m in 0..=MINUTES_PER_DAY {
        match (m < MINUTES_PER_DAY && pred(m), open) {
            (true, None) => open = Some(m),
            (false, Some(s)) => {
                out.push((s, m));
                open = None;
            }
            _ => {}
        }
    }
    out
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}
