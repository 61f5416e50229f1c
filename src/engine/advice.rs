//! Advices: groups of recorded tips played one at a time over the music,
//! in the playlist's group order. A `once` group plays each of its files at
//! most once per call; a repeating group cycles. A group with a time-of-day
//! window (weekdays, hours, dates, holidays) is only considered while
//! the window is open.

use super::library::SourceId;
use crate::scenario::{AdviceGroup, AdviceOrder, Window};
use std::collections::BTreeSet;
use std::sync::Arc;

pub struct Group {
    pub name: Arc<str>,
    files: Vec<SourceId>,
    once: bool,
    when: Option<Window>,
    next: usize,
}

pub struct Advisor {
    groups: Vec<Group>,
}

impl Advisor {
    pub fn empty() -> Self {
        Advisor { groups: Vec::new() }
    }

    /// `files` are the group's sources in listed order; random groups are
    /// shuffled here, once per call. Files in `heard` are left out of `once`
    /// groups (a reloaded playlist does not repeat what the caller heard).
    pub fn new(
        groups: &[AdviceGroup],
        mut files: impl FnMut(&AdviceGroup) -> Vec<SourceId>,
        heard: &BTreeSet<SourceId>,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let groups = groups
            .iter()
            .map(|g| {
                let mut f = files(g);
                // Shuffle first, then leave out what was heard: a resumed
                // call with the same seed goes on in the same order.
                match g.order {
                    AdviceOrder::Alphabetical => {}
                    AdviceOrder::Random => rng.shuffle(&mut f),
                }
                if g.once {
                    f.retain(|id| !heard.contains(id));
                }
                Group {
                    name: Arc::from(g.name.as_str()),
                    files: f,
                    once: g.once,
                    when: g.when.clone(),
                    next: 0,
                }
            })
            .collect();
        Advisor { groups }
    }

    /// Whether there is no advice at all to say.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.files.is_empty())
    }

    /// Each group's place in its order.
    pub fn cursors(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.next).collect()
    }

    /// Places of repeating groups, from [`Advisor::cursors`]. (`once`
    /// groups have their heard files left out instead.)
    pub fn set_cursors(&mut self, cursors: &[usize]) {
        for (g, &c) in self.groups.iter_mut().zip(cursors) {
            if !g.once && !g.files.is_empty() {
                g.next = c % g.files.len();
            }
        }
    }

    /// The next advice for this moment (the local `date` and `minute` of
    /// the day in the playlist's zone), and its group's name.
    pub fn next(
        &mut self,
        date: chrono::NaiveDate,
        minute: u32,
        skip: impl Fn(SourceId) -> bool,
    ) -> Option<(SourceId, Arc<str>)> {
        for g in &mut self.groups {
            if g.when.as_ref().is_some_and(|w| !w.contains(date, minute)) {
                continue;
            }
            // Files that failed to load are passed over, never retried forever.
            let n = g.files.len();
            for _ in 0..n {
                if g.once && g.next >= n {
                    break;
                }
                let id = g.files[g.next % n];
                g.next = if g.once { g.next + 1 } else { (g.next + 1) % n };
                if !skip(id) {
                    return Some((id, g.name.clone()));
                }
            }
        }
        None
    }
}
