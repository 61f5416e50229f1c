//! A billing server's answer in PHP's `serialize()` format, any bytes:
//! parsed as the lookup does (`format = "php"`), then mapped to accounts
//! with the old hack's field names (`IDUser`, `Balance`, `Status` -2
//! locked) and with the JSON defaults. Must never panic, nor nest or grow
//! past the parser's bounds; a mapped balance is an exact decimal.

#![no_main]

use holdmix::billing::answer::{accounts, php_none};
use holdmix::billing::php::{MAX_VALUES, parse};
use holdmix::billing::{BalanceAnswer, Fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = parse(data) else {
        return;
    };
    // Every value read came from at least one token of the input.
    assert!(count(&value) <= MAX_VALUES);
    let value = php_none(value);
    for f in [Fields::hack(), Fields::default()] {
        if let Ok(BalanceAnswer::Accounts(list)) = accounts(&value, &f) {
            for a in &list {
                assert!(!a.balance.is_empty());
                assert!(a.balance.parse::<f64>().is_ok_and(f64::is_finite), "{a:?}");
            }
        }
    }
});

fn count(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
        serde_json::Value::Object(m) => 1 + m.values().map(count).sum::<usize>(),
        _ => 1,
    }
}
