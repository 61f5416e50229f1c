//! The routes file, read key by key like a playlist: every problem is a
//! diagnostic with its file, line, column and key (an unknown field, a bad
//! or duplicate name, two defaults or none, a playlist that is not there),
//! so `holdmix check` lists them all at once. A file with any error gives
//! no routes: the hub refuses it (at start, or keeps the old ones on a
//! reload).
//!
//! ```toml
//! [[route]]
//! name = "main"
//! playlist = "demo.toml"        # relative to this file
//! default = true
//!
//! [[route]]
//! name = "sales"
//! playlist = "asterisk-queue.toml"
//! language = "ru"               # the generator's --language
//! when = { queue = ["sales", "sales_vip"] }
//! ```

use super::matcher::{Conditions, KEYS};
use super::{Route, Routes, is_argv_word, is_language, is_route_name};
use crate::scenario::diag::{Diagnostic, Diags, Severity};
use crate::scenario::doc::{self, Table};
use crate::util::files::{self, Kind};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

const ROUTE_KEYS: &[&str] = &["name", "playlist", "language", "default", "when"];

/// A playlist a route names, and where (for `check`'s report).
#[derive(Debug, Clone)]
pub struct PlaylistRef {
    pub route: String,
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// What reading a routes file gave: the routes when it has no error.
pub struct Loaded {
    pub routes: Option<Routes>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every route's playlist that exists, in file order.
    pub playlists: Vec<PlaylistRef>,
}

/// Reads and checks the routes file at `path`.
pub fn load(path: &Path) -> Loaded {
    match files::read_string(path, Kind::Playlist) {
        Ok(text) => parse(path, &text),
        Err(e) => Loaded {
            routes: None,
            diagnostics: vec![Diagnostic::at(path, 0, 0, "", Severity::Error, e.to_string())],
            playlists: Vec::new(),
        },
    }
}

/// Routes for the hub: the file's, or why not (its errors, as `check`
/// would print them, the first few).
pub fn load_valid(path: &Path) -> Result<Routes, String> {
    let loaded = load(path);
    match loaded.routes {
        Some(r) => Ok(r),
        None => {
            let lines: Vec<String> = crate::scenario::diag::summarize(&loaded.diagnostics, 5)
                .map(|(_, l)| l)
                .collect();
            Err(lines.join("; "))
        }
    }
}

pub fn parse(path: &Path, text: &str) -> Loaded {
    let mut d = Diags::new(path, text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in errors {
        d.error(e.span().unwrap_or(0..0), "", e.message().trim_end().to_string())
            .hint("see docs/asterisk.md for the routes file");
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let root = Table::root(&doc);
    root.deny_unknown(&mut d, &["route"]);
    let mut routes = Vec::new();
    let mut defaults = Vec::new();
    let mut playlists = Vec::new();
    let mut first_header = 0..0;
    let mut seen = std::collections::HashMap::new();
    match root.get("route").map(|v| (v, v.get_ref())) {
        Some((_, DeValue::Array(items))) => {
            for (i, item) in items.iter().enumerate() {
                if i == 0 {
                    first_header = item.span();
                }
                let key = format!("route[{i}]");
                let Some(t) = doc::as_table(&mut d, item, &key) else {
                    continue;
                };
                // A default counts even on a route with other errors.
                let default = t.get("default");
                if let Some(v) = default.filter(|v| matches!(v.get_ref(), DeValue::Boolean(true))) {
                    defaults.push((routes.len(), v.span()));
                }
                let Some(p) = route(&mut d, &t, &base, &mut playlists) else {
                    continue;
                };
                if let Some(&(line, _)) = seen.get(&p.route.name) {
                    d.error(
                        p.name_span,
                        &t.key_path("name"),
                        format!("route {:?} is named twice", p.route.name),
                    )
                    .hint(format!("the first is on line {line}; names must be unique"));
                    continue;
                }
                seen.insert(p.route.name.clone(), d.locate(p.name_span));
                routes.push(p.route);
            }
        }
        Some((v, other)) => doc::type_error(&mut d, v.span(), "route", "a list of tables ([[route]])", other),
        None => {}
    }
    if root.get("route").is_none() && !d.has_errors() {
        d.error(0..0, "route", "no routes")
            .hint("add a [[route]] with a name, a playlist and `default = true`");
    }
    match defaults.as_slice() {
        [] if !routes.is_empty() || !first_header.is_empty() => {
            d.error(first_header, "route", "no default route")
                .hint("mark exactly one route `default = true`: calls nothing else picks get it");
        }
        [_, more @ ..] => {
            for (_, span) in more {
                d.error(span.clone(), "route.default", "a second default route")
                    .hint("exactly one route is the default");
            }
        }
        [] => {}
    }
    let diagnostics = std::mem::take(&mut d.list);
    let ok = !diagnostics.iter().any(|x| x.severity == Severity::Error);
    let routes = match (ok, defaults.first()) {
        (true, Some(&(i, _))) => Routes::new(routes, i, Some(path.to_path_buf())),
        _ => None,
    };
    Loaded {
        routes,
        diagnostics,
        playlists,
    }
}

/// One `[[route]]` as read, with the places later checks point at.
struct Parsed {
    route: Route,
    name_span: Range<usize>,
}

/// One `[[route]]`; `None` when it lacks a usable name or playlist (the
/// diagnostics say why).
fn route(d: &mut Diags, t: &Table, base: &Path, playlists: &mut Vec<PlaylistRef>) -> Option<Parsed> {
    t.deny_unknown(d, ROUTE_KEYS);
    let name = match t.str(d, "name") {
        Some((n, span)) if is_route_name(n) => Some((n.to_string(), span)),
        Some((n, span)) => {
            d.error(span, &t.key_path("name"), format!("{n:?} is not a route name"))
                .hint("a lower-case letter, then up to 31 lower-case letters, digits or `_`");
            None
        }
        None => {
            if t.get("name").is_none() {
                d.error(t.span.clone(), &t.key_path("name"), "a route needs a name");
            }
            None
        }
    };
    let playlist = match t.str(d, "playlist") {
        Some((p, span)) => {
            let path = std::path::absolute(base.join(p)).unwrap_or_else(|_| base.join(p));
            let (line, column) = d.locate(span.clone());
            if !path.is_file() {
                d.error(
                    span,
                    &t.key_path("playlist"),
                    format!("{}: no such playlist", path.display()),
                )
                .hint("a path relative to the routes file, or an absolute one");
                None
            } else if !path.to_str().is_some_and(is_argv_word) {
                d.error(
                    span,
                    &t.key_path("playlist"),
                    format!(
                        "{}: Asterisk splits the generator's command line on spaces",
                        path.display()
                    ),
                )
                .hint("use a path without spaces, `&` or `%`");
                None
            } else {
                playlists.push(PlaylistRef {
                    route: name.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                    path: path.clone(),
                    line,
                    column,
                });
                Some(path)
            }
        }
        None => {
            if t.get("playlist").is_none() {
                d.error(
                    t.span.clone(),
                    &t.key_path("playlist"),
                    "a route needs a playlist",
                );
            }
            None
        }
    };
    let language = match t.str(d, "language") {
        Some((l, _)) if is_language(l) => Some(l.to_string()),
        Some((l, span)) => {
            d.error(span, &t.key_path("language"), format!("{l:?} is not a language"))
                .hint("as Asterisk names them: \"en\", \"ru\", \"pt_BR\"");
            None
        }
        None => None,
    };
    // Read for its type check; counted by the caller.
    t.bool(d, "default");
    let when = match t.get("when") {
        Some(v) => conditions(d, v, &t.key_path("when")),
        None => Conditions::default(),
    };
    let (name, name_span) = name?;
    Some(Parsed {
        route: Route {
            name,
            playlist: playlist?,
            language,
            when,
        },
        name_span,
    })
}

fn conditions(d: &mut Diags, v: &toml::Spanned<DeValue<'_>>, path: &str) -> Conditions {
    let mut c = Conditions::default();
    let Some(t) = doc::as_table(d, v, path) else {
        return c;
    };
    t.deny_unknown(d, KEYS);
    for key in KEYS {
        let Some(values) = t.strings(d, key) else { continue };
        if values.is_empty() {
            d.error(t.span.clone(), &t.key_path(key), "an empty list matches no call")
                .hint("leave the condition out, or list the values to match");
        }
        if let Some(list) = c.list_mut(key) {
            list.extend(values.into_iter().map(|(s, _)| s.to_string()));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_file_gives_its_routes_with_absolute_playlists() {
        let dir = tempfile::tempdir().expect("tempdir");
        for p in ["a.toml", "b.toml"] {
            std::fs::write(dir.path().join(p), "").expect("write");
        }
        let file = dir.path().join("routes.toml");
        let text = r#"
[[route]]
name = "main"
playlist = "a.toml"
default = true

[[route]]
name = "sales"
playlist = "b.toml"
language = "pt_BR"
[route.when]
queue = ["sales", "sales_vip"]
accountcode = "acme"
"#;
        let loaded = parse(&file, text);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let routes = loaded.routes.expect("routes");
        assert_eq!(routes.default_route().name, "main");
        let sales = routes.named("sales").expect("sales");
        assert_eq!(sales.playlist, dir.path().join("b.toml"));
        assert_eq!(sales.language.as_deref(), Some("pt_BR"));
        assert_eq!(sales.when.queue, ["sales", "sales_vip"]);
        assert_eq!(sales.when.accountcode, ["acme"]);
        assert!(sales.when.context.is_empty());
        assert_eq!(
            loaded
                .playlists
                .iter()
                .map(|p| (p.route.as_str(), p.line))
                .collect::<Vec<_>>(),
            [("main", 4), ("sales", 9)]
        );
    }

    #[test]
    fn a_file_with_any_error_gives_no_routes() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.toml"), "").expect("write");
        let file = dir.path().join("routes.toml");
        for text in [
            "",
            "[[route]]\nname = \"main\"\nplaylist = \"a.toml\"\n",
            "[[route]]\nname = \"main\"\nplaylist = \"a.toml\"\ndefault = true\nwhen = { queue = 3 }\n",
            "[[route]]\nname = \"main\"\nplaylist = \"a.toml\"\ndefault = \"yes\"\n",
            "[[route]]\nname = \"main\"\nplaylist = \"a.toml\"\ndefault = true\n[[route]]\nname = \"b\"\nplaylist = \"a.toml\"\ndefault = true\n",
            "[[route]\nname = \"main\"\n",
        ] {
            let loaded = parse(&file, text);
            assert!(loaded.routes.is_none(), "{text:?}");
            assert!(
                loaded.diagnostics.iter().any(|d| d.severity == Severity::Error),
                "{text:?}"
            );
        }
    }
}
