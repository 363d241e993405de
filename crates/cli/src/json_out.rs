//! Printing the JSON documents of `chainstore_json::output`: one line of JSON with `--json`, or
//! their readable form, which query commands print without it.

use std::fmt::Write as _;

use alloy_primitives::U256;
use serde_json::{Map, Value};

/// Prints `value` on stdout: one line of JSON with `json`, the readable form otherwise.
pub(crate) fn print(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        crate::common::print_json(value)
    } else {
        print!("{}", human(value));
        Ok(())
    }
}

/// Fields shown as decimal numbers in the readable form.
const DECIMAL_FIELDS: &[&str] = &[
    "number",
    "timestamp",
    "nonce",
    "balance",
    "status",
    "gasUsed",
    "blockNumber",
    "transactionIndex",
    "logIndex",
    "rows",
    "bytes",
    "checkpoint",
    "visibleSeq",
    "logBytes",
    "memtableBytes",
    "backendBytes",
    "chunks",
    "accounts",
    "slots",
    "codes",
];

/// The readable form of a document: aligned `key: value` lines, nested values indented,
/// quantities in decimal.
pub(crate) fn human(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Array(items) if items.is_empty() => out.push_str("(none)\n"),
        Value::Array(items) => human_items("", items, 0, &mut out),
        Value::Object(m) => human_object(m, 0, &mut out),
        other => {
            let _ = writeln!(out, "{}", scalar("", other));
        }
    }
    out
}

fn human_object(m: &Map<String, Value>, indent: usize, out: &mut String) {
    let width = m.keys().map(String::len).max().unwrap_or(0);
    let pad = " ".repeat(indent);
    for (k, v) in m {
        match v {
            Value::Object(inner) => {
                let _ = writeln!(out, "{pad}{k}:");
                human_object(inner, indent + 2, out);
            }
            Value::Array(items) if items.is_empty() => {
                let _ = writeln!(out, "{pad}{k:width$}: []");
            }
            Value::Array(items) => human_items(k, items, indent, out),
            _ => {
                let _ = writeln!(out, "{pad}{k:width$}: {}", scalar(k, v));
            }
        }
    }
}

/// The items of an array: scalars one per line, objects as numbered blocks.
fn human_items(key: &str, items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    if !key.is_empty() {
        let _ = writeln!(out, "{pad}{key}:");
    }
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(m) => {
                let _ = writeln!(out, "{pad}  [{i}]");
                human_object(m, indent + 4, out);
            }
            Value::Array(inner) => human_items(&format!("[{i}]"), inner, indent + 2, out),
            _ => {
                let _ = writeln!(out, "{pad}  {}", scalar(key, item));
            }
        }
    }
}

fn scalar(key: &str, v: &Value) -> String {
    match v {
        Value::String(_) if DECIMAL_FIELDS.contains(&key) => decimal(v),
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// A quantity (`0x` hex) in decimal; anything else as it is.
pub(crate) fn decimal(v: &Value) -> String {
    let Some(s) = v.as_str() else { return v.to_string() };
    s.strip_prefix("0x")
        .and_then(|digits| U256::from_str_radix(digits, 16).ok())
        .map_or_else(|| s.to_string(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn human_form_aligns_keys_and_shows_decimal_quantities() {
        let v = json!({
            "number": "0x10",
            "stateRoot": "0xab",
            "to": null,
            "topics": ["0x01", "0x02"],
            "logs": [{ "address": "0xaa", "logIndex": "0xa" }],
            "empty": [],
        });
        let text = human(&v);
        let expected = "\
number   : 16
stateRoot: 0xab
to       : -
topics:
  0x01
  0x02
logs:
  [0]
    address : 0xaa
    logIndex: 10
empty    : []
";
        assert_eq!(text, expected);
        assert_eq!(human(&json!([])), "(none)\n");
    }
}
