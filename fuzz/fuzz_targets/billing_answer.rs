//! A billing server's answer, any bytes: parsed as JSON as the lookup does,
//! then mapped to accounts with the default field names and with names
//! taken from the input (dotted paths, empty = the whole body). Must never
//! panic; a mapped balance is finite.

#![no_main]

use holdmix::billing::answer::accounts;
use holdmix::billing::{BalanceAnswer, Fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Up to the first NUL: the field names (5 lines); after it: the body.
    let (names, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let mut all = vec![Fields::default()];
    if !names.is_empty() {
        let text = String::from_utf8_lossy(names);
        let mut l = text.lines().map(str::to_string);
        all.push(Fields {
            accounts: l.next().unwrap_or_default(),
            id: l.next().unwrap_or_default(),
            balance: l.next().unwrap_or_default(),
            currency: l.next().unwrap_or_default(),
            locked: l.next().unwrap_or_default(),
            // A sixth line, if a number, is the status value meaning locked.
            locked_value: l.next().and_then(|v| v.trim().parse().ok()),
        });
    }
    for f in &all {
        if let Ok(BalanceAnswer::Accounts(list)) = accounts(&json, f) {
            for a in &list {
                let shown = format!("{a:?}");
                assert!(!shown.is_empty());
            }
        }
    }
});
