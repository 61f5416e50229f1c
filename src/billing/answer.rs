//! A billing answer (JSON, or PHP-serialized read into the same value)
//! read into accounts through the configured field paths. Anything unexpected is a failure, never a guess: a caller must not
//! hear a wrong balance.

use super::balance::{Account, BalanceAnswer};
use super::config::Fields;
use crate::util::json::kind;
use serde_json::Value;

/// Reads accounts from a parsed body. `Err` says what was wrong (for the log).
pub fn accounts(body: &Value, f: &Fields) -> Result<BalanceAnswer, String> {
    let list = match at(body, &f.accounts) {
        None | Some(Value::Null) => return Ok(BalanceAnswer::None),
        Some(v) => v,
    };
    let items: Vec<&Value> = match list {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![list],
        other => {
            return Err(format!(
                "`{}` is {}, not a list of accounts",
                f.accounts,
                kind(other)
            ));
        }
    };
    if items.is_empty() {
        return Ok(BalanceAnswer::None);
    }
    if items.len() > MAX_ACCOUNTS {
        // Nobody listens to more; and each is spoken on the audio thread.
        return Err(format!(
            "{} accounts (at most {MAX_ACCOUNTS} are said)",
            items.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(account(item, f).map_err(|e| format!("account {}: {e}", i + 1))?);
    }
    Ok(BalanceAnswer::Accounts(out))
}

/// Accounts said for one caller; more is an answer to refuse.
pub const MAX_ACCOUNTS: usize = 10;
/// Longest account id or currency kept (ids are read digit by digit).
const MAX_ID: usize = 64;

fn account(v: &Value, f: &Fields) -> Result<Account, String> {
    if !v.is_object() {
        return Err(format!("is {}, not an object", kind(v)));
    }
    let balance = match at(v, &f.balance) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(format!("`{}` is {}, not an amount", f.balance, kind(other))),
        None => return Err(format!("no `{}`", f.balance)),
    };
    // Said aloud as money: it must be an exact decimal amount.
    crate::speech::value::amount(&balance).map_err(|e| format!("`{}`: {e}", f.balance))?;
    let id = match at(v, &f.id) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(other) => return Err(format!("`{}` is {}, not an account number", f.id, kind(other))),
    };
    let currency = match at(v, &f.currency) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "`{}` is {}, not a currency code",
                f.currency,
                kind(other)
            ));
        }
    };
    let locked = match (at(v, &f.locked), f.locked_value) {
        (None | Some(Value::Null), _) => false,
        (Some(Value::Number(n)), Some(when)) if n.is_i64() => n.as_i64() == Some(when),
        (Some(Value::String(s)), Some(when)) if s.trim().parse::<i64>().is_ok() => {
            s.trim().parse::<i64>().ok() == Some(when)
        }
        (Some(other), Some(_)) => {
            return Err(format!("`{}` is {}, not a status number", f.locked, kind(other)));
        }
        (Some(v), None) => match v {
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_u64().is_some_and(|n| n <= 1) => n.as_u64() == Some(1),
            other => return Err(format!("`{}` is {}, not true or false", f.locked, kind(other))),
        },
    };
    if id.as_ref().is_some_and(|i| i.len() > MAX_ID) || currency.as_ref().is_some_and(|c| c.len() > MAX_ID) {
        return Err(format!("an id or currency over {MAX_ID} characters"));
    }
    if balance.len() > MAX_ID {
        return Err(format!("`{}` over {MAX_ID} characters", f.balance));
    }
    Ok(Account {
        id,
        balance,
        currency,
        locked,
    })
}

/// A PHP answer of `false` (PHP's "nothing found") reads as no accounts,
/// like `N;` and an empty array; nothing else is changed.
pub fn php_none(v: Value) -> Value {
    match v {
        Value::Bool(false) => Value::Null,
        other => other,
    }
}

/// The value at a dotted path; numbers index arrays. Empty: the value itself.
fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, f: &Fields) -> Result<BalanceAnswer, String> {
        accounts(&serde_json::from_str(json).unwrap(), f)
    }

    #[test]
    fn exact_amounts_ids_and_shapes() {
        let f = Fields::default();
        let r = read(
            r#"{"accounts":[{"id":"000123","balance":15023007000.30,"currency":"RUB"},{"id":45,"balance":"-5","locked":true}]}"#,
            &f,
        )
        .unwrap();
        let BalanceAnswer::Accounts(a) = r else {
            panic!("{r:?}")
        };
        assert_eq!(a[0].balance, "15023007000.30");
        assert_eq!(a[0].id.as_deref(), Some("000123"));
        assert_eq!(a[0].currency.as_deref(), Some("RUB"));
        assert_eq!((a[1].id.as_deref(), a[1].locked), (Some("45"), true));
        assert_eq!(read(r#"{"accounts":[]}"#, &f), Ok(BalanceAnswer::None));
        assert_eq!(read(r#"{"error":"unknown"}"#, &f), Ok(BalanceAnswer::None));
        let one = Fields {
            accounts: "data.0".into(),
            balance: "money.amount".into(),
            ..Fields::default()
        };
        let r = read(r#"{"data":[{"money":{"amount":"12.5"}}]}"#, &one).unwrap();
        assert!(matches!(r, BalanceAnswer::Accounts(a) if a[0].balance == "12.5"));
    }

    #[test]
    fn wrong_types_fail() {
        let f = Fields::default();
        for bad in [
            r#"{"accounts":"lots"}"#,
            r#"{"accounts":[{"balance":true}]}"#,
            r#"{"accounts":[{"balance":"12,50"}]}"#,
            r#"{"accounts":[{"balance":1.234}]}"#,
            r#"{"accounts":[{"id":{"x":1},"balance":1}]}"#,
            r#"{"accounts":[{"balance":1,"locked":"no"}]}"#,
            r#"{"accounts":[{"id":"1"}]}"#,
            r#"{"accounts":[5]}"#,
            r#"{"accounts":[{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1},{"balance":1}]}"#,
        ] {
            assert!(read(bad, &f).is_err(), "{bad}");
        }
    }
}
