//! The caller's memory for one call: read once at the start (what music,
//! where, which advices were heard), written when the track changes and at
//! the end. Only for a trusted number: never another caller's.

use super::exit::Exit;
use super::signals::unsignalled;
use crate::engine::Engine;
use crate::engine::memory::Memory;
use crate::store::{CallerRecord, Store, StoreOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long the exit waits for the caller memory to be written: inside
/// Asterisk's kill window (SIGHUP, then SIGKILL 200 ms later).
const STORE_FLUSH: Duration = Duration::from_millis(100);

/// The caller store of a call, and when the advices remembered from
/// earlier calls were heard (kept as they were: re-stamping them would
/// make the window slide forever for a caller who calls every day).
pub struct CallerMemory {
    store: Store,
    number: String,
    earlier: BTreeMap<String, i64>,
    /// The track last written, so a change is written once.
    track: Option<crate::engine::library::SourceId>,
    /// The caller's language choice last written (or read), likewise.
    language: Option<String>,
}

impl CallerMemory {
    /// Opens the store when the caller's number is known, and reads what it
    /// remembers. A resumed call already has it all: the store is then only
    /// for writing, and nothing waits for it.
    pub fn open(
        opts: Option<&StoreOptions>,
        number: Option<&str>,
        resumed: bool,
    ) -> Option<(CallerMemory, Option<Memory>)> {
        let (number, opts) = (number?, opts?);
        let mut o = opts.clone();
        if resumed {
            o.start_timeout = Duration::ZERO;
        }
        let (store, record) = unsignalled(|| Store::start(&o, Some(number)));
        let mut memory = CallerMemory {
            store,
            number: number.to_string(),
            earlier: BTreeMap::new(),
            track: None,
            language: None,
        };
        let Some(r) = record.filter(|_| !resumed) else {
            return Some((memory, None));
        };
        let remembered = Memory {
            music: r.music.map(PathBuf::from),
            offset: Duration::from_millis(r.offset_ms),
            heard: r.heard.keys().map(PathBuf::from).collect(),
            language: r.language.clone(),
        };
        memory.earlier = r.heard;
        memory.language = r.language;
        Some((memory, Some(remembered)))
    }

    /// Starts following the engine's music from what it plays now.
    pub fn follow(&mut self, engine: &Engine) {
        self.track = engine.playing_track();
    }

    /// After a tick in which something happened: a new track (the caller's
    /// choice, or the list going on) or a language the caller chose is
    /// remembered at once, not only at exit, so a SIGKILL keeps it too.
    pub fn after_change(&mut self, engine: &Engine) {
        let language = engine.caller_language();
        if engine.playing_track() != self.track || language != self.language.as_deref() {
            self.track = engine.playing_track();
            self.language = language.map(str::to_string);
            self.put(&engine.memory());
        }
    }

    /// At the end of the stream: what the caller heard, written before the
    /// process goes.
    pub fn at_exit(&self, engine: &Engine, exit: Exit) {
        if exit.unheard() {
            return;
        }
        self.put(&engine.memory());
        if !self.store.flush(STORE_FLUSH) {
            tracing::warn!("caller memory not written before exit");
        }
    }

    fn put(&self, m: &Memory) {
        let now = crate::store::unix_now();
        let rec = CallerRecord {
            music: m.music.as_ref().map(|p| p.to_string_lossy().into_owned()),
            offset_ms: m.offset.as_millis() as u64,
            heard: m
                .heard
                .iter()
                .map(|p| {
                    let key = p.to_string_lossy().into_owned();
                    let at = self.earlier.get(&key).copied().unwrap_or(now);
                    (key, at)
                })
                .collect(),
            language: m.language.clone(),
        };
        self.store.put_caller(&self.number, rec);
    }
}
