//! The report as text for a terminal: the totals, then each group, then
//! the broken lines by file:line. Shares are printed as whole percents.

use super::stats::Figures;
use super::{Report, WITHIN_SENTENCE};
use std::fmt::Write;

/// The whole report as text.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let range = match (&r.from, &r.to) {
        (None, None) => "all days".to_string(),
        (f, t) => format!(
            "{} to {}",
            f.as_deref().unwrap_or("the start"),
            t.as_deref().unwrap_or("the end")
        ),
    };
    let _ = writeln!(
        out,
        "holdmix report: {} ({range}), {} timeline files",
        r.timeline_dir, r.files
    );
    match &r.queue_log {
        Some(q) => {
            let _ = writeln!(
                out,
                "queue_log: {} ({} lines, {} used; {} calls in it have no timeline)",
                q.source, q.lines, q.used, q.without_timeline
            );
        }
        None => {
            let _ = writeln!(
                out,
                "no queue_log: answered and abandoned cannot be told apart; a caller's hangup on hold counts as an abandon, every other end as unknown"
            );
        }
    }
    out.push('\n');
    group(&mut out, "all calls", &r.total);
    let by = match r.by {
        super::By::Day => "day",
        super::By::Queue => "queue",
        super::By::Route => "route",
    };
    for g in &r.groups {
        out.push('\n');
        group(&mut out, &format!("{by} {}", g.key), &g.figures);
    }
    if r.broken.count > 0 {
        let _ = writeln!(out, "\nbroken lines: {} (skipped)", r.broken.count);
        for b in &r.broken.lines {
            if b.line == 0 {
                let _ = writeln!(out, "  {}: {}", b.file, b.error);
            } else {
                let _ = writeln!(out, "  {}:{}: {}", b.file, b.line, b.error);
            }
        }
        if r.broken.count > r.broken.lines.len() as u64 {
            let _ = writeln!(
                out,
                "  … and {} more",
                r.broken.count - r.broken.lines.len() as u64
            );
        }
    }
    out
}

fn pct(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

fn group(out: &mut String, title: &str, f: &Figures) {
    let o = &f.outcomes;
    let s = if f.calls == 1 { "" } else { "s" };
    let _ = writeln!(out, "== {title}: {} call{s}", f.calls);
    let _ = writeln!(
        out,
        "outcomes: answered {}, abandoned {}, timeout {}, key {}, empty {}, unknown {}",
        o.answered, o.abandoned, o.timeout, o.key, o.empty, o.unknown
    );
    if f.truncated > 0 {
        let _ = writeln!(out, "truncated timelines: {}", f.truncated);
    }
    let h = &f.hold_time;
    let _ = writeln!(
        out,
        "hold time (s): mean {:.1}, p50 {:.1}, p75 {:.1}, p90 {:.1}, p95 {:.1}, max {:.1}",
        h.mean, h.p50, h.p75, h.p90, h.p95, h.max
    );
    let peak = h.histogram.iter().map(|b| b.calls).max().unwrap_or(0).max(1);
    for b in &h.histogram {
        let range = match b.to {
            Some(to) => format!("{:>5}-{:<5}", b.from, to),
            None => format!("{:>5}+     ", b.from),
        };
        let bar = "#".repeat((b.calls * 40).div_ceil(peak) as usize);
        let _ = writeln!(out, "  {range} {:>6} {bar}", b.calls);
    }
    if f.keys.is_empty() {
        let _ = writeln!(out, "keys: none pressed");
    } else {
        let _ = writeln!(out, "keys by action:");
        for (action, n) in &f.keys {
            let _ = writeln!(out, "  {action}: {n}");
        }
    }
    if !f.prompts.is_empty() {
        let _ = writeln!(out, "prompts heard:");
        let mut prompts: Vec<_> = f.prompts.iter().collect();
        prompts.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        for (p, n) in prompts {
            let _ = writeln!(out, "  {p}: {n}");
        }
    }
    let a = &f.abandons;
    if a.count > 0 {
        let _ = writeln!(out, "abandons: {}; heard when they hung up:", a.count);
        for h in &a.heard {
            let _ = writeln!(
                out,
                "  {} {}: {} ({} of abandons)",
                h.kind,
                h.name,
                h.abandons,
                pct(h.share)
            );
            let w = &h.within[WITHIN_SENTENCE];
            if w.abandons > 0 {
                let _ = writeln!(
                    out,
                    "    {} of abandons came within {} s of {} {}",
                    pct(w.share),
                    w.seconds,
                    h.kind,
                    h.name
                );
            }
            let rest: Vec<String> = h
                .within
                .iter()
                .map(|w| format!("{} within {} s", w.abandons, w.seconds))
                .collect();
            let _ = writeln!(out, "    {}", rest.join(", "));
        }
    }
}
