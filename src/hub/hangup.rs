//! The call's state removed when the call is over. Asterisk SIGHUPs a
//! generator at `MusicOnHoldStop`, before the channel's `Hangup`, and a
//! generator stopped so keeps its checkpoint for a respawn: only the hub,
//! which sees the `Hangup`, knows that no respawn will come. At each
//! `Hangup` it removes that Uniqueid's checkpoints (`state::StateDir::
//! remove_call`), and keeps the directory's file count bounded.
//!
//! The removal runs on a thread of its own, fed through a bounded queue:
//! listing a directory of thousands of files never holds up the AMI
//! thread that serves every call's events. A full queue drops the name
//! (said in the log): the bound and the hourly sweep remove it later.

use crate::ami::codec::Message;
use crate::state::{MAX_FILES, StateDir};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Hangups waiting for their removal, at most.
const QUEUE: usize = 4096;
/// The directory's count is bounded at most this often.
const BOUND_EVERY: Duration = Duration::from_secs(60);

/// The hub's side: hands each hung-up Uniqueid to the removal thread.
pub struct Hangups {
    tx: SyncSender<String>,
}

impl Hangups {
    /// Starts the removal thread for the checkpoints in `dir` (the
    /// generators' `--state-dir`, their default when `None`).
    pub fn spawn(dir: Option<&std::path::Path>) -> Result<Hangups, String> {
        let dir = StateDir::open(dir)?;
        tracing::info!(dir = %dir.path().display(), "removing the calls' checkpoints at their hangup");
        let (tx, rx) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("hangups".into())
            .spawn(move || {
                let mut bounded = Instant::now();
                dir.bound(MAX_FILES);
                for uniqueid in rx {
                    let removed = dir.remove_call(&uniqueid);
                    tracing::debug!(%uniqueid, removed, "the call's checkpoints removed at its hangup");
                    if bounded.elapsed() >= BOUND_EVERY {
                        bounded = Instant::now();
                        dir.bound(MAX_FILES);
                    }
                }
            })
            .map_err(|e| format!("cannot start the hangup thread: {e}"))?;
        Ok(Hangups { tx })
    }

    /// Every AMI message goes by here; a `Hangup` queues its Uniqueid.
    pub fn seen(&self, m: &Message) {
        if !m.is("Hangup") {
            return;
        }
        let Some(uniqueid) = m
            .get("Uniqueid")
            .filter(|u| crate::hub::realtime::row::is_uniqueid(u))
        else {
            return;
        };
        match self.tx.try_send(uniqueid.to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(%uniqueid, "hangups queue full: its checkpoints wait for the sweep");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}
