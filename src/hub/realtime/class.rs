//! A class name, read: `<prefix><uniqueid>` (the route by the call's
//! facts) or `<prefix><route>-<uniqueid>` (the route by name), e.g.
//! `holdmix-1795734025.1` or `holdmix-sales-1795734025.1`.
//!
//! A Uniqueid is Asterisk's `seconds.sequence`, or `<systemname>-seconds.
//! sequence` when asterisk.conf sets a system name, which reads just like
//! a route name and a Uniqueid. The hub's AMI memory tells them apart: a
//! whole that AMI named as a call is that call's Uniqueid. Anything else
//! gets no row (Asterisk then falls back to its `[default]` class): only
//! a checked route name and a checked Uniqueid ever reach the argv.

use super::row::is_uniqueid;
use crate::routes::{Pick, is_route_name};

/// `seconds.sequence`, digits only: a Uniqueid without a system name.
pub fn is_plain_uniqueid(s: &str) -> bool {
    s.len() <= super::row::MAX_UNIQUEID
        && s.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
}

/// The route pick and the Uniqueid of `rest` (the class name after the
/// prefix), or `None` when it is neither shape. `known`: AMI named this
/// Uniqueid as a call.
pub fn read<'r>(rest: &'r str, known: &dyn Fn(&str) -> bool) -> Option<(Pick<'r>, &'r str)> {
    let is_id = |s: &str| is_plain_uniqueid(s) || (is_uniqueid(s) && known(s));
    if is_id(rest) {
        return Some((Pick::ByFacts, rest));
    }
    let (route, uniqueid) = rest.split_once('-')?;
    (is_route_name(route) && is_id(uniqueid)).then_some((Pick::Named(route), uniqueid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_names_a_route_or_not_and_always_a_uniqueid() {
        let none = |_: &str| false;
        assert_eq!(read("1795734025.1", &none), Some((Pick::ByFacts, "1795734025.1")));
        assert_eq!(
            read("sales-1795734025.1", &none),
            Some((Pick::Named("sales"), "1795734025.1"))
        );
        assert_eq!(
            read("t_42-1795734025.1", &none),
            Some((Pick::Named("t_42"), "1795734025.1"))
        );
        for bad in [
            "",
            "sales",
            "sales-",
            "-1795734025.1",
            "Sales-1795734025.1",
            "sa$les-1795734025.1",
            "sales-1795734025.1 --playlist /etc/passwd",
            "sales--q",
            "sales-1795734025.1-x",
            "a;b-1.2",
            "1.",
            ".1",
            "1795734025",
        ] {
            assert_eq!(read(bad, &none), None, "{bad:?}");
        }
        let long = format!("{}-1.2", "a".repeat(33));
        assert_eq!(read(&long, &none), None);
    }

    #[test]
    fn a_system_name_uniqueid_is_one_when_ami_named_that_call() {
        let pbx = |s: &str| s == "pbx1-1795734025.1";
        assert_eq!(
            read("pbx1-1795734025.1", &pbx),
            Some((Pick::ByFacts, "pbx1-1795734025.1"))
        );
        assert_eq!(
            read("sales-pbx1-1795734025.1", &pbx),
            Some((Pick::Named("sales"), "pbx1-1795734025.1"))
        );
        // Not named by AMI: a route name (unknown ones get the default).
        let none = |_: &str| false;
        assert_eq!(
            read("pbx1-1795734025.1", &none),
            Some((Pick::Named("pbx1"), "1795734025.1"))
        );
    }
}
