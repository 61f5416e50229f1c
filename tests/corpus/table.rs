//! docs/corpus.md's table of every case and README.md's count per kind,
//! made from the indexes: a test fails when they disagree
//! (`HOLDMIX_BLESS=1` rewrites them).

use super::{cases, playlists};
use crate::common::root;

/// What each kind is, for the summary.
const KINDS: [(&str, &str); 7] = [
    (
        "playlists",
        "broken playlists: `check` names file, line, column and key; `run` streams",
    ),
    (
        "audio",
        "crafted sound files: refused by `check` with the reason, skipped by `run`",
    ),
    (
        "ami",
        "hostile AMI servers, before and after login: logged, music goes on",
    ),
    (
        "billing",
        "hostile billing answers: read or refused (\"service unavailable\"), music goes on",
    ),
    (
        "http",
        "requests to the hub's realtime endpoint: only Asterisk's lookup gets a row",
    ),
    (
        "callers",
        "hostile caller numbers: escaped for billing, never forge a log line",
    ),
    (
        "identities",
        "hostile channel names: sent to Asterisk on one line, never as an action",
    ),
];

/// A table cell: code, with `|` escaped and room for backquotes inside.
fn code(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    format!("`` {} ``", s.replace('|', "\\|"))
}

fn text(s: &str) -> String {
    s.replace('|', "\\|")
}

/// (case, covers, outcome, expected) rows of a kind.
fn rows(kind: &str) -> Vec<[String; 4]> {
    if kind == "playlists" {
        return playlists::files()
            .iter()
            .map(|f| {
                let e = playlists::expectation(f);
                let name = f.file_name().expect("name").to_string_lossy().into_owned();
                let covers = name
                    .trim_end_matches(".toml")
                    .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
                    .replace('-', " ");
                let want = format!("{}:{}: {}: {}", e.line, e.col, e.severity, e.texts.join(" … "));
                [code(&name), text(&covers), e.severity.clone(), code(&want)]
            })
            .collect();
    }
    cases(kind)
        .iter()
        .map(|c| {
            let name = match &c.input {
                Some(_) if c.pad_bytes > 0 => format!("{} × {}", c.pad, c.pad_bytes),
                Some(input) => format!("{input:?}"),
                None => c.file.clone(),
            };
            let outcome = if c.close && kind == "http" {
                format!("{}, closed", c.outcome)
            } else {
                c.outcome.clone()
            };
            [code(&name), text(&c.covers), outcome, code(&c.expect)]
        })
        .collect()
}

fn detail() -> String {
    let mut out = String::new();
    for (kind, what) in KINDS {
        let rows = rows(kind);
        out += &format!("\n### {kind} ({} cases)\n\n{what}.\n\n", rows.len());
        out += "| Case | Covers | Outcome | Expected |\n|---|---|---|---|\n";
        for r in rows {
            out += &format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]);
        }
    }
    out
}

fn summary() -> String {
    let mut out = String::from("\n| Kind | Cases | What |\n|---|---|---|\n");
    let mut total = 0;
    for (kind, what) in KINDS {
        let n = rows(kind).len();
        total += n;
        out += &format!("| [{kind}](docs/corpus.md#{kind}-{n}-cases) | {n} | {what} |\n");
    }
    out += &format!("| all | {total} | every one passing: `cargo test --test integration corpus` |\n");
    out
}

/// Replaces what is between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// in `file` with `body` when blessing; returns (found, wanted).
fn section(file: &str, name: &str, body: &str) -> (String, String) {
    let path = root().join(file);
    let doc = std::fs::read_to_string(&path).expect("doc");
    let (start, end) = (format!("<!-- {name}:start -->\n"), format!("<!-- {name}:end -->"));
    let a = doc.find(&start).unwrap_or_else(|| panic!("{file}: no {start}")) + start.len();
    let b = doc[a..].find(&end).unwrap_or_else(|| panic!("{file}: no {end}")) + a;
    let wanted = format!("{}\n", body.trim());
    if std::env::var_os("HOLDMIX_BLESS").is_some() {
        std::fs::write(&path, format!("{}{wanted}{}", &doc[..a], &doc[b..])).expect("write doc");
        return (wanted.clone(), wanted);
    }
    (doc[a..b].to_string(), wanted)
}

#[test]
fn the_corpus_tables_match_the_cases() {
    let (found, wanted) = section("docs/corpus.md", "corpus-table", &detail());
    assert_eq!(found, wanted, "docs/corpus.md is stale: run with HOLDMIX_BLESS=1");
    let (found, wanted) = section("README.md", "corpus-summary", &summary());
    assert_eq!(found, wanted, "README.md is stale: run with HOLDMIX_BLESS=1");
    let (found, wanted) = section(
        "docs/corpus.md",
        "corpus-summary",
        &summary().replace("docs/corpus.md#", "#"),
    );
    assert_eq!(
        found, wanted,
        "docs/corpus.md's summary is stale: run with HOLDMIX_BLESS=1"
    );
}
