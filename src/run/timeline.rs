//! Where a call's timeline goes: the file `--timeline FILE` names (made
//! for tests and one-off runs: created afresh, an error ends the run), or
//! the call's own file in `--timeline-dir` (see [`timeline_file`]:
//! production, appended to, bounded, an error never costs the call).
//! Every event is also logged at info level ([`timeline_log`]).
//!
//! [`timeline_file`]: super::timeline_file
//! [`timeline_log`]: super::timeline_log

use super::timeline_file::CallTimeline;
use crate::engine::timeline::{Entry, TimelineWriter};
use std::fs::File;
use std::io::BufWriter;

pub enum Sink {
    Plain(TimelineWriter<BufWriter<File>>),
    Call(CallTimeline),
}

impl Sink {
    pub fn plain(f: File) -> Sink {
        Sink::Plain(TimelineWriter::new(BufWriter::new(f)))
    }

    /// Writes what happened and sends it out at once (a reader may follow
    /// the file while the call goes on).
    pub fn write(&mut self, entries: &[Entry]) {
        match self {
            Sink::Plain(t) => {
                t.write(entries).ok();
                t.flush().ok();
            }
            Sink::Call(t) => t.write(entries),
        }
    }
}

/// Logs what happened, and writes it where the call's timeline goes.
pub fn record(sink: Option<&mut Sink>, entries: &[Entry]) {
    super::timeline_log::log(entries);
    if let Some(s) = sink {
        s.write(entries);
    }
}
