//! Asterisk's `queue_log`: how each call left the queue, so the report can
//! tell an abandon from an answered call (the timeline cannot: Asterisk
//! stops the music with the same SIGHUP either way).
//!
//! A line is `epoch|callid|queue|agent|EVENT|data1|data2|…`, as
//! `ast_queue_log()` in Asterisk's `main/logger.c` writes it; the data
//! fields per event are those `apps/app_queue.c` gives:
//!
//! | event            | data1       | data2            | data3     | data4    |
//! |------------------|-------------|------------------|-----------|----------|
//! | ENTERQUEUE       | url         | caller id number | position  | (cid name) |
//! | ABANDON          | position    | original position| wait (s)  |          |
//! | EXITWITHTIMEOUT  | position    | original position| wait (s)  |          |
//! | EXITEMPTY        | position    | original position| wait (s)  |          |
//! | EXITWITHKEY      | key         | position         | orig. pos.| wait (s) |
//! | CONNECT          | hold (s)    | agent's uniqueid | ring (s)  |          |
//! | COMPLETECALLER / COMPLETEAGENT | hold (s) | talk (s) | orig. pos. |   |
//!
//! Other events (RINGNOANSWER, TRANSFER, QUEUESTART, agent events…) are
//! read and left aside. Only a per-call summary is kept, never the lines.

use std::collections::HashMap;

/// How a call left the queue, by its last deciding event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// CONNECT, COMPLETECALLER or COMPLETEAGENT: an agent took it.
    Answered,
    /// ABANDON: the caller hung up while waiting.
    Abandoned,
    /// EXITWITHTIMEOUT: the queue's timeout sent the caller on.
    Timeout,
    /// EXITWITHKEY: the caller pressed a key that leaves the queue.
    Key,
    /// EXITEMPTY: no agents (left by `leavewhenempty`).
    Empty,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Abandoned => "abandoned",
            Outcome::Timeout => "timeout",
            Outcome::Key => "key",
            Outcome::Empty => "empty",
        }
    }
}

/// What the queue_log says of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCall {
    pub queue: String,
    /// Its first line's time (ENTERQUEUE's, normally), epoch seconds.
    pub entered: Option<i64>,
    pub outcome: Option<Outcome>,
    /// Seconds waited before the outcome, as Asterisk counted them.
    pub wait: Option<u64>,
}

/// One line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub time: i64,
    pub callid: &'a str,
    pub queue: &'a str,
    pub event: &'a str,
    pub data: Vec<&'a str>,
}

/// Splits a queue_log line; `Err` names the field that is wrong.
pub fn parse_line(line: &str) -> Result<Line<'_>, String> {
    let mut f = line.split('|');
    let time = f.next().unwrap_or_default();
    let time = time
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("time {time:?} is not epoch seconds"))?;
    let mut field = |name: &str| f.next().ok_or_else(|| format!("no {name} field"));
    let callid = field("callid")?;
    let queue = field("queue")?;
    let _agent = field("agent")?;
    let event = field("event")?;
    if event.is_empty() || !event.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(format!("event {event:?} is not an Asterisk queue event"));
    }
    Ok(Line {
        time,
        callid,
        queue,
        event,
        data: f.collect(),
    })
}

/// The calls met so far, by callid (Asterisk's Uniqueid of the caller).
#[derive(Debug, Default)]
pub struct QueueCalls {
    pub calls: HashMap<String, QueueCall>,
    /// Lines read, and lines of events the report uses.
    pub lines: u64,
    pub used: u64,
}

impl QueueCalls {
    /// Folds one line in; `Err` (the field at fault) for a line that is
    /// not queue_log's shape or a known event with a bad number.
    pub fn add(&mut self, line: &str) -> Result<(), String> {
        self.lines += 1;
        let l = parse_line(line)?;
        let num = |i: usize, what: &str| -> Result<u64, String> {
            let v = l.data.get(i).copied().unwrap_or_default();
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{} data{} ({what}) {v:?} is not a number", l.event, i + 1))
        };
        let (outcome, wait) = match l.event {
            "ENTERQUEUE" => (None, None),
            "ABANDON" => (Some(Outcome::Abandoned), Some(num(2, "wait")?)),
            "EXITWITHTIMEOUT" => (Some(Outcome::Timeout), Some(num(2, "wait")?)),
            "EXITEMPTY" => (Some(Outcome::Empty), Some(num(2, "wait")?)),
            "EXITWITHKEY" => (Some(Outcome::Key), Some(num(3, "wait")?)),
            "CONNECT" | "COMPLETECALLER" | "COMPLETEAGENT" => {
                (Some(Outcome::Answered), Some(num(0, "hold")?))
            }
            _ => return Ok(()),
        };
        if l.callid.is_empty() || l.callid == "NONE" {
            return Err(format!("{} without a callid", l.event));
        }
        self.used += 1;
        let c = self.calls.entry(l.callid.to_string()).or_default();
        if c.queue.is_empty() {
            c.queue = l.queue.to_string();
        }
        c.entered.get_or_insert(l.time);
        // A caller may leave one queue and enter another: the last
        // outcome is the call's. Once answered, later lines (COMPLETE*)
        // say the same.
        if let Some(o) = outcome
            && c.outcome != Some(Outcome::Answered)
        {
            c.outcome = Some(o);
            c.wait = wait;
            c.queue = l.queue.to_string();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_asterisks_shape_give_each_calls_outcome() {
        let mut q = QueueCalls::default();
        for l in [
            "1764892800|NONE|NONE|NONE|QUEUESTART|",
            "1764892801|1764892801.1|sales|NONE|ENTERQUEUE||5551234|1",
            "1764892841|1764892801.1|sales|NONE|ABANDON|1|1|40",
            "1764892802|1764892802.2|support|NONE|ENTERQUEUE||5559876|1|Jo",
            "1764892832|1764892802.2|support|PJSIP/101|CONNECT|30|1764892830.9|2",
            "1764892900|1764892802.2|support|PJSIP/101|COMPLETECALLER|30|68|1",
            "1764892805|1764892805.3|sales|NONE|EXITWITHKEY|5|2|2|12",
        ] {
            q.add(l).unwrap();
        }
        assert_eq!(q.lines, 7);
        assert_eq!(q.used, 6);
        let a = &q.calls["1764892801.1"];
        assert_eq!(
            (a.queue.as_str(), a.outcome, a.wait, a.entered),
            ("sales", Some(Outcome::Abandoned), Some(40), Some(1764892801))
        );
        let b = &q.calls["1764892802.2"];
        assert_eq!(
            (b.queue.as_str(), b.outcome, b.wait),
            ("support", Some(Outcome::Answered), Some(30))
        );
        assert_eq!(q.calls["1764892805.3"].wait, Some(12));
    }

    #[test]
    fn a_bad_line_names_its_field() {
        let mut q = QueueCalls::default();
        assert!(
            q.add("yesterday|1.1|q|NONE|ABANDON|1|1|4")
                .unwrap_err()
                .contains("time")
        );
        assert!(q.add("1|1.1|q").unwrap_err().contains("agent"));
        assert!(
            q.add("1|1.1|q|NONE|ABANDON|1|1|x")
                .unwrap_err()
                .contains("data3 (wait)")
        );
        assert!(q.calls.is_empty());
    }
}
