//! Hot reload of the hub's routes file: looked at every two seconds (as
//! `run` looks at its playlist; polling, for the same reasons), and a new
//! version replaces the routes in force only when it is valid as a whole
//! and every route's row fits Asterisk's field. A version with errors, an
//! empty one (a truncated save) or an unreadable one is refused with one
//! log line naming its problems, and the old routes stay: a typo saved by
//! mistake never sends calls to the wrong playlist, or to none.

use super::row::SharedRoutes;
use crate::routes::Routes;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// How often the routes file is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// A version of the file on disk: a save by rename changes the inode, an
/// edit in place the mtime or size.
type Stamp = (u64, i64, i64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

/// Watches `path` on a thread of its own; `fits` is the row template's
/// check of a new version.
pub fn spawn(
    path: PathBuf,
    shared: SharedRoutes,
    fits: impl Fn(&Routes) -> Result<(), String> + Send + 'static,
) -> std::io::Result<()> {
    let mut seen = stamp(&path);
    std::thread::Builder::new()
        .name("routes".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            loop {
                std::thread::sleep(POLL);
                let now = stamp(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                match crate::routes::parse::load_valid(&path).and_then(|r| fits(&r).map(|()| r)) {
                    Ok(routes) => {
                        let names: Vec<&str> = routes.all().iter().map(|r| r.name.as_str()).collect();
                        tracing::info!(file = %path.display(), routes = %names.join(","), "routes reloaded");
                        *shared.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
                    }
                    Err(why) => {
                        tracing::error!(file = %path.display(), "routes reload refused, the old routes stay: {why}");
                    }
                }
            }
        })?;
    Ok(())
}
