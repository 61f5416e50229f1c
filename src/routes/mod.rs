//! Routes: which playlist a call served by the hub's realtime rows plays.
//! A PBX with a sales queue, a support queue and two tenants gives each its
//! own hold experience from one hub: a routes file names each route
//! (a strict alphabet, so a name can travel in a class name and an argv),
//! gives it a playlist and, optionally, a language for the generator and
//! conditions on what Asterisk said of the call before its hold music
//! started (its queue, dialplan context, extension, DID, channel language,
//! account code). Exactly one route is the default: the one a call gets
//! when nothing else picks one.
//!
//! The file is read in [`parse`] (every problem with its line and column,
//! like a playlist), conditions are matched in [`matcher`]. This module
//! knows nothing of HTTP or AMI: the hub hands it the class's route name
//! and the facts it remembers of the call.

pub mod matcher;
pub mod parse;

pub use matcher::{Conditions, Facts};

use std::path::{Path, PathBuf};

/// Longest route name: it travels in the class name, whose Uniqueid part
/// already takes up to 64 of Asterisk's 80 bytes.
pub const MAX_NAME: usize = 32;

/// One route: a name, a playlist, and what picks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    /// Absolute (resolved against the routes file's directory).
    pub playlist: PathBuf,
    /// Passed to the generator as `--language` when set.
    pub language: Option<String>,
    /// Empty: the route is picked only by name (or as the default).
    pub when: Conditions,
}

impl Route {
    /// The generator's argv words this route adds: its playlist, and its
    /// language when it sets one. Every word was checked when the file was
    /// read (no space, `&` or `%`; see [`is_argv_word`]).
    pub fn argv(&self) -> Vec<String> {
        // Short options: the row's command line is short of room (see row.rs).
        let mut v = vec!["-p".to_string(), self.playlist.to_string_lossy().into_owned()];
        if let Some(lang) = &self.language {
            v.extend(["-l".to_string(), lang.clone()]);
        }
        v
    }
}

/// A valid set of routes: at least one, names unique, one default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
    default: usize,
    /// The file they came from (`None`: `hub --playlist`).
    pub source: Option<PathBuf>,
}

/// How a class name picked its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick<'n> {
    /// `holdmix-<route>-<uniqueid>`: by name (an unknown name gets the
    /// default route).
    Named(&'n str),
    /// `holdmix-<uniqueid>`: by the conditions, then the default.
    ByFacts,
}

impl Routes {
    /// One default route playing `playlist` (`hub --playlist FILE`).
    pub fn single(playlist: &Path) -> Routes {
        Routes {
            routes: vec![Route {
                name: "default".into(),
                playlist: playlist.to_path_buf(),
                language: None,
                when: Conditions::default(),
            }],
            default: 0,
            source: None,
        }
    }

    /// Checked by [`parse`]: non-empty, unique names, `default` in range.
    pub(crate) fn new(routes: Vec<Route>, default: usize, source: Option<PathBuf>) -> Option<Routes> {
        (default < routes.len()).then_some(Routes {
            routes,
            default,
            source,
        })
    }

    pub fn all(&self) -> &[Route] {
        &self.routes
    }

    pub fn default_route(&self) -> &Route {
        &self.routes[self.default]
    }

    pub fn named(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// The route for a call: the one its class names (the default when
    /// the name is not in the file), or else the first, in file order,
    /// whose conditions the call's facts meet, or else the default.
    pub fn pick(&self, pick: Pick<'_>, facts: Option<&Facts>) -> &Route {
        match pick {
            Pick::Named(name) => self.named(name).unwrap_or_else(|| {
                tracing::warn!(
                    route = name,
                    "a class names a route the routes file does not have: default route"
                );
                self.default_route()
            }),
            Pick::ByFacts => facts
                .and_then(|f| self.routes.iter().find(|r| r.when.matches(f)))
                .unwrap_or_else(|| self.default_route()),
        }
    }
}

/// The route-name alphabet: `[a-z][a-z0-9_]{0,31}`. No `-` (it separates
/// the name from the Uniqueid in a class), nothing a shell, an argv or a
/// URL would treat specially.
pub fn is_route_name(s: &str) -> bool {
    s.len() <= MAX_NAME
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A language as Asterisk names them (`en`, `ru`, `pt_BR`, `en-US`):
/// two or three lower-case letters, optionally `_` or `-` and 2–8 letters
/// or digits.
pub fn is_language(s: &str) -> bool {
    let (main, sub) = match s.split_once(['_', '-']) {
        Some((m, s)) => (m, Some(s)),
        None => (s, None),
    };
    (2..=3).contains(&main.len())
        && main.bytes().all(|b| b.is_ascii_lowercase())
        && sub.is_none_or(|s| (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A word Asterisk keeps whole in an `application` (it splits on spaces,
/// with no quoting) and that needs no care in the row's form encoding.
pub fn is_argv_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'&' && b != b'%')
}

/// Whether `path` holds a routes file rather than a playlist: its TOML has
/// a `route` key at the top (a playlist never has one). For `check` and
/// `cache warm`, which take either.
pub fn is_routes_file(path: &Path) -> bool {
    let Ok(text) = crate::util::files::read_string(path, crate::util::files::Kind::Playlist) else {
        return false;
    };
    let (doc, _) = toml::de::DeTable::parse_recoverable(&text);
    doc.get_ref().get("route").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_names_are_a_strict_alphabet() {
        for good in ["sales", "a", "tenant_42", "x9", &"a".repeat(32)] {
            assert!(is_route_name(good), "{good}");
        }
        for bad in [
            "",
            "Sales",
            "9a",
            "_a",
            "a-b",
            "a b",
            "a;b",
            "a%20",
            "a.b",
            "Ä",
            "sales\n",
            &"a".repeat(33),
        ] {
            assert!(!is_route_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn languages_as_asterisk_names_them() {
        for good in ["en", "ru", "pt_BR", "en-US", "fil"] {
            assert!(is_language(good), "{good}");
        }
        for bad in [
            "",
            "e",
            "EN",
            "english",
            "en_",
            "en US",
            "en;rm",
            "ru_x",
            "en_ABCDEFGHI",
        ] {
            assert!(!is_language(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_named_route_wins_an_unknown_name_gets_the_default() {
        let mut routes = vec![
            Route {
                name: "main".into(),
                playlist: "/p/main.toml".into(),
                language: None,
                when: Conditions::default(),
            },
            Route {
                name: "sales".into(),
                playlist: "/p/sales.toml".into(),
                language: Some("ru".into()),
                when: Conditions::default(),
            },
        ];
        routes[1].when.queue = vec!["sales".into()];
        let r = Routes::new(routes, 0, None).expect("valid");
        assert_eq!(r.pick(Pick::Named("sales"), None).name, "sales");
        assert_eq!(r.pick(Pick::Named("nosuch"), None).name, "main");
        assert_eq!(r.pick(Pick::ByFacts, None).name, "main");
        let queued = Facts {
            queue: "sales".into(),
            ..Facts::default()
        };
        assert_eq!(r.pick(Pick::ByFacts, Some(&queued)).name, "sales");
        assert_eq!(
            r.pick(Pick::Named("sales"), None).argv(),
            ["-p", "/p/sales.toml", "-l", "ru"]
        );
        assert_eq!(r.default_route().argv(), ["-p", "/p/main.toml"]);
    }
}
