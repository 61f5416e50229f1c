//! Why a stream ended. `run` never ends for bad input; it ends on purpose,
//! and what happens to the call's state depends on why.

use crate::engine::Ended;

/// The end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGHUP, SIGTERM or SIGINT (Asterisk sends SIGHUP, then SIGTERM and
    /// SIGKILL 100 ms apart). The signal's number.
    Signal(i32),
    /// The call is over (a `hangup` event, or AMI's `Hangup`).
    Hangup,
    /// Asterisk stopped the music for this call (`MusicOnHoldStop`); the call
    /// may come back on hold.
    MusicStopped,
    /// The reader closed the pipe.
    ReaderGone,
    /// Writing to stdout failed for another reason.
    WriteError,
    /// Nobody read the stream for `--orphan-after`: a generator Asterisk lost.
    Orphaned,
}

impl Exit {
    /// The reason as the log and the timeline's `exit` event give it.
    pub fn reason(self) -> &'static str {
        match self {
            Exit::Signal(libc::SIGHUP) => "sighup",
            Exit::Signal(libc::SIGTERM) => "sigterm",
            Exit::Signal(libc::SIGINT) => "sigint",
            Exit::Signal(_) => "signal",
            Exit::Hangup => "hangup",
            Exit::MusicStopped => "music-stopped",
            Exit::ReaderGone => "reader-gone",
            Exit::WriteError => "write-error",
            Exit::Orphaned => "orphaned",
        }
    }

    /// The call is over: nothing of it is kept to resume.
    pub fn call_over(self) -> bool {
        self == Exit::Hangup
    }

    /// The engine ran on while nobody listened: what it did after the last
    /// read is not the caller's (the checkpoint of what was read stays, and
    /// the caller's memory is not updated).
    pub fn unheard(self) -> bool {
        self == Exit::Orphaned
    }
}

impl From<Ended> for Exit {
    fn from(e: Ended) -> Exit {
        match e {
            Ended::Hangup => Exit::Hangup,
            Ended::MusicStopped => Exit::MusicStopped,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_the_words_logs_and_timelines_always_had() {
        let all = [
            (Exit::Signal(libc::SIGHUP), "sighup"),
            (Exit::Signal(libc::SIGTERM), "sigterm"),
            (Exit::Signal(libc::SIGINT), "sigint"),
            (Exit::Signal(libc::SIGUSR1), "signal"),
            (Exit::Hangup, "hangup"),
            (Exit::MusicStopped, "music-stopped"),
            (Exit::ReaderGone, "reader-gone"),
            (Exit::WriteError, "write-error"),
            (Exit::Orphaned, "orphaned"),
        ];
        for (exit, word) in all {
            assert_eq!(exit.to_string(), word);
            assert!(
                crate::metrics::report::Report::exit(word).is_some(),
                "the hub's metrics know {word}"
            );
            assert_eq!(exit.call_over(), word == "hangup");
            assert_eq!(exit.unheard(), word == "orphaned");
        }
    }
}
