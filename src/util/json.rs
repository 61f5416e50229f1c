//! Words for what a server's JSON holds, for the errors that refuse it.

use serde_json::Value;

/// "a list", "an object"...: what `v` is, as an error says it.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
