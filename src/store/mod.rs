//! Per-caller memory.
//!
//! A caller's number keeps the music they chose, where in it they left off
//! and which advices they heard when ([`CallerRecord`]), so a call-back
//! continues the same experience without repeating advices. One call's
//! state across respawns is not kept here but in host-local checkpoint
//! files (`crate::state`), which the audio thread updates every tick
//! without a syscall and which survive SIGKILL.
//!
//! Version 0.1.0 also created a per-call table, `holdmix_call`, that nothing
//! used. It is no longer created, read or expired. One in an existing
//! database is harmless and left as it is, with no `DROP`: a 0.1.0 process
//! may still share the database, and its expiry queries that table (where
//! it is missing, that expiry fails with a debug line, and newer processes
//! expire the heard rows). The schema stays version 1: the tables the store
//! uses are as they were.
//!
//! Two databases behind one [`Backend`]: an embedded SQLite file (the
//! default, shared by every process on the host) and MySQL/MariaDB (shared
//! by hosts, and able to use the old hack's `queue_music` table as it is).
//!
//! The engine talks to a [`Store`]: a handle to a worker thread that owns
//! the database. `start` waits a bounded time for the caller's record;
//! `put_caller` only queues (the audio thread may call it); `flush` is for
//! the exit window Asterisk leaves between SIGHUP and SIGKILL. A database that is down costs
//! defaults and log lines, never audio, and no accepted write is lost while
//! the process lives.

mod backend;
mod legacy;
mod mysql;
mod record;
mod spec;
mod sqlite;
mod worker;

pub use backend::Backend;
pub use mysql::MysqlStore;
pub use record::{
    CallerRecord, HEARD_KEEP, Key, MAX_ADVICE, MAX_MUSIC, MAX_NUMBER, StoreError, Write, unix_now,
};
pub use spec::{PASSWORD_ENV, Spec, default_sqlite_path};
pub use sqlite::SqliteStore;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// How the engine's store is set up.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite:PATH`, a bare path, or `mysql://user@host:port/db`;
    /// `None`: the default SQLite file ([`default_sqlite_path`]).
    pub spec: Option<String>,
    /// The MySQL password's file; without it, `HOLDMIX_STORE_PASSWORD`.
    pub password_file: Option<PathBuf>,
    /// How long [`Store::start`] waits for the records.
    pub start_timeout: Duration,
    /// Advices heard longer ago than this are not returned (may repeat).
    pub heard_window: Duration,
    /// The playlist's `[music] tracks` as listed (paths as the engine names
    /// them): the old hack's `queue_music.music_class`, where it is an
    /// integer, is an index into this list.
    pub tracks: Vec<String>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            spec: None,
            password_file: None,
            start_timeout: Duration::from_millis(300),
            heard_window: Duration::from_secs(24 * 3600),
            tracks: Vec::new(),
        }
    }
}

/// The engine's handle to the store's worker thread. Dropping it lets the
/// worker finish writing (retrying up to 10 s) in the background.
#[derive(Clone)]
pub struct Store {
    /// `None` when the store is off (a bad spec, or no thread).
    tx: Option<mpsc::Sender<worker::Msg>>,
}

impl Store {
    /// Starts the worker and reads the caller's record, waiting at most
    /// `opts.start_timeout` (zero: not at all, and silently). A late or
    /// failed read gives `None` (defaults) and one log line; the worker keeps trying to reach the database for
    /// the writes that follow.
    pub fn start(opts: &StoreOptions, caller: Option<&str>) -> (Store, Option<CallerRecord>) {
        let began = std::time::Instant::now();
        let spec = match Spec::parse(opts.spec.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}: caller memory off for this call");
                return (Store::off(), None);
            }
        };
        let shown = spec.shown();
        let (tx, rx) = mpsc::channel();
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let start = worker::Start {
            caller: caller.map(str::to_string),
            heard_window: opts.heard_window,
        };
        let w = worker::Worker::new(
            spec,
            opts.password_file.clone(),
            opts.heard_window,
            opts.tracks.clone(),
        );
        // The worker logs where its starter logs, inside the same span, so
        // its lines name the call too.
        let span = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let spawned = std::thread::Builder::new()
            .name("holdmix-store".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| w.run(start, reply_tx, rx)))
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the store thread: {e}; caller memory off");
            return (Store::off(), None);
        }
        let store = Store { tx: Some(tx) };
        // Not waiting was asked for (a resumed call has its record): no
        // answer is expected, so none is missed.
        if opts.start_timeout.is_zero() {
            return (store, None);
        }
        let left = opts.start_timeout.saturating_sub(began.elapsed());
        match reply_rx.recv_timeout(left) {
            Ok(Ok(caller)) => (store, caller),
            // The worker has logged why.
            Ok(Err(_)) => (store, None),
            Err(_) => {
                tracing::warn!(
                    store = %shown,
                    "store did not answer within {:?}: using defaults",
                    opts.start_timeout
                );
                (store, None)
            }
        }
    }

    /// A store that keeps nothing (puts are dropped, `flush` says false).
    pub fn off() -> Store {
        Store { tx: None }
    }

    /// Queues the caller's record; never blocks. `music: None` keeps the
    /// stored choice; heard entries merge with the stored ones.
    pub fn put_caller(&self, number: &str, rec: CallerRecord) {
        self.send(worker::Msg::Put(Write::Caller(number.to_string(), rec)));
    }

    /// Writes everything queued so far, waiting at most `deadline`; returns
    /// whether all of it is in the database. What is not stays queued.
    pub fn flush(&self, deadline: Duration) -> bool {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        self.send(worker::Msg::Flush(ack_tx));
        ack_rx.recv_timeout(deadline).unwrap_or(false)
    }

    fn send(&self, m: worker::Msg) {
        // An unbounded channel: a send never waits. It fails only if the
        // worker is gone, and then there is nobody to write anyway.
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }
}
