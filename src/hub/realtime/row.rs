//! The realtime row for a per-call class: Asterisk asks for class
//! `holdmix-<uniqueid>` (or `holdmix-<route>-<uniqueid>`, see `class`)
//! and gets `mode=custom`, a format, and an `application` that starts
//! holdmix for that call, with that call's route's playlist (and
//! language) and its hub token (`-t`, `--hub-token`, see `hub::token`: it lets
//! that generator, and no other process, follow the call through the hub).
//!
//! Asterisk splits `application` on spaces into argv, with no quoting. So
//! the row carries nothing a caller controls: only the Uniqueid (checked to
//! be Asterisk's shape), its token and words from the routes file (checked
//! when it is read), the rest fixed when the server starts and checked
//! then. The generator learns the caller's channel and number from the hub.

use crate::routes::{Facts, Routes};
use std::sync::{Arc, PoisonError, RwLock};

/// Longest `application` Asterisk keeps (its field is 256 bytes).
pub const MAX_APPLICATION: usize = 255;
/// Longest Uniqueid taken (Asterisk's are `[system-]seconds.sequence`).
pub const MAX_UNIQUEID: usize = 64;

/// What every row of this server says, checked once.
#[derive(Clone)]
pub struct RowTemplate {
    prefix: String,
    format: String,
    /// argv before `--uniqueid <id>`.
    argv: Vec<String>,
    /// The hub's key: each row carries its call's token.
    key: Option<std::sync::Arc<crate::hub::token::Key>>,
    /// The routes file's current routes; `None`: `argv` names the playlist.
    routes: Option<SharedRoutes>,
    /// What the hub's AMI session said of a call, by Uniqueid.
    facts: Option<FactsFn>,
    /// Where each call's route is noted (a routes file's, with timelines).
    route_log: Option<super::route_log::RouteLogFn>,
}

/// The routes in force, swapped whole by a reload.
pub type SharedRoutes = Arc<RwLock<Arc<Routes>>>;
/// What AMI said of a call (by Uniqueid), if it said anything.
pub type FactsFn = Arc<dyn Fn(&str) -> Option<Facts> + Send + Sync>;

impl std::fmt::Debug for RowTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowTemplate")
            .field("prefix", &self.prefix)
            .field("argv", &self.argv)
            .finish_non_exhaustive()
    }
}

impl RowTemplate {
    /// `argv` starts with holdmix's absolute path. Each word must be
    /// printable ASCII without spaces (Asterisk would split it), and the
    /// longest possible application must fit in 255 bytes.
    pub fn new(prefix: &str, format: &str, argv: Vec<String>) -> Result<RowTemplate, String> {
        if !argv.first().is_some_and(|a| a.starts_with('/')) {
            return Err(
                "the generator must be named by an absolute path (Asterisk does not search PATH)".into(),
            );
        }
        for word in argv.iter().chain([&prefix.to_string(), &format.to_string()]) {
            if word.is_empty()
                || !word
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'&' && b != b'%')
            {
                return Err(format!(
                    "{word:?}: Asterisk splits the application on spaces; use paths without spaces, `&` or `%`"
                ));
            }
        }
        let t = RowTemplate {
            prefix: prefix.to_string(),
            format: format.to_string(),
            argv,
            key: None,
            routes: None,
            facts: None,
            route_log: None,
        };
        t.check_length()?;
        Ok(t)
    }

    /// The same rows, each with its call's token from `key`.
    pub fn with_key(mut self, key: std::sync::Arc<crate::hub::token::Key>) -> Result<RowTemplate, String> {
        self.key = Some(key);
        self.check_length()?;
        Ok(self)
    }

    /// The same rows, each with its call's route (`--playlist`, and
    /// `--language` when the route sets one) from `routes`, picked by the
    /// class name or by what `facts` says of the call.
    pub fn with_routes(mut self, routes: SharedRoutes, facts: FactsFn) -> Result<RowTemplate, String> {
        let current = routes.read().unwrap_or_else(PoisonError::into_inner).clone();
        self.check_routes(&current)?;
        self.routes = Some(routes);
        self.facts = Some(facts);
        Ok(self)
    }

    /// The same rows, each call's route also given to `log` (Uniqueid,
    /// route name), for a routes file's routes only.
    pub fn with_route_log(mut self, log: super::route_log::RouteLogFn) -> RowTemplate {
        self.route_log = Some(log);
        self
    }

    /// Every route's longest application fits Asterisk's field (a routes
    /// file that does not is refused, at start and on reload).
    pub fn check_routes(&self, routes: &Routes) -> Result<(), String> {
        for r in routes.all() {
            let longest = self.application(&r.argv(), &"9".repeat(MAX_UNIQUEID)).len();
            if longest > MAX_APPLICATION {
                // `hub --playlist` is one route the operator never named.
                let whose = match routes.source {
                    Some(_) => format!("route {:?}: ", r.name),
                    None => String::new(),
                };
                return Err(format!(
                    "{whose}the generator's command line would be {longest} bytes with a long Uniqueid; Asterisk keeps {MAX_APPLICATION}: use shorter paths (the playlist, --socket, --timeline-dir, --generator-log, --cache-dir)"
                ));
            }
        }
        Ok(())
    }

    fn check_length(&self) -> Result<(), String> {
        let longest = self.application(&[], &"9".repeat(MAX_UNIQUEID)).len();
        if longest > MAX_APPLICATION {
            return Err(format!(
                "the application would be {longest} bytes with a long Uniqueid; Asterisk keeps {MAX_APPLICATION}: use shorter paths"
            ));
        }
        if let Some(routes) = &self.routes {
            let current = routes.read().unwrap_or_else(PoisonError::into_inner).clone();
            self.check_routes(&current)?;
        }
        Ok(())
    }

    fn application(&self, route: &[String], uniqueid: &str) -> String {
        let mut a = self.argv.join(" ");
        for word in route {
            a.push(' ');
            a.push_str(word);
        }
        a.push_str(" -u ");
        a.push_str(uniqueid);
        if let Some(key) = &self.key {
            a.push_str(" -t ");
            a.push_str(&key.token(uniqueid));
        }
        a
    }

    /// The row for class `name`, or `None` (Asterisk then falls back to
    /// its static `[default]` class).
    pub fn row(&self, name: &str) -> Option<String> {
        let rest = name.strip_prefix(&self.prefix)?;
        let (route, uniqueid) = match &self.routes {
            None => (Vec::new(), is_uniqueid(rest).then_some(rest)?),
            Some(routes) => {
                let facts = |id: &str| self.facts.as_ref().and_then(|f| f(id));
                let (pick, uniqueid) = super::class::read(rest, &|id| facts(id).is_some())?;
                let routes = routes.read().unwrap_or_else(PoisonError::into_inner).clone();
                let route = routes.pick(pick, facts(uniqueid).as_ref());
                tracing::debug!(route = %route.name, "realtime route");
                if let (Some(log), Some(_)) = (&self.route_log, &routes.source) {
                    log(uniqueid, &route.name);
                }
                (route.argv(), uniqueid)
            }
        };
        Some(format!(
            "name={}&mode=custom&application={}&format={}",
            encode(name),
            encode(&self.application(&route, uniqueid)),
            encode(&self.format)
        ))
    }
}

/// Asterisk's shape: letters, digits, `.`, `-`, `_`; at most 64; starting
/// with a letter or a digit (a leading `-` would make the next argv word an
/// option, `holdmix--q` giving `--uniqueid -q`, a generator that cannot
/// start).
pub fn is_uniqueid(s: &str) -> bool {
    s.len() <= MAX_UNIQUEID
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `%XX` for everything but unreserved characters and `/` (Asterisk decodes
/// `%XX` only; a `+` would stay a `+`).
fn encode(s: &str) -> String {
    crate::util::percent::encode(s, b"/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> RowTemplate {
        RowTemplate::new(
            "holdmix-",
            "slin",
            vec![
                "/usr/bin/holdmix".into(),
                "run".into(),
                "--hub".into(),
                "/run/holdmix/hub.sock".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_only_for_asterisk_shaped_uniqueids() {
        let t = template();
        let row = t.row("holdmix-1795734025.1").unwrap();
        assert_eq!(
            row,
            "name=holdmix-1795734025.1&mode=custom&application=/usr/bin/holdmix%20run%20--hub%20/run/holdmix/hub.sock%20-u%201795734025.1&format=slin"
        );
        for bad in [
            "default",
            "holdmix-",
            "holdmix-1 2",
            "holdmix-../x",
            "holdmix-.1",
            "holdmix--q",
            "holdmix--help",
            "holdmix-_1",
            "holdmix-1&a=b",
            "other-1.2",
        ] {
            assert_eq!(t.row(bad), None, "{bad}");
        }
        assert!(t.row(&format!("holdmix-{}", "1".repeat(65))).is_none());
    }

    #[test]
    fn each_row_carries_its_own_calls_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key =
            std::sync::Arc::new(crate::hub::token::Key::load_or_create(&dir.path().join("k")).expect("key"));
        let t = template().with_key(key.clone()).expect("fits");
        let row = t.row("holdmix-1795734025.1").expect("row");
        let token = key.token("1795734025.1");
        assert!(
            row.contains(&format!("-u%201795734025.1%20-t%20{token}&")),
            "{row}"
        );
        assert_ne!(token, key.token("1795734025.2"));
    }

    #[test]
    fn templates_asterisk_would_split_are_refused() {
        assert!(RowTemplate::new("holdmix-", "slin", vec!["holdmix".into()]).is_err());
        assert!(RowTemplate::new("holdmix-", "slin", vec!["/opt/hold mix/holdmix".into()]).is_err());
        assert!(RowTemplate::new("holdmix-", "slin", vec![format!("/{}", "x".repeat(200))]).is_err());
    }
}
