//! Lines of `run --events` (`dtmf 3`, `position 4`, `reload FILE`,
//! `balance …`) and of `render --event` scripts (`25s:dtmf:3`), any bytes:
//! split and trimmed as the event reader does, then parsed. Must never
//! panic.

#![no_main]

use holdmix::engine::{Event, EventKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let _ = EventKind::parse(line);
        let _ = Event::parse_scripted(line);
    }
});
