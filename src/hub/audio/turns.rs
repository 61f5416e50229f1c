//! The hosted calls' turns: when each is next due, by its slot and id. A
//! turn whose call has gone, or is due at another time since, is passed
//! over by the pacing thread.
//!
//! Kept by instant, each instant with its calls in the order they were
//! given: the calls' deadlines fall on the host-wide grid (`clock::GRID`),
//! so a thousand calls share a handful of instants, and a wake takes whole
//! instants. A binary heap of one entry a call spent about 3 % of a
//! hub's CPU at 1000 calls in its sift-downs (`perf annotate`, compares
//! the branch predictor cannot guess), for an order no one needs among
//! calls due at the same instant.

use std::collections::BTreeMap;

/// A call's turn: its slot and its id.
type Turn = (usize, u64);

/// Emptied instants' lists kept for reuse (a few per period).
const SPARE: usize = 16;

#[derive(Default)]
pub(super) struct Turns {
    by_due: BTreeMap<u64, Vec<Turn>>,
    spare: Vec<Vec<Turn>>,
}

impl Turns {
    /// The call in `slot` (`id`) is due at `due` (CLOCK_MONOTONIC ns).
    pub fn push(&mut self, due: u64, slot: usize, id: u64) {
        let spare = &mut self.spare;
        self.by_due
            .entry(due)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push((slot, id));
    }

    /// The earliest turn's instant.
    pub fn earliest(&self) -> Option<u64> {
        self.by_due.first_key_value().map(|(due, _)| *due)
    }

    /// Moves every turn due by `now` to `out` as `(due, slot, id)`, the
    /// earliest first (in the order given within an instant).
    pub fn take_due(&mut self, now: u64, out: &mut Vec<(u64, usize, u64)>) {
        while let Some(entry) = self.by_due.first_entry() {
            if *entry.key() > now {
                break;
            }
            let (due, mut calls) = entry.remove_entry();
            out.extend(calls.drain(..).map(|(slot, id)| (due, slot, id)));
            if self.spare.len() < SPARE {
                self.spare.push(calls);
            }
        }
    }

    /// Turns held (passed-over ones included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_due.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_come_out_by_instant_then_as_given() {
        let mut t = Turns::default();
        assert_eq!(t.earliest(), None);
        t.push(30, 1, 10);
        t.push(10, 7, 70);
        t.push(30, 0, 11);
        t.push(10, 2, 20);
        t.push(20, 5, 50);
        assert_eq!((t.earliest(), t.len()), (Some(10), 5));
        let mut out = Vec::new();
        t.take_due(9, &mut out);
        assert!(out.is_empty());
        t.take_due(20, &mut out);
        assert_eq!(out, [(10, 7, 70), (10, 2, 20), (20, 5, 50)]);
        assert_eq!((t.earliest(), t.len()), (Some(30), 2));
        // A turn given again at a taken instant, and a later one.
        t.push(10, 7, 70);
        t.push(40, 3, 30);
        out.clear();
        t.take_due(u64::MAX, &mut out);
        assert_eq!(out, [(10, 7, 70), (30, 1, 10), (30, 0, 11), (40, 3, 30)]);
        assert_eq!((t.earliest(), t.len()), (None, 0));
        assert!(t.spare.len() <= SPARE && !t.spare.is_empty(), "lists kept");
    }
}
