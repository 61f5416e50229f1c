//! The store's worker thread: it reads the caller's record at start, then owns every
//! write, so no database call ever runs on the audio path. Writes queue in a
//! map (newest per key wins) until the database takes them; when it cannot,
//! the worker keeps them and retries with a bounded backoff, logging once
//! when the database goes away and once when it is back.

use super::backend::Backend;
use super::record::{CallerRecord, HEARD_KEEP, Key, StoreError, Write, unix_now};
use super::spec::Spec;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// After the handle is dropped, unwritten data is retried this long.
const LINGER: Duration = Duration::from_secs(10);
/// Old rows are expired after the start and then every this many writes.
const EXPIRE_EVERY: usize = 64;

/// What the handle sends the worker.
pub enum Msg {
    Put(Write),
    /// Write what is pending now, then answer whether nothing is left.
    Flush(SyncSender<bool>),
}

/// The caller's record read at start.
pub type Loaded = Result<Option<CallerRecord>, StoreError>;

/// What to read at start.
pub struct Start {
    pub caller: Option<String>,
    pub heard_window: Duration,
}

pub struct Worker {
    spec: Spec,
    password_file: Option<PathBuf>,
    heard_keep: Duration,
    /// The playlist's tracks as listed (see [`Backend::set_tracks`]).
    tracks: Vec<String>,
    backend: Option<Backend>,
    pending: BTreeMap<Key, Write>,
    down: bool,
    backoff: Duration,
    next_try: Instant,
    since_expire: usize,
}

impl Worker {
    pub fn new(
        spec: Spec,
        password_file: Option<PathBuf>,
        heard_window: Duration,
        tracks: Vec<String>,
    ) -> Worker {
        Worker {
            spec,
            password_file,
            tracks,
            heard_keep: heard_window.max(HEARD_KEEP),
            backend: None,
            pending: BTreeMap::new(),
            down: false,
            backoff: MIN_BACKOFF,
            next_try: Instant::now(),
            since_expire: EXPIRE_EVERY,
        }
    }

    /// Reads the caller's record, answers on `reply`, then serves `rx` until
    /// the handle is gone and everything is written (or `LINGER` passed).
    pub fn run(mut self, start: Start, reply: SyncSender<Loaded>, rx: Receiver<Msg>) {
        let loaded = self.load(&start);
        match &loaded {
            // The database works; one stored row does not.
            Err(e @ StoreError::Rejected(_)) => {
                tracing::warn!(store = %self.spec.shown(), "{e}; using defaults");
            }
            Err(e) => self.failed(e),
            Ok(_) => {}
        }
        if loaded.is_err() {
            report("load");
        }
        // The handle may have stopped waiting; then the answer is dropped.
        let _ = reply.try_send(loaded);
        self.serve(rx);
    }

    fn load(&mut self, start: &Start) -> Loaded {
        let b = self.backend()?;
        match &start.caller {
            Some(n) => b.get_caller(n, unix_now(), start.heard_window),
            None => Ok(None),
        }
    }

    fn serve(&mut self, rx: Receiver<Msg>) {
        let mut open = true;
        let mut gone_at: Option<Instant> = None;
        let mut acks = Vec::new();
        loop {
            // Housekeeping only when idle and healthy (first right after the start).
            if self.pending.is_empty() && !self.down && self.since_expire >= EXPIRE_EVERY {
                self.expire();
            }
            let wait = self.next_try.saturating_duration_since(Instant::now());
            let first = match (open, self.pending.is_empty()) {
                (true, true) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                (true, false) => rx.recv_timeout(wait),
                (false, _) => {
                    std::thread::sleep(wait);
                    Err(RecvTimeoutError::Timeout)
                }
            };
            match first {
                Ok(m) => self.take(m, &mut acks),
                Err(RecvTimeoutError::Disconnected) => open = false,
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Everything already queued joins this attempt.
            while open {
                match rx.try_recv() {
                    Ok(m) => self.take(m, &mut acks),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            let now = Instant::now();
            if !self.pending.is_empty() && (!acks.is_empty() || now >= self.next_try) {
                self.attempt();
            }
            for a in acks.drain(..) {
                let _ = a.try_send(self.pending.is_empty());
            }
            if !open {
                let gone = *gone_at.get_or_insert(now);
                if self.pending.is_empty() {
                    return;
                }
                if now.duration_since(gone) >= LINGER {
                    tracing::error!(
                        store = %self.spec.shown(),
                        writes = self.pending.len(),
                        "store still unavailable: unwritten caller memory dropped"
                    );
                    return;
                }
            }
        }
    }

    fn take(&mut self, m: Msg, acks: &mut Vec<SyncSender<bool>>) {
        match m {
            Msg::Put(w) => match self.pending.get_mut(&w.key()) {
                Some(old) => old.absorb(w),
                None => {
                    self.pending.insert(w.key(), w);
                }
            },
            Msg::Flush(ack) => acks.push(ack),
        }
    }

    fn backend(&mut self) -> Result<&mut Backend, StoreError> {
        match &mut self.backend {
            Some(b) => Ok(b),
            slot => {
                let mut b = Backend::open_spec(&self.spec, self.password_file.as_deref())?;
                b.set_tracks(&self.tracks);
                Ok(slot.insert(b))
            }
        }
    }

    /// Writes all pending in one transaction; if the database refuses some
    /// of it, writes one by one and drops (with a log line) what it refuses.
    fn attempt(&mut self) {
        let batch: Vec<Write> = std::mem::take(&mut self.pending).into_values().collect();
        let n = batch.len();
        let result = self.backend().and_then(|b| b.write(&batch));
        match result {
            Ok(()) => self.succeeded(n),
            Err(StoreError::Rejected(_)) => self.one_by_one(batch),
            Err(e) => {
                self.requeue(batch);
                self.failed(&e);
                report("write");
            }
        }
    }

    fn one_by_one(&mut self, batch: Vec<Write>) {
        let mut rest = batch.into_iter();
        while let Some(w) = rest.next() {
            let result = self.backend().and_then(|b| b.write(std::slice::from_ref(&w)));
            match result {
                Ok(()) => self.succeeded(1),
                Err(StoreError::Rejected(e)) => {
                    tracing::error!(store = %self.spec.shown(), key = ?w.key(), "write refused, dropped: {e}");
                    report("write");
                }
                Err(e) => {
                    self.requeue(std::iter::once(w).chain(rest));
                    self.failed(&e);
                    report("write");
                    return;
                }
            }
        }
    }

    /// Puts unwritten data back, under anything newer that arrived meanwhile.
    fn requeue(&mut self, writes: impl IntoIterator<Item = Write>) {
        for mut w in writes {
            if let Some(newer) = self.pending.remove(&w.key()) {
                w.absorb(newer);
            }
            self.pending.insert(w.key(), w);
        }
    }

    fn succeeded(&mut self, n: usize) {
        if self.down {
            tracing::info!(store = %self.spec.shown(), "store available again");
            self.down = false;
        }
        self.backoff = MIN_BACKOFF;
        self.next_try = Instant::now();
        self.since_expire += n;
    }

    fn failed(&mut self, e: &StoreError) {
        // Reopen next time: a MySQL connection is likely broken, and a
        // fresh SQLite handle costs little.
        self.backend = None;
        if !self.down {
            tracing::warn!(
                store = %self.spec.shown(),
                "{e}; using defaults, keeping writes and retrying"
            );
            self.down = true;
        }
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Deletes long-past heard entries; a failure only delays this until
    /// the next round.
    fn expire(&mut self) {
        self.since_expire = 0;
        let keep = self.heard_keep;
        let result = self.backend().and_then(|b| b.expire(unix_now(), keep));
        if let Err(e) = result {
            tracing::debug!(store = %self.spec.shown(), "expiring old rows failed: {e}");
        }
    }
}

/// A store failure, for the hub's metrics when the generator has a hub
/// (see `metrics::send`): `load` or `write`.
fn report(op: &'static str) {
    crate::metrics::send::send(&crate::metrics::report::Report::StoreError(op));
}
