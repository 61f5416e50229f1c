//! Time zones for time-of-day windows, read from the system's tz database
//! (`/usr/share/zoneinfo`, Debian's `tzdata`, priority "required").
//!
//! Not chrono-tz, though it is the usual choice: its compiled-in database
//! is about a megabyte of pointers that the dynamic loader relocates at
//! every start, so each call (each process) would carry a private, dirty
//! megabyte and read 700 KB of relocations before its first frame
//! (measured). tz-rs reads just the one zone a playlist names.

use std::path::Path;
use std::sync::Arc;

const ZONEINFO: &str = "/usr/share/zoneinfo";

#[derive(Clone)]
pub struct Zone {
    pub name: String,
    tz: Arc<tz::TimeZone>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl Zone {
    /// An IANA zone by name, e.g. `Europe/Moscow`.
    pub fn named(name: &str) -> Result<Zone, String> {
        let valid = !name.is_empty()
            && !name.starts_with('/')
            && name
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !valid {
            return Err(format!("{name:?} is not a time zone name"));
        }
        // The `:` makes tz-rs read the zone file, never take the name as a POSIX rule.
        match tz::TimeZone::from_posix_tz(&format!(":{name}")) {
            Ok(tz) => Ok(Zone {
                name: name.to_string(),
                tz: Arc::new(tz),
            }),
            Err(_) => Err(format!("unknown time zone {name:?}")),
        }
    }

    /// Offset from UTC, in seconds, at `unix` seconds.
    pub fn offset_at(&self, unix: i64) -> i32 {
        self.tz.find_local_time_type(unix).map_or(0, |t| t.ut_offset())
    }

    /// The zone names the system knows (for "did you mean" hints).
    pub fn known_names() -> Vec<String> {
        let mut names = Vec::new();
        collect(Path::new(ZONEINFO), "", &mut names);
        names.sort();
        names
    }
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Zone names start with a capital (Europe/Moscow, UTC); skip the
        // "posix" and "right" copies and data files (zone.tab, tzdata.zi).
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match e.file_type() {
            Ok(t) if t.is_dir() => collect(&e.path(), &full, out),
            Ok(_) => out.push(full),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moscow_is_three_hours_ahead() {
        let z = Zone::named("Europe/Moscow").expect("tzdata installed");
        // 2026-11-23T12:00:00Z
        assert_eq!(z.offset_at(1_795_435_200), 3 * 3600);
    }

    #[test]
    fn berlin_keeps_summer_time_rules_in_the_future() {
        let z = Zone::named("Europe/Berlin").expect("tzdata installed");
        // 2036-07-15T12:00:00Z is summer time (+2 h), 2026-11-23 winter (+1 h).
        assert_eq!(z.offset_at(2_099_736_000), 2 * 3600);
        assert_eq!(z.offset_at(1_795_435_200), 3600);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(Zone::named("Europe/Moskow").is_err());
        assert!(Zone::named("../../etc/passwd").is_err());
        assert!(Zone::named("").is_err());
    }
}
