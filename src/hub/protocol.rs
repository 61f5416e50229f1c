//! The hub's socket protocol, both sides of it: a generator sends one line,
//! `SUBSCRIBE uniqueid=<id> token=<hex>` (its call and that call's token,
//! see `token`), then reads AMI-framed messages, the first being the hub's
//! greeting (`Event: HoldmixCall` with `Channel`, `Uniqueid`,
//! `CallerIDNum`, `Queue`, `Known`, and `Position` and `Count` when the
//! hub knows the caller's place in the queue, `Language` when it knows the
//! channel's) or its refusal (`Response: Error` with
//! a `Message`, and the end of the connection); it may send
//! `REDIRECT <context> <exten> <priority>` lines, which always mean its own
//! call's channel, and `COUNT`/`OBSERVE` lines, its metrics reports (their
//! words are `metrics::report`'s). Here only the words; the hub server and
//! the generator's side each own their sockets.

use crate::ami::codec::Message;

/// What a generator subscribes to: its call, and the proof that it is
/// that call's generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub uniqueid: String,
    pub token: String,
}

impl Subscribe {
    pub fn to_line(&self) -> String {
        format!("SUBSCRIBE uniqueid={} token={}\n", self.uniqueid, self.token)
    }

    /// `None` for anything but a subscription naming a Uniqueid (the token
    /// may be empty: the hub then refuses it, and says so).
    pub fn parse(line: &str) -> Option<Subscribe> {
        let rest = line.trim().strip_prefix("SUBSCRIBE")?;
        let mut sub = Subscribe {
            uniqueid: String::new(),
            token: String::new(),
        };
        for word in rest.split_whitespace() {
            match word.split_once('=') {
                Some(("uniqueid", v)) => sub.uniqueid = v.to_string(),
                Some(("token", v)) => sub.token = v.to_string(),
                _ => {}
            }
        }
        (!sub.uniqueid.is_empty()).then_some(sub)
    }
}

/// The hub's answer to a subscription it does not authorise.
pub fn refusal(why: &str) -> Message {
    Message {
        fields: vec![
            ("Response".into(), "Error".into()),
            ("Message".into(), why.into()),
        ],
    }
}

/// The reason of a refusal, when `m` is one.
pub fn parse_refusal(m: &Message) -> Option<String> {
    (m.get("Response") == Some("Error")).then(|| m.get("Message").unwrap_or("refused").to_string())
}

/// Whether the hub knows the call (the greeting's `Known`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Yes,
    /// The hub has the whole list of live calls and this one is not in it.
    No,
    /// Not seen, and the list is not complete (yet).
    Unsure,
}

impl Known {
    fn as_str(self) -> &'static str {
        match self {
            Known::Yes => "yes",
            Known::No => "no",
            Known::Unsure => "unsure",
        }
    }
}

/// The hub's first message to a generator: what Asterisk said of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The call's channel (empty: not seen yet).
    pub channel: String,
    pub uniqueid: String,
    /// The caller's number (empty: not known).
    pub caller: String,
    /// The queue the call waits in (empty: none, or not known yet).
    pub queue: String,
    /// The caller's place in that queue (from its `QueueCallerJoin`, which
    /// Asterisk sends before the generator starts, or `QueueEntry`).
    pub position: Option<u32>,
    /// Callers in that queue.
    pub count: Option<u32>,
    /// The channel's language (`CHANNEL(language)`, empty: not known):
    /// its `MusicOnHoldStart` came before this generator subscribed.
    pub language: String,
    /// What the dialplan said the call is known by across channels
    /// (`UserEvent(HoldmixCall,CallKey: ...)`; empty: nothing said).
    pub call_key: String,
    /// The route of the hub's routes file its realtime lookup picked for
    /// the call (empty: none picked).
    pub route: String,
    pub known: Known,
}

impl Greeting {
    pub fn to_message(&self) -> Message {
        let mut fields: Vec<(String, String)> = [
            ("Event", "HoldmixCall"),
            ("Channel", self.channel.as_str()),
            ("Uniqueid", &self.uniqueid),
            ("CallerIDNum", &self.caller),
            ("Queue", &self.queue),
            ("Known", self.known.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // Absent when not known, as AMI leaves out what it does not know.
        for (k, v) in [("Position", self.position), ("Count", self.count)] {
            if let Some(v) = v {
                fields.push((k.to_string(), v.to_string()));
            }
        }
        if !self.language.is_empty() {
            fields.push(("Language".to_string(), self.language.clone()));
        }
        if !self.call_key.is_empty() {
            fields.push(("CallKey".to_string(), self.call_key.clone()));
        }
        if !self.route.is_empty() {
            fields.push(("Route".to_string(), self.route.clone()));
        }
        Message { fields }
    }

    /// `None` when `m` is not a greeting. Only `Known: no` says the call
    /// is over; anything else is taken as unsure.
    pub fn parse(m: &Message) -> Option<Greeting> {
        if !m.is("HoldmixCall") {
            return None;
        }
        let field = |k: &str| m.get(k).unwrap_or("").to_string();
        let number = |k: &str| m.get(k).and_then(|v| v.parse::<u32>().ok());
        Some(Greeting {
            channel: field("Channel"),
            uniqueid: field("Uniqueid"),
            caller: field("CallerIDNum"),
            queue: field("Queue"),
            position: number("Position"),
            count: number("Count"),
            language: field("Language"),
            call_key: field("CallKey"),
            route: field("Route"),
            known: match m.get("Known") {
                Some("no") => Known::No,
                Some("yes") => Known::Yes,
                _ => Known::Unsure,
            },
        })
    }
}

/// Where a generator asks the hub to send its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub context: String,
    pub exten: String,
    pub priority: String,
}

impl Redirect {
    pub fn to_line(&self) -> String {
        format!("REDIRECT {} {} {}\n", self.context, self.exten, self.priority)
    }

    /// `None` for anything but a redirect with a numeric priority.
    pub fn parse(line: &str) -> Option<Redirect> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["REDIRECT", context, exten, priority] if priority.parse::<u32>().is_ok() => Some(Redirect {
                context: context.to_string(),
                exten: exten.to_string(),
                priority: priority.to_string(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_names_a_uniqueid_and_its_token() {
        let sub = Subscribe {
            uniqueid: "1795452386.5".into(),
            token: "00ff".into(),
        };
        assert_eq!(sub.to_line(), "SUBSCRIBE uniqueid=1795452386.5 token=00ff\n");
        assert_eq!(Subscribe::parse(&sub.to_line()), Some(sub));
        assert_eq!(Subscribe::parse("SUBSCRIBE uniqueid= token=00\n"), None);
        assert_eq!(
            Subscribe::parse("SUBSCRIBE channel=PJSIP/x-1\n"),
            None,
            "a channel alone names no call"
        );
        assert_eq!(Subscribe::parse("HELLO uniqueid=x\n"), None);
        let refused = refusal("not authorised");
        assert_eq!(parse_refusal(&refused).as_deref(), Some("not authorised"));
        let hello = Greeting {
            channel: String::new(),
            uniqueid: "1795452386.5".into(),
            caller: String::new(),
            queue: String::new(),
            position: None,
            count: None,
            language: String::new(),
            call_key: String::new(),
            route: String::new(),
            known: Known::Unsure,
        };
        assert_eq!(parse_refusal(&hello.to_message()), None);
    }

    #[test]
    fn a_greeting_round_trips_and_only_no_means_over() {
        let g = Greeting {
            channel: "Local/200@test-00000002;2".into(),
            uniqueid: "1795452386.5".into(),
            caller: "79001112233".into(),
            queue: "holdq".into(),
            position: Some(2),
            count: Some(3),
            language: "ru".into(),
            call_key: "921b00e4-fec0-4a36-9397-a40ab74e1893@10.0.0.5".into(),
            route: "sales".into(),
            known: Known::No,
        };
        assert_eq!(Greeting::parse(&g.to_message()), Some(g.clone()));
        // No place known: no field, and none parsed.
        let unplaced = Greeting {
            position: None,
            count: None,
            language: String::new(),
            call_key: String::new(),
            route: String::new(),
            ..g
        };
        let m = unplaced.to_message();
        assert_eq!(
            (
                m.get("Position"),
                m.get("Count"),
                m.get("Language"),
                m.get("CallKey")
            ),
            (None, None, None, None)
        );
        assert_eq!(Greeting::parse(&m), Some(unplaced));
        let odd = Message {
            fields: vec![
                ("Event".into(), "HoldmixCall".into()),
                ("Known".into(), "maybe".into()),
                ("Position".into(), "-1".into()),
            ],
        };
        assert_eq!(Greeting::parse(&odd).map(|g| g.known), Some(Known::Unsure));
        assert_eq!(Greeting::parse(&odd).and_then(|g| g.position), None);
    }

    #[test]
    fn a_redirect_needs_a_numeric_priority() {
        let to = Redirect {
            context: "redirected".into(),
            exten: "500".into(),
            priority: "1".into(),
        };
        assert_eq!(to.to_line(), "REDIRECT redirected 500 1\n");
        assert_eq!(Redirect::parse(&to.to_line()), Some(to));
        assert_eq!(
            Redirect::parse("REDIRECT redirected 500 1"),
            Some(Redirect {
                context: "redirected".into(),
                exten: "500".into(),
                priority: "1".into()
            })
        );
        assert_eq!(Redirect::parse("REDIRECT redirected 500 one"), None);
        assert_eq!(Redirect::parse("REDIRECT redirected 500"), None);
    }
}
