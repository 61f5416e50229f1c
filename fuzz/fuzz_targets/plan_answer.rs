//! A plan server's answer (`holdmix-plan/1`), any bytes: read as the
//! webhook reads it. Must never panic; an answer taken keeps every bound
//! the parser promises (items, parts, names, pauses, re-asks), so a
//! hostile server cannot make a call hold more than they allow.

#![no_main]

use holdmix::webhook::answer::{Item, MAX_ITEMS, MAX_PARTS, MAX_PAUSE, MAX_REASK, Say, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = parse(data) else {
        return;
    };
    assert!(plan.items.len() <= MAX_ITEMS);
    assert!(plan.reask.is_none_or(|r| r <= MAX_REASK));
    for item in &plan.items {
        match item {
            Item::Pause(d) => assert!(*d <= MAX_PAUSE),
            Item::Say(Say::Parts(parts)) => assert!(parts.len() <= MAX_PARTS),
            _ => {}
        }
    }
    // What is taken is what a checkpoint keeps: it must survive the trip.
    let kept = serde_json::to_vec(&plan).expect("a plan serialises");
    assert_eq!(serde_json::from_slice::<holdmix::webhook::answer::Plan>(&kept).ok().as_ref(), Some(&plan));
});
