//! The engine's sources: every sound a scenario can play, by id, each
//! pending (still decoding), ready (with its loudness gain) or failed.
//! Only the registry: loading them (file and cache I/O) is done outside the
//! engine, by the drivers' `sources` module.

use crate::audio::clip::Clip;
use crate::audio::loudness;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

pub enum Slot {
    Pending,
    Ready { clip: Arc<Clip>, gain: f32 },
    Failed,
}

pub struct Library {
    paths: Vec<PathBuf>,
    /// Each path's id: a scan of `paths` per add made a playlist of
    /// 20,000 tracks cost 200 million comparisons before the first frame.
    ids: HashMap<PathBuf, SourceId>,
    names: Vec<Arc<str>>,
    slots: Vec<Slot>,
    target_lufs: f64,
}

impl Library {
    pub fn new(target_lufs: f64) -> Self {
        Library {
            paths: Vec::new(),
            ids: HashMap::new(),
            names: Vec::new(),
            slots: Vec::new(),
            target_lufs,
        }
    }

    /// A new loudness target: every ready source's gain follows.
    pub fn set_target(&mut self, target_lufs: f64) {
        if target_lufs == self.target_lufs {
            return;
        }
        self.target_lufs = target_lufs;
        for slot in &mut self.slots {
            if let Slot::Ready { clip, gain } = slot {
                *gain = loudness::gain_for(clip.lufs(), target_lufs);
            }
        }
    }

    /// Registers a source (once per path) and returns its id.
    pub fn add(&mut self, path: &Path) -> SourceId {
        if let Some(&id) = self.ids.get(path) {
            return id;
        }
        let id = SourceId(self.paths.len() as u32);
        self.ids.insert(path.to_path_buf(), id);
        self.paths.push(path.to_path_buf());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.names.push(Arc::from(name));
        self.slots.push(Slot::Pending);
        id
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn path(&self, id: SourceId) -> &Path {
        &self.paths[id.0 as usize]
    }

    pub fn name(&self, id: SourceId) -> &Arc<str> {
        &self.names[id.0 as usize]
    }

    pub fn ids(&self) -> impl Iterator<Item = SourceId> {
        (0..self.paths.len() as u32).map(SourceId)
    }

    pub fn slot(&self, id: SourceId) -> &Slot {
        &self.slots[id.0 as usize]
    }

    /// The clip and its normalisation gain, if it is ready.
    /// Notes the slot of `id`, its clip and `len` samples from `pos` (see `Warm`).
    pub fn note_hot(&self, id: SourceId, pos: usize, w: &mut crate::util::prefetch::Warm) {
        let Some(slot) = self.slots.get(id.0 as usize) else {
            return;
        };
        w.add(slot);
        if let Slot::Ready { clip, .. } = slot {
            w.add(&**clip);
            if let Some(s) = clip.samples().get(pos..) {
                w.add_head(s);
            }
        }
    }

    pub fn ready(&self, id: SourceId) -> Option<(&Clip, f32)> {
        match &self.slots[id.0 as usize] {
            Slot::Ready { clip, gain } => Some((clip, *gain)),
            _ => None,
        }
    }

    pub fn is_failed(&self, id: SourceId) -> bool {
        matches!(self.slots[id.0 as usize], Slot::Failed)
    }

    pub fn set_ready(&mut self, id: SourceId, clip: Arc<Clip>) {
        let gain = loudness::gain_for(clip.lufs(), self.target_lufs);
        self.slots[id.0 as usize] = if clip.is_empty() {
            Slot::Failed
        } else {
            Slot::Ready { clip, gain }
        };
    }

    pub fn set_failed(&mut self, id: SourceId) {
        self.slots[id.0 as usize] = Slot::Failed;
    }
}
