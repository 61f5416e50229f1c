//! Bytes from an AMI server, in any split: the codec frames them within its
//! bounds, and one call's view (`ChannelWatch`) turns each message into at
//! most one engine event. The first byte chooses the split.

#![no_main]

use holdmix::ami::channel_watch::ChannelWatch;
use holdmix::ami::codec::{Decoder, Item, MAX_FIELDS, MAX_LINE, MAX_MESSAGE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in bytes.chunks(usize::from(split).max(1)) {
        decoder.feed(chunk, &mut items);
    }
    let mut by_channel = ChannelWatch::new(Some("Local/200@test-00000000;2"), None);
    let mut by_id = ChannelWatch::new(None, Some("1795452376.1"));
    for item in &items {
        match item {
            Item::Message(m) => {
                assert!(!m.fields.is_empty() && m.fields.len() <= MAX_FIELDS);
                let size: usize = m.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
                assert!(size <= MAX_MESSAGE, "{size}");
                by_channel.on_message(m);
                by_id.on_message(m);
                // An answer holdmix would send back is well formed.
                let wire = m.to_wire();
                assert!(wire.ends_with(b"\r\n"));
            }
            Item::Banner(s) | Item::Garbage(s) => {
                // Lossy UTF-8 may grow a line up to 3 bytes per byte.
                assert!(s.len() <= 3 * MAX_LINE, "{}", s.len());
            }
        }
    }
});
