//! The embedded billing: a local accounts file, used when no URL is set, so
//! demos and tests say balances with no billing server. TOML or JSON (by
//! extension), caller number → list of accounts:
//!
//! ```toml
//! "89161234567" = [{ id = "200045", balance = "1234.56" }]
//! "89160000000" = []   # known, no accounts
//! ```

use super::answer;
use super::balance::BalanceAnswer;
use super::config::Fields;
use serde_json::Value;
use std::path::Path;

/// Reads the whole file (it is small; read per lookup so edits apply).
pub fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: Value = if json {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?
    };
    if !value.is_object() {
        return Err(format!("{}: expected caller numbers as keys", path.display()));
    }
    Ok(value)
}

pub fn lookup(path: &Path, number: &str) -> Result<BalanceAnswer, String> {
    let all = read(path)?;
    match all.get(number) {
        None => Ok(BalanceAnswer::None),
        Some(accounts) => {
            let fields = Fields {
                accounts: String::new(),
                ..Fields::default()
            };
            answer::accounts(accounts, &fields).map_err(|e| format!("{}: \"{number}\": {e}", path.display()))
        }
    }
}
