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
use crate::util::files::{self, Kind};
use serde_json::Value;
use std::path::Path;

/// Reads the whole file (it is small; read per lookup so edits apply).
/// Regular files only, at most 16 MiB: see `util::files`.
pub fn read(path: &Path) -> Result<Value, String> {
    let text = files::read_string(path, Kind::Accounts).map_err(|e| e.to_string())?;
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
    // The run's log has no playlist line to point at: the key says where.
    let all = read(path).map_err(|e| format!("[billing] accounts_file: {e}"))?;
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
