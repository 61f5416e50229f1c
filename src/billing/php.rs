//! Billing answers in PHP's `serialize()` format, as the old hack's billing
//! sent them (`a:3:{s:6:"IDUser";i:200045;s:7:"Balance";d:1234.56;s:6:"Status";i:0;}`,
//! or a list of such arrays), turned into the JSON value the field paths
//! of `answer` read. The tokens come from the `phpserz` crate (a
//! maintained, allocation-free pull parser); this module only builds the
//! value, with its own bounds: nesting depth, value count, and no PHP
//! references or custom-serialized objects (a billing answer has no use for
//! them, and they are where PHP's own unserializer had its bugs).
//!
//! PHP arrays with the keys 0, 1, 2… in order become lists, any other
//! array (and an object's properties) an object keyed by text. A float is
//! kept as the shortest decimal that reads back to the same double, so
//! `d:1234.5599999999999;` (PHP 5's 17 digits) is the amount `1234.56`; a
//! float that is not finite is refused.

use phpserz::{PhpParser, PhpToken};
use serde_json::{Map, Number, Value};

/// Deepest nesting read (a list of accounts of fields is depth 2).
pub const MAX_DEPTH: usize = 16;
/// Most values read in one answer (far over ten accounts of a few fields).
pub const MAX_VALUES: usize = 4096;

/// An array or object being read.
struct Open {
    /// Pairs still to read.
    left: u32,
    /// Whether the keys so far were 0, 1, 2…
    listy: bool,
    key: Option<String>,
    entries: Vec<(String, Value)>,
}

/// Parses a whole answer; `Err` says what was wrong (for the log, never
/// with the answer's text: it may hold another account's data).
pub fn parse(body: &[u8]) -> Result<Value, String> {
    let mut p = PhpParser::new(body);
    let mut stack: Vec<Open> = Vec::new();
    let mut values = 0usize;
    loop {
        let at = p.position();
        let token = p
            .read_token()
            .map_err(|e| format!("not PHP-serialized data at byte {at}: {e}"))?;
        values += 1;
        if values > MAX_VALUES {
            return Err(format!("over {MAX_VALUES} values"));
        }
        let done: Value = match token {
            PhpToken::Array { elements: n } | PhpToken::Object { properties: n, .. } => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("nested over {MAX_DEPTH} deep"));
                }
                // An object's keys are property names, never list indexes.
                let listy = matches!(token, PhpToken::Array { .. });
                stack.push(Open {
                    left: n,
                    listy,
                    key: None,
                    entries: Vec::new(),
                });
                if n > 0 {
                    continue;
                }
                // Empty: its `}` comes next.
                let end = p.position();
                if !matches!(p.read_token(), Ok(PhpToken::End)) {
                    return Err(format!("more members than declared at byte {end}"));
                }
                close(stack.pop())
            }
            PhpToken::End => return Err(format!("a `}}` at byte {at} where a value belongs")),
            PhpToken::Null => Value::Null,
            PhpToken::Boolean(b) => Value::Bool(b),
            PhpToken::Integer(i) => Value::Number(i.into()),
            PhpToken::Float(f) => Value::Number(
                Number::from_f64(f).ok_or_else(|| format!("a float that is not a number at byte {at}"))?,
            ),
            PhpToken::String(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            PhpToken::Reference { .. } => return Err(format!("a PHP reference at byte {at}")),
            PhpToken::CustomObject { .. } => {
                return Err(format!("a custom-serialized object at byte {at}"));
            }
        };
        // `done` is a whole value: a key, a member, or the answer.
        let mut value = done;
        loop {
            let Some(top) = stack.last_mut() else {
                if p.position() != body.len() {
                    return Err(format!("data after the answer, at byte {}", p.position()));
                }
                return Ok(value);
            };
            let Some(key) = top.key.take() else {
                top.key = Some(key_text(&value, top.entries.len(), &mut top.listy, at)?);
                break;
            };
            top.entries.push((key, value));
            top.left -= 1;
            if top.left > 0 {
                break;
            }
            let end = p.position();
            match p.read_token() {
                Ok(PhpToken::End) => {}
                _ => return Err(format!("more members than declared at byte {end}")),
            }
            value = close(stack.pop());
        }
    }
}

/// An array or object key as text; notes whether the keys still count 0, 1, 2….
fn key_text(v: &Value, index: usize, listy: &mut bool, at: usize) -> Result<String, String> {
    match v {
        Value::Number(n) if n.is_i64() => {
            *listy &= n.as_u64() == u64::try_from(index).ok();
            Ok(n.to_string())
        }
        Value::String(s) => {
            *listy = false;
            // Private and protected properties: `\0Class\0name`, `\0*\0name`.
            Ok(s.rsplit('\0').next().unwrap_or(s).to_string())
        }
        _ => Err(format!("a key that is not an integer or a string at byte {at}")),
    }
}

fn close(open: Option<Open>) -> Value {
    let Some(o) = open else { return Value::Null };
    if o.listy {
        Value::Array(o.entries.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(o.entries.into_iter().collect::<Map<_, _>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &str) -> Value {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_hacks_answers() {
        let one = ok(r#"a:3:{s:6:"IDUser";i:200045;s:7:"Balance";d:1234.5599999999999;s:6:"Status";i:0;}"#);
        assert_eq!(one, json!({"IDUser": 200045, "Balance": 1234.56, "Status": 0}));
        assert_eq!(one["Balance"].to_string(), "1234.56");
        let two = ok(
            r#"a:2:{i:0;a:2:{s:6:"IDUser";s:3:"007";s:7:"Balance";s:5:"-5.10";}i:1;a:2:{s:6:"IDUser";i:8;s:6:"Status";i:-2;}}"#,
        );
        assert_eq!(
            two,
            json!([{"IDUser": "007", "Balance": "-5.10"}, {"IDUser": 8, "Status": -2}])
        );
        assert_eq!(ok("a:0:{}"), json!([]));
        assert_eq!(ok("N;"), Value::Null);
        assert_eq!(ok("b:0;"), json!(false));
    }

    #[test]
    fn keys_objects_and_nesting() {
        assert_eq!(
            ok(r#"a:2:{i:1;s:1:"x";i:0;s:1:"y";}"#),
            json!({"1": "x", "0": "y"})
        );
        assert_eq!(
            ok("O:8:\"stdClass\":2:{s:6:\"IDUser\";i:1;s:10:\"\0*\0Balance\";i:3;}"),
            json!({"IDUser": 1, "Balance": 3})
        );
        assert_eq!(ok(r#"a:1:{i:0;a:1:{i:0;a:0:{}}}"#), json!([[[]]]));
        let deep = "a:1:{i:0;".repeat(MAX_DEPTH) + "N;" + &"}".repeat(MAX_DEPTH);
        assert_eq!(ok(&deep).pointer(&"/0".repeat(MAX_DEPTH)), Some(&Value::Null));
        let deeper = "a:1:{i:0;".repeat(MAX_DEPTH + 1) + "N;" + &"}".repeat(MAX_DEPTH + 1);
        assert!(parse(deeper.as_bytes()).unwrap_err().contains("deep"));
    }

    #[test]
    fn malformed_answers_fail() {
        for bad in [
            "",
            "{}",
            r#"{"accounts":[]}"#,
            "a:2:{i:0;i:1;}",
            "a:1:{i:0;i:1;i:1;i:2;}",
            "a:1:{i:0;i:1;",
            "a:1:{a:0:{}i:1;}",
            "a:1:{d:1.5;i:1;}",
            r#"s:5:"abc";"#,
            "i:1;i:2;",
            "d:NAN;",
            "d:INF;",
            "r:1;",
            r#"a:1:{i:0;R:1;}"#,
            r#"C:3:"Foo":1:{x}"#,
            "}",
            "a:4294967295:{}",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let many = format!("a:{n}:{{{}}}", "i:0;N;".repeat(MAX_VALUES), n = MAX_VALUES);
        assert!(parse(many.as_bytes()).unwrap_err().contains("values"));
    }
}
