//! Time zones for time-of-day windows, read from the system's tz database
//! (`/usr/share/zoneinfo`, Debian's `tzdata`, priority "required").
//!
//! Not chrono-tz, though it is the usual choice: its compiled-in database
//! is about a megabyte of pointers that the dynamic loader relocates at
//! every start, so each call (each process) would carry a private, dirty
//! megabyte and read 700 KB of relocations before its first frame
//! (measured). tz-rs reads just the one zone a playlist names.

use chrono::{DateTime, NaiveDateTime, Utc};
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

/// Abbreviations people write for a zone that the tz database has no file
/// for, with the zone most of their users mean. A "did you mean" by
/// spelling would send a Moscow user from MSK to MST (Arizona's offset).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("MSK", "Europe/Moscow"),
    ("MSD", "Europe/Moscow"),
    ("SAMT", "Europe/Samara"),
    ("YEKT", "Asia/Yekaterinburg"),
    ("OMST", "Asia/Omsk"),
    ("NOVT", "Asia/Novosibirsk"),
    ("KRAT", "Asia/Krasnoyarsk"),
    ("IRKT", "Asia/Irkutsk"),
    ("YAKT", "Asia/Yakutsk"),
    ("VLAT", "Asia/Vladivostok"),
    ("MAGT", "Asia/Magadan"),
    ("PETT", "Asia/Kamchatka"),
    ("BST", "Europe/London"),
    ("CEST", "Europe/Berlin"),
    ("EEST", "Europe/Helsinki"),
    ("WEST", "Europe/Lisbon"),
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("MDT", "America/Denver"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("EDT", "America/New_York"),
    ("AKST", "America/Anchorage"),
    ("JST", "Asia/Tokyo"),
    ("KST", "Asia/Seoul"),
    ("IST", "Asia/Kolkata"),
    ("SGT", "Asia/Singapore"),
    ("HKT", "Asia/Hong_Kong"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
    ("NZST", "Pacific/Auckland"),
];

/// The hint for `name`, which is not a zone: the zone an abbreviation
/// stands for, the zone of a city named alone, or a near spelling; never
/// a zone picked only for being a few letters away from a short word.
pub fn hint(name: &str) -> String {
    const USE: &str = "use an IANA zone name such as \"Europe/Moscow\" (see /usr/share/zoneinfo)";
    let name = name.trim();
    if name.is_empty() {
        return format!("leave `timezone` out for the host's zone, or {USE}");
    }
    if let Some((_, zone)) = ABBREVIATIONS.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)) {
        return format!("{name} is an abbreviation, not an IANA zone name: did you mean \"{zone}\"?");
    }
    let short = name.len() <= 5 && name.bytes().all(|b| b.is_ascii_alphabetic());
    if short && name.bytes().all(|b| b.is_ascii_uppercase()) {
        return format!("{name} looks like an abbreviation, not an IANA zone name: {USE}");
    }
    let names = Zone::known_names();
    // "Moscow" or "new york" alone: the zone of that city.
    let city = name.replace(' ', "_");
    let of_city = names.iter().find(|n| {
        n.contains('/')
            && n.rsplit('/')
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case(&city))
    });
    let near = of_city.map(String::as_str).or_else(|| {
        (!short)
            .then(|| super::diag::closest(name, names.iter().map(String::as_str)))
            .flatten()
    });
    match near {
        Some(zone) => format!("did you mean \"{zone}\"?"),
        None => USE.to_string(),
    }
}

/// The local date and time at `at` in `zone` (the host's zone when `None`):
/// what "today" is for date windows.
pub fn local(zone: Option<&Zone>, at: DateTime<Utc>) -> NaiveDateTime {
    match zone {
        Some(z) => at.naive_utc() + chrono::Duration::seconds(i64::from(z.offset_at(at.timestamp()))),
        None => at.with_timezone(&chrono::Local).naive_local(),
    }
}

/// The instant a local time in `zone` names. A time skipped by a clock
/// change (02:30 on a spring-forward day) is taken as the instant the
/// offset before the change gives, i.e. just after the change.
pub fn instant(zone: Option<&Zone>, local: NaiveDateTime) -> DateTime<Utc> {
    use chrono::TimeZone;
    match zone {
        Some(z) => {
            // The offset at the local time read as UTC is off by at most
            // the offset itself; asking again at the corrected instant
            // lands on the right side of any DST change.
            let guess = local.and_utc().timestamp();
            let first = guess - i64::from(z.offset_at(guess));
            Utc.from_utc_datetime(&local) - chrono::Duration::seconds(i64::from(z.offset_at(first)))
        }
        None => chrono::Local
            .from_local_datetime(&local)
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc)),
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

    /// New Year comes to Vladivostok (UTC+10) at 14:00 UTC on 31 December:
    /// "today" is the zone's date, not UTC's.
    #[test]
    fn vladivostok_is_in_the_new_year_while_utc_is_not() {
        let z = Zone::named("Asia/Vladivostok").expect("tzdata installed");
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let before = local(Some(&z), at("2026-12-31T13:59:59Z"));
        let after = local(Some(&z), at("2026-12-31T14:00:00Z"));
        assert_eq!(before.to_string(), "2026-12-31 23:59:59");
        assert_eq!(after.to_string(), "2027-01-01 00:00:00");
        assert_eq!(instant(Some(&z), after), at("2026-12-31T14:00:00Z"));
    }

    /// Berlin springs forward on 2026-03-29 at 02:00 (to 03:00): the hour
    /// between does not exist, and 03:00 local is 01:00 UTC.
    #[test]
    fn berlin_spring_forward_day() {
        let z = Zone::named("Europe/Berlin").expect("tzdata installed");
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            local(Some(&z), at("2026-03-29T00:59:59Z")).to_string(),
            "2026-03-29 01:59:59"
        );
        assert_eq!(
            local(Some(&z), at("2026-03-29T01:00:00Z")).to_string(),
            "2026-03-29 03:00:00"
        );
        let three = chrono::NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(3, 0, 0)
            .unwrap();
        assert_eq!(instant(Some(&z), three), at("2026-03-29T01:00:00Z"));
    }

    /// Hints point at the zone meant: an abbreviation's, a city's, a
    /// near spelling's; none for an empty or short word.
    #[test]
    fn hints_name_the_zone_meant() {
        for (name, want) in [
            (
                "MSK",
                "MSK is an abbreviation, not an IANA zone name: did you mean \"Europe/Moscow\"?",
            ),
            ("Moscow", "did you mean \"Europe/Moscow\"?"),
            ("new york", "did you mean \"America/New_York\"?"),
            ("Europe/Moskow", "did you mean \"Europe/Moscow\"?"),
            (
                "",
                "leave `timezone` out for the host's zone, or use an IANA zone name such as \"Europe/Moscow\" \
                 (see /usr/share/zoneinfo)",
            ),
            (
                "XYZT",
                "XYZT looks like an abbreviation, not an IANA zone name: use an IANA zone name such as \
                 \"Europe/Moscow\" (see /usr/share/zoneinfo)",
            ),
        ] {
            assert_eq!(hint(name), want, "{name:?}");
        }
        // No abbreviation of the list names a zone that is not there.
        for (abbreviation, zone) in ABBREVIATIONS {
            assert!(Zone::named(zone).is_ok(), "{abbreviation}: {zone}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(Zone::named("Europe/Moskow").is_err());
        assert!(Zone::named("../../etc/passwd").is_err());
        assert!(Zone::named("").is_err());
    }
}
