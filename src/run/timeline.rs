//! Where a call's timeline goes: the file `--timeline FILE` names (made
//! for tests and one-off runs: created afresh, an error ends the run), or
//! the call's own file in `--timeline-dir` (see [`timeline_file`]:
//! production, appended to, bounded, an error never costs the call).
//! Every event is also logged at info level ([`timeline_log`]), and the
//! ones the hub's metrics count are reported to it.
//!
//! [`timeline_file`]: super::timeline_file
//! [`timeline_log`]: super::timeline_log

use super::timeline_file::{CallTimeline, TimelineFile};
use crate::engine::timeline::{Entry, TimelineEvent, TimelineWriter};
use crate::metrics::report::Report;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

pub enum Sink {
    /// `--timeline FILE`: every line, no cap.
    Plain(Arc<TimelineFile>),
    Call(CallTimeline),
}

impl Sink {
    pub fn plain(f: File, path: PathBuf) -> Sink {
        Sink::Plain(TimelineFile::new(f, path))
    }

    /// Queues what happened for the file (the offload thread writes it at
    /// once: a reader may follow the file while the call goes on).
    pub fn write(&mut self, entries: &[Entry]) {
        match self {
            Sink::Plain(_) if entries.is_empty() => {}
            Sink::Plain(file) => {
                let mut lines = TimelineWriter::new(Vec::new());
                if lines.write(entries).is_ok() {
                    file.append(lines.into_inner());
                }
            }
            Sink::Call(t) => t.write(entries),
        }
    }
}

/// Logs what happened, writes it where the call's timeline goes, and
/// reports what the hub's metrics count (a hand-over: see
/// `metrics::send`).
pub fn record(sink: Option<&mut Sink>, entries: &[Entry]) {
    super::timeline_log::log(entries);
    if let Some(s) = sink {
        s.write(entries);
    }
    for e in entries {
        if let Some(r) = report(&e.event) {
            crate::metrics::send::send(&r);
        }
    }
}

/// What the hub's metrics count of an event: keys by their action (never
/// the digit), prompts by their queue, resumes, stalls and the exit.
fn report(e: &TimelineEvent) -> Option<Report> {
    match e {
        TimelineEvent::Dtmf { action, .. } => Report::key(action.as_deref().unwrap_or("none")),
        TimelineEvent::PromptStart { queue, .. } => Some(Report::prompt(queue)),
        TimelineEvent::Resume { .. } => Some(Report::Resume),
        TimelineEvent::Stall { .. } => Some(Report::Stall),
        TimelineEvent::Exit { reason } => Report::exit(reason),
        _ => None,
    }
}
