//! Loading the sources (the audio files a scenario plays) through the cache,
//! in one place outside the engine: the engine's [`Library`] only keeps
//! which source is pending, ready or failed, and this module does the I/O
//! that moves a source out of pending. `run` maps what the cache has before
//! the first frame and decodes the rest on a loader thread; `render` loads
//! everything up front; `cache warm` and `check` load single files.

use crate::audio::cache::Cache;
use crate::audio::clip::Clip;
use crate::engine::Engine;
use crate::engine::library::{Library, Slot, SourceId};
use crate::util::bell::Bell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

/// What a loader thread sends back: each source decoded, or why not.
pub type Loaded = mpsc::Receiver<(SourceId, Result<Arc<Clip>, String>)>;

/// One file at `rate`, decoded or from the cache (which it fills).
pub fn load_file(cache: &Cache, path: &Path, rate: u32) -> anyhow::Result<Clip> {
    cache.load(path, rate)
}

/// Loads every pending source now (render). Failures are logged with the
/// file's path and leave the source failed.
pub fn load_all(lib: &mut Library, cache: &Cache, rate: u32) {
    for id in lib.ids().collect::<Vec<_>>() {
        if matches!(lib.slot(id), Slot::Pending) {
            load_one(lib, id, cache, rate);
        }
    }
}

fn load_one(lib: &mut Library, id: SourceId, cache: &Cache, rate: u32) {
    match load_file(cache, lib.path(id), rate) {
        Ok(clip) => lib.set_ready(id, Arc::new(clip)),
        Err(e) => {
            tracing::error!(file = %lib.path(id).display(), "cannot use audio file: {e:#}");
            lib.set_failed(id);
        }
    }
}

/// The largest entry verified (its checksum read whole) before the first
/// frame: 8 MB (4 minutes at 8 kHz, 40 s at 48 kHz), checked in under
/// 10 ms. Larger
/// entries (long music) are verified by the loader thread before they play.
const START_VERIFY_BYTES: u64 = 8 << 20;

/// Maps the sources in `first` that are cached already (and small enough
/// to verify at once: [`START_VERIFY_BYTES`]), so the stream can start with them; returns every source
/// still pending, those of `first` at the front, for the loader thread.
/// Mapping only what the first seconds need keeps the first frame fast
/// with a playlist of hundreds of files.
pub fn map_cached(lib: &mut Library, cache: &Cache, rate: u32, first: &[SourceId]) -> Vec<SourceId> {
    let mut pending = Vec::new();
    for &id in first {
        if !matches!(lib.slot(id), Slot::Pending) || pending.contains(&id) {
            continue;
        }
        match cache.lookup_within(lib.path(id), rate, START_VERIFY_BYTES) {
            Ok(Some(clip)) => lib.set_ready(id, Arc::new(clip)),
            Ok(None) => pending.push(id),
            Err(e) => {
                tracing::error!(file = %lib.path(id).display(), "cannot use audio file: {e:#}");
                lib.set_failed(id);
            }
        }
    }
    for id in lib.ids() {
        if matches!(lib.slot(id), Slot::Pending) && !pending.contains(&id) {
            pending.push(id);
        }
    }
    pending
}

/// Decodes the sources the cache did not have, in the order they are
/// needed, on a thread of its own (`pooled`: one a hub keeps,
/// `util::workers`); its bell rings as each one is done. (Start it with
/// the stop signals blocked.)
pub fn spawn_loader(
    lib: &Library,
    pending: Vec<SourceId>,
    cache: &Cache,
    rate: u32,
    bell: &Bell,
    pooled: bool,
) -> Option<Loaded> {
    if pending.is_empty() {
        return None;
    }
    let jobs: Vec<(SourceId, PathBuf)> = pending
        .iter()
        .map(|&id| (id, lib.path(id).to_path_buf()))
        .collect();
    let cache = cache.clone();
    let (tx, rx) = bell.channel();
    let span = tracing::Span::current();
    let job = move || {
        let _g = span.enter();
        // A source another process is decoding right now is left for
        // last, so the sources behind it are not held up by its wait.
        let mut busy = Vec::new();
        for (id, path) in jobs {
            let r = match cache.load_unless_busy(&path, rate) {
                Ok(Some(clip)) => Ok(Arc::new(clip)),
                Ok(None) => {
                    busy.push((id, path));
                    continue;
                }
                Err(e) => Err(format!("{e:#}")),
            };
            if tx.send((id, r)).is_err() {
                return;
            }
        }
        for (id, path) in busy {
            let r = load_file(&cache, &path, rate)
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"));
            if tx.send((id, r)).is_err() {
                return;
            }
        }
    };
    crate::util::workers::start("loader", pooled, job).ok()?;
    Some(rx)
}

/// Hands the sources a loader finished to the engine. False once the loader
/// is done and gone: its channel need not be polled again. (Through
/// [`Engine::library_mut`] per source, as that wakes the engine.)
pub fn take_loaded(loaded: &Loaded, engine: &mut Engine) -> bool {
    loop {
        match loaded.try_recv() {
            Ok((id, Ok(clip))) => engine.library_mut().set_ready(id, clip),
            Ok((id, Err(e))) => {
                tracing::error!("cannot use audio file: {e}");
                engine.library_mut().set_failed(id);
            }
            Err(mpsc::TryRecvError::Empty) => return true,
            Err(mpsc::TryRecvError::Disconnected) => return false,
        }
    }
}
