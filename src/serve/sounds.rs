//! The playlist's sounds, decoded (or mapped from the cache) once for the
//! whole process and shared by every call: a new call attaches them to its
//! engine without touching a file, so its first frame never waits on I/O
//! and a hundred calls hold one copy.

use crate::audio::cache::Cache;
use crate::audio::clip::Clip;
use crate::engine::Engine;
use crate::engine::library::{Library, Slot};
use crate::scenario::Scenario;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Sounds {
    clips: HashMap<PathBuf, Arc<Clip>>,
}

impl Sounds {
    /// Every source the scenario names, at `rate`; failures are logged by
    /// the loader and leave the source out (it stays silent).
    pub fn load(scenario: &Scenario, cache: &Cache, rate: u32) -> Sounds {
        let mut engine = Engine::new(scenario, rate, 0);
        let lib = engine.library_mut();
        crate::sources::load_all(lib, cache, rate);
        let clips = lib
            .ids()
            .filter_map(|id| match lib.slot(id) {
                Slot::Ready { clip, .. } => Some((lib.path(id).to_path_buf(), Arc::clone(clip))),
                _ => None,
            })
            .collect();
        Sounds { clips }
    }

    /// Makes every source of `lib` ready (or failed, for one not loaded).
    pub fn attach(&self, lib: &mut Library) {
        for id in lib.ids().collect::<Vec<_>>() {
            match self.clips.get(lib.path(id)) {
                Some(clip) => lib.set_ready(id, Arc::clone(clip)),
                None => lib.set_failed(id),
            }
        }
    }
}
