//! A route's conditions, and what the hub knows of a call to meet them.
//!
//! Asterisk looks up a call's realtime class when its hold music starts,
//! before `MusicOnHoldStart`. By then the hub has heard, on AMI, the
//! call's `Newchannel` (its DID as it arrived, language, account code),
//! the channel events since (each carries the dialplan context and
//! extension as they are then) and, in a queue, app_queue's
//! `QueueCallerJoin`, which it sends before it starts the music. The
//! facts are those, as last heard.
//!
//! Each condition is a list of accepted values (exact, case-sensitive, as
//! Asterisk names things); a route matches when every condition it sets
//! holds. A route that sets none is picked only by name or as the default.

/// What the hub knows of a call when Asterisk asks for its class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The queue it waits in (empty: none).
    pub queue: String,
    /// The dialplan context and extension, as last heard.
    pub context: String,
    pub exten: String,
    /// The extension of the call's first event (`Newchannel`): the number
    /// dialled to reach the PBX, before any `Goto`.
    pub did: String,
    /// The channel's language (`CHANNEL(language)`), as last heard.
    pub language: String,
    /// The channel's account code (`CHANNEL(accountcode)`): a tenant.
    pub accountcode: String,
}

/// The condition keys of a routes file, in the order they are documented.
pub const KEYS: &[&str] = &["queue", "context", "exten", "did", "language", "accountcode"];

/// A route's conditions: each an accepted list (empty: no condition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub queue: Vec<String>,
    pub context: Vec<String>,
    pub exten: Vec<String>,
    pub did: Vec<String>,
    pub language: Vec<String>,
    pub accountcode: Vec<String>,
}

impl Conditions {
    /// The list for condition `key` (one of [`KEYS`]).
    pub fn list_mut(&mut self, key: &str) -> Option<&mut Vec<String>> {
        Some(match key {
            "queue" => &mut self.queue,
            "context" => &mut self.context,
            "exten" => &mut self.exten,
            "did" => &mut self.did,
            "language" => &mut self.language,
            "accountcode" => &mut self.accountcode,
            _ => return None,
        })
    }

    fn pairs<'a>(&'a self, f: &'a Facts) -> [(&'a [String], &'a str); 6] {
        [
            (&self.queue, &f.queue),
            (&self.context, &f.context),
            (&self.exten, &f.exten),
            (&self.did, &f.did),
            (&self.language, &f.language),
            (&self.accountcode, &f.accountcode),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.pairs(&Facts::default())
            .iter()
            .all(|(list, _)| list.is_empty())
    }

    /// Every condition set holds; a route with none never matches here.
    pub fn matches(&self, facts: &Facts) -> bool {
        !self.is_empty()
            && self
                .pairs(facts)
                .iter()
                .all(|(list, value)| list.is_empty() || list.iter().any(|v| v == value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_set_must_hold_and_any_listed_value_does() {
        let when = Conditions {
            queue: vec!["sales".into(), "sales_vip".into()],
            language: vec!["ru".into()],
            ..Conditions::default()
        };
        let mut f = Facts {
            queue: "sales_vip".into(),
            language: "ru".into(),
            context: "from-trunk".into(),
            ..Facts::default()
        };
        assert!(when.matches(&f));
        f.language = "en".into();
        assert!(!when.matches(&f));
        f.language = "ru".into();
        f.queue = "Sales".into();
        assert!(!when.matches(&f), "exact, as Asterisk names queues");
        f.queue.clear();
        assert!(!when.matches(&f), "not in a queue");
        assert!(!Conditions::default().matches(&Facts::default()));
        assert!(Conditions::default().is_empty());
    }

    #[test]
    fn an_empty_account_code_can_be_asked_for() {
        // AMI says `AccountCode: ` for a channel without one.
        let when = Conditions {
            accountcode: vec![String::new()],
            ..Conditions::default()
        };
        assert!(when.matches(&Facts::default()));
    }
}
