//! Parsing JSON input (block commit lines, and the parts genesis files share with them) with
//! errors that name the field, and the inverse, [`block_to_json`], which writes a block in
//! exactly the line format `ingest` reads.
//!
//! Accepted spellings (DESIGN.md section 5): quantities as `0x` hex, decimal strings or JSON
//! integers (exact up to 256 bits, see [`parse_json`]); addresses and hashes as hex with or
//! without `0x`, in any case; data as hex.
//! Rejected: broken JSON, wrong hex length, non-hex, quantities over 256 bits (64 for `u64`
//! fields), negative numbers, floats, missing required fields, wrong JSON types, unknown fields.

use std::fmt;

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use chainstore_chain::{AccountChange, BlockCommit, ChainError, Log, Receipt, Transaction};
use serde_json::{Map, Value, json};

use crate::output::{big_quantity, quantity};

/// What is wrong with an input, and where (a field path such as `transactions[1].hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The field at fault; `None` when the text is not JSON at all.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error in `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_string()), message: message.into() }
    }

    /// Broken JSON, with the column (and line, for multi-line documents) serde_json reports.
    fn json(e: &serde_json::Error, multi_line: bool) -> Self {
        let text = e.to_string();
        let detail = text.rfind(" at line ").map_or(text.as_str(), |at| &text[..at]);
        let position = if multi_line {
            format!("line {}, column {}", e.line(), e.column())
        } else {
            format!("column {}", e.column())
        };
        Self { field: None, message: format!("invalid JSON at {position}: {detail}") }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InputError {}

type Result<T, E = InputError> = std::result::Result<T, E>;

/// The JSON type of a value, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// Parses a JSON document. Two things serde_json's `Value` would do silently are handled first,
/// by one pass over the text: integers above 64 bits in value positions are quoted (serde_json
/// would read them as floats; a quantity may be a decimal string), and a key repeated byte for
/// byte in one object is an error (serde_json would keep only its last value, dropping a `state`
/// entry). Columns in errors after a quoted integer are off by two per such integer.
pub fn parse_json(text: &str, multi_line: bool) -> Result<Value> {
    let spans = scan(text).map_err(|(offset, message)| {
        let before = &text[..offset];
        let column = offset - before.rfind('\n').map_or(0, |n| n + 1) + 1;
        let position = if multi_line {
            format!("line {}, column {column}", before.matches('\n').count() + 1)
        } else {
            format!("column {column}")
        };
        InputError { field: None, message: format!("invalid JSON at {position}: {message}") }
    })?;
    let parsed = if spans.is_empty() {
        serde_json::from_str(text)
    } else {
        let mut quoted = String::with_capacity(text.len() + 2 * spans.len());
        let mut at = 0;
        for (start, end) in spans {
            quoted.push_str(&text[at..start]);
            quoted.push('"');
            quoted.push_str(&text[start..end]);
            quoted.push('"');
            at = end;
        }
        quoted.push_str(&text[at..]);
        serde_json::from_str(&quoted)
    };
    parsed.map_err(|e| InputError::json(&e, multi_line))
}

/// An open container while scanning: an array, or an object with the keys seen so far.
enum Open<'a> {
    Array,
    Object(std::collections::HashSet<&'a str>),
}

/// One pass over `text` outside strings: the byte spans of the non-negative integers over
/// `u64::MAX` in value positions (object values, array items, the whole document), or the byte
/// offset and description of a key repeated in one object. Syntax errors are left to serde_json.
fn scan(text: &str) -> Result<Vec<(usize, usize)>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut open = Vec::new();
    let mut last = b'\0'; // the last structural byte outside strings
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let (Some(Open::Object(keys)), b'{' | b',') = (open.last_mut(), last)
                    && let Some(key) = text.get(start..i)
                    && !keys.insert(key)
                {
                    return Err((
                        start - 1,
                        format!(
                            "key {key:?} appears twice in one object; spell a repeated address \
                             or slot differently (case, 0x prefix, leading zeros)"
                        ),
                    ));
                }
                last = b'"';
            }
            b'{' => {
                open.push(Open::Object(Default::default()));
                last = b'{';
            }
            b'[' => {
                open.push(Open::Array);
                last = b'[';
            }
            b'}' | b']' => {
                open.pop();
                last = bytes[i];
            }
            b if b.is_ascii_whitespace() => {}
            b'0'..=b'9' => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |n| i + n);
                let value_position = match open.last() {
                    None => last == b'\0',
                    Some(Open::Array) => last == b'[' || last == b',',
                    Some(Open::Object(_)) => last == b':',
                };
                let integer = !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
                let digits = &text[i..end];
                let big =
                    digits.len() > 20 || (digits.len() == 20 && digits > "18446744073709551615");
                if value_position && integer && big && !digits.starts_with('0') {
                    spans.push((i, end));
                }
                last = b'0';
                i = end;
                continue;
            }
            b => last = b,
        }
        i += 1;
    }
    Ok(spans)
}

/// A quantity of at most 256 bits.
pub fn u256(v: &Value, field: &str) -> Result<U256> {
    let err = |m: String| InputError::field(field, m);
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(U256::from(u))
            } else if n.as_i64().is_some() || n.as_f64().is_some_and(|f| f < 0.0) {
                Err(err(format!("negative number {n}: quantities are unsigned")))
            } else {
                Err(err(format!("expected an integer quantity, found the float {n}")))
            }
        }
        Value::String(s) => parse_quantity_text(s).map_err(err),
        other => Err(err(format!(
            "expected a quantity (\"0x\" hex, a decimal string or a JSON integer), found {}",
            type_name(other)
        ))),
    }
}

fn parse_quantity_text(s: &str) -> Result<U256, String> {
    if let Some(digits) = strip_0x(s) {
        if digits.is_empty() {
            return Err(format!("{s:?} has no hex digits after 0x"));
        }
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!("{s:?} is not hex: unexpected character {bad:?}"));
        }
        let significant = digits.trim_start_matches('0');
        if significant.len() > 64 {
            return Err(format!("quantity {s:?} is over 256 bits"));
        }
        U256::from_str_radix(if significant.is_empty() { "0" } else { significant }, 16)
            .map_err(|e| format!("quantity {s:?}: {e}"))
    } else if s.starts_with('-') {
        Err(format!("negative number {s:?}: quantities are unsigned"))
    } else if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        Err(format!(
            "expected a quantity (\"0x\" hex, a decimal string or a JSON integer), found {s:?}"
        ))
    } else {
        U256::from_str_radix(s, 10).map_err(|_| format!("quantity {s:?} is over 256 bits"))
    }
}

/// A quantity of at most 64 bits (numbers, nonces, timestamps, gas, status).
pub fn u64_field(v: &Value, field: &str) -> Result<u64> {
    let q = u256(v, field)?;
    u64::try_from(q).map_err(|_| InputError::field(field, format!("quantity {q} is over 64 bits")))
}

/// Hex bytes, with or without `0x`.
fn hex_bytes(v: &Value, field: &str) -> Result<Vec<u8>> {
    let Value::String(s) = v else {
        return Err(InputError::field(field, format!("expected hex, found {}", type_name(v))));
    };
    let digits = strip_0x(s).unwrap_or(s);
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(InputError::field(field, format!("not hex: unexpected character {bad:?}")));
    }
    if digits.len() % 2 == 1 {
        return Err(InputError::field(
            field,
            format!("odd number of hex digits ({}): every byte takes two", digits.len()),
        ));
    }
    hex::decode(digits).map_err(|e| InputError::field(field, format!("not hex: {e}")))
}

/// Exactly `N` bytes of hex.
fn fixed<const N: usize>(v: &Value, field: &str) -> Result<[u8; N]> {
    let bytes = hex_bytes(v, field)?;
    bytes.as_slice().try_into().map_err(|_| {
        InputError::field(field, format!("expected {N} bytes of hex, found {}", bytes.len()))
    })
}

/// A 32-byte hash.
pub fn hash(v: &Value, field: &str) -> Result<B256> {
    fixed::<32>(v, field).map(B256::from)
}

/// A 20-byte address.
pub fn address(v: &Value, field: &str) -> Result<Address> {
    fixed::<20>(v, field).map(Address::from)
}

/// An address written as an object key.
pub fn address_key(key: &str, field: &str) -> Result<Address> {
    address(&Value::String(key.to_string()), field)
}

/// Data of any length.
pub fn data(v: &Value, field: &str) -> Result<Bytes> {
    hex_bytes(v, field).map(Bytes::from)
}

/// A storage slot key or value: a quantity of up to 32 bytes, left-padded.
pub fn word(v: &Value, field: &str) -> Result<B256> {
    u256(v, field).map(B256::from)
}

/// The path of member `key` of the object at `parent`.
pub fn member(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// The path of an object entry whose key is data (an address, a slot).
pub fn entry(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// An object whose keys are all in `known`.
pub fn object<'a>(v: &'a Value, field: &str, known: &[&str]) -> Result<&'a Map<String, Value>> {
    let map = any_object(v, field)?;
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(InputError::field(
            &member(field, key),
            format!("unknown field (expected one of: {})", known.join(", ")),
        ));
    }
    Ok(map)
}

/// An object with any keys (a map).
pub fn any_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        InputError::field(
            if field.is_empty() { "(top level)" } else { field },
            format!("expected an object, found {}", type_name(v)),
        )
    })
}

/// A required member.
fn required<'a>(map: &'a Map<String, Value>, parent: &str, key: &str) -> Result<&'a Value> {
    match map.get(key) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(InputError::field(&member(parent, key), "missing required field")),
    }
}

/// An optional member (`null` counts as absent).
pub fn optional<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn array<'a>(map: &'a Map<String, Value>, parent: &str, key: &str) -> Result<&'a [Value]> {
    let field = member(parent, key);
    match optional(map, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => {
            Err(InputError::field(&field, format!("expected an array, found {}", type_name(other))))
        }
    }
}

const BLOCK_FIELDS: &[&str] = &[
    "number",
    "hash",
    "parentHash",
    "timestamp",
    "stateRoot",
    "transactions",
    "receipts",
    "state",
];

/// Parses one block commit line.
pub fn parse_block(line: &str) -> Result<BlockCommit> {
    let v = parse_json(line, false)?;
    block_from_value(&v)
}

/// A block commit from its JSON object.
pub fn block_from_value(v: &Value) -> Result<BlockCommit> {
    let m = object(v, "", BLOCK_FIELDS)?;
    let number = u64_field(required(m, "", "number")?, "number")?;
    let hash = hash(required(m, "", "hash")?, "hash")?;
    // Block 0 has no parent: its parentHash may be left out.
    let parent_hash = match (number, optional(m, "parentHash")) {
        (0, None) => B256::ZERO,
        _ => self::hash(required(m, "", "parentHash")?, "parentHash")?,
    };
    let timestamp = u64_field(required(m, "", "timestamp")?, "timestamp")?;
    let expected_state_root =
        optional(m, "stateRoot").map(|r| self::hash(r, "stateRoot")).transpose()?;
    let transactions = array(m, "", "transactions")?
        .iter()
        .enumerate()
        .map(|(i, t)| transaction(t, &format!("transactions[{i}]")))
        .collect::<Result<_>>()?;
    let receipts = array(m, "", "receipts")?
        .iter()
        .enumerate()
        .map(|(i, r)| receipt(r, &format!("receipts[{i}]")))
        .collect::<Result<_>>()?;
    let state = match optional(m, "state") {
        Some(s) => state(s, "state")?,
        None => Vec::new(),
    };
    Ok(BlockCommit {
        number,
        hash,
        parent_hash,
        timestamp,
        expected_state_root,
        transactions,
        receipts,
        state,
        metadata: Vec::new(),
    })
}

fn transaction(v: &Value, field: &str) -> Result<Transaction> {
    let m = object(v, field, &["hash", "from", "to", "nonce", "raw"])?;
    let f = |k: &str| member(field, k);
    Ok(Transaction {
        hash: hash(required(m, field, "hash")?, &f("hash"))?,
        from: address(required(m, field, "from")?, &f("from"))?,
        to: optional(m, "to").map(|t| address(t, &f("to"))).transpose()?,
        nonce: u64_field(required(m, field, "nonce")?, &f("nonce"))?,
        raw: data(required(m, field, "raw")?, &f("raw"))?,
    })
}

fn receipt(v: &Value, field: &str) -> Result<Receipt> {
    let m = object(v, field, &["transactionHash", "status", "gasUsed", "logs"])?;
    let f = |k: &str| member(field, k);
    let logs = array(m, field, "logs")?
        .iter()
        .enumerate()
        .map(|(i, l)| log(l, &format!("{field}.logs[{i}]")))
        .collect::<Result<_>>()?;
    Ok(Receipt {
        transaction_hash: hash(required(m, field, "transactionHash")?, &f("transactionHash"))?,
        status: u64_field(required(m, field, "status")?, &f("status"))?,
        gas_used: u64_field(required(m, field, "gasUsed")?, &f("gasUsed"))?,
        logs,
    })
}

fn log(v: &Value, field: &str) -> Result<Log> {
    let m = object(v, field, &["address", "topics", "data"])?;
    let topics = array(m, field, "topics")?;
    if topics.len() > 4 {
        return Err(InputError::field(
            &member(field, "topics"),
            format!("{} topics: a log has at most 4", topics.len()),
        ));
    }
    Ok(Log {
        address: address(required(m, field, "address")?, &member(field, "address"))?,
        topics: topics
            .iter()
            .enumerate()
            .map(|(i, t)| hash(t, &format!("{field}.topics[{i}]")))
            .collect::<Result<_>>()?,
        data: optional(m, "data")
            .map(|d| data(d, &member(field, "data")))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The `state` object: touched accounts in order, `null` deleting one.
fn state(v: &Value, field: &str) -> Result<Vec<(Address, Option<AccountChange>)>> {
    any_object(v, field)?
        .iter()
        .map(|(key, change)| {
            let at = entry(field, key);
            let addr = address_key(key, &at)?;
            Ok((addr, if change.is_null() { None } else { Some(account_change(change, &at)?) }))
        })
        .collect()
}

/// One account's new values; missing fields are unchanged.
pub fn account_change(v: &Value, field: &str) -> Result<AccountChange> {
    let m = object(v, field, &["nonce", "balance", "code", "storage"])?;
    let f = |k: &str| member(field, k);
    Ok(AccountChange {
        nonce: optional(m, "nonce").map(|n| u64_field(n, &f("nonce"))).transpose()?,
        balance: optional(m, "balance").map(|b| u256(b, &f("balance"))).transpose()?,
        code: optional(m, "code").map(|c| data(c, &f("code"))).transpose()?,
        storage: match optional(m, "storage") {
            Some(s) => storage(s, &f("storage"))?,
            None => Vec::new(),
        },
    })
}

/// A storage object: slot → value, both words of up to 32 bytes.
pub fn storage(v: &Value, field: &str) -> Result<Vec<(B256, U256)>> {
    any_object(v, field)?
        .iter()
        .map(|(slot, value)| {
            let at = entry(field, slot);
            Ok((word(&Value::String(slot.clone()), &at)?, u256(value, &at)?))
        })
        .collect()
}

/// The field of a block line at fault when committing the block failed with `e`, if one is:
/// `number`, `parentHash`, `receipts`, `transactions`, `hash` or `stateRoot`.
pub fn commit_error_field(e: &ChainError) -> Option<&'static str> {
    match e {
        ChainError::WrongNumber { .. } => Some("number"),
        ChainError::WrongParent { .. } => Some("parentHash"),
        ChainError::ReceiptMismatch { .. } => Some("receipts"),
        ChainError::DuplicateTransaction { .. } => Some("transactions"),
        ChainError::DuplicateBlock { .. } => Some("hash"),
        ChainError::StateRootMismatch { .. } => Some("stateRoot"),
        _ => None,
    }
}

/// Writes `block` as one commit line of the `ingest` format (its metadata is not part of the
/// format and is left out). Repeated addresses in `state` and repeated slots in `storage` get
/// distinct spellings of the same key, so the JSON object keeps every entry in order (limit: an
/// address whose hex has no letter has three spellings, so at most three entries in one block).
pub fn block_to_json(block: &BlockCommit) -> Value {
    let mut v = json!({
        "number": quantity(block.number),
        "hash": block.hash,
        "parentHash": block.parent_hash,
        "timestamp": quantity(block.timestamp),
    });
    if let Some(root) = block.expected_state_root {
        v["stateRoot"] = json!(root);
    }
    v["transactions"] = block.transactions.iter().map(transaction_json).collect();
    v["receipts"] = block.receipts.iter().map(receipt_json).collect();
    let mut state = Map::new();
    for (address, change) in &block.state {
        // 192 spellings are distinct for any address with 6 or more letters among its digits.
        let key = (0..192)
            .map(|i| address_spelling(*address, i))
            .find(|k| !state.contains_key(k))
            .unwrap_or_else(|| address_hex(*address));
        state.insert(key, change.as_ref().map_or(Value::Null, change_json));
    }
    v["state"] = Value::Object(state);
    v
}

fn address_hex(a: Address) -> String {
    format!("0x{}", hex::encode(a))
}

/// The `i`-th distinct spelling of an address: prefix `0x`, none or `0X`, then letters
/// upper-cased by the bits of `i / 3`.
fn address_spelling(a: Address, i: usize) -> String {
    let prefix = ["0x", "", "0X"][i % 3];
    let mut mask = i / 3;
    let digits: String = hex::encode(a)
        .chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            let upper = mask & 1 == 1;
            mask >>= 1;
            if upper { c.to_ascii_uppercase() } else { c }
        })
        .collect();
    format!("{prefix}{digits}")
}

fn transaction_json(tx: &Transaction) -> Value {
    json!({
        "hash": tx.hash,
        "from": address_hex(tx.from),
        "to": tx.to.map(address_hex),
        "nonce": quantity(tx.nonce),
        "raw": format!("0x{}", hex::encode(&tx.raw)),
    })
}

fn receipt_json(r: &Receipt) -> Value {
    json!({
        "transactionHash": r.transaction_hash,
        "status": quantity(r.status),
        "gasUsed": quantity(r.gas_used),
        "logs": r.logs.iter().map(|l| json!({
            "address": address_hex(l.address),
            "topics": l.topics,
            "data": format!("0x{}", hex::encode(&l.data)),
        })).collect::<Vec<_>>(),
    })
}

fn change_json(c: &AccountChange) -> Value {
    let mut m = Map::new();
    if let Some(n) = c.nonce {
        m.insert("nonce".into(), quantity(n));
    }
    if let Some(b) = c.balance {
        m.insert("balance".into(), big_quantity(b));
    }
    if let Some(code) = &c.code {
        m.insert("code".into(), Value::String(format!("0x{}", hex::encode(code))));
    }
    if !c.storage.is_empty() {
        let mut storage = Map::new();
        for (slot, value) in &c.storage {
            // The k-th repeat of a slot is written with k more leading zeros.
            let digits = hex::encode(slot);
            let key = (0..)
                .map(|k| format!("0x{}{digits}", "0".repeat(k)))
                .find(|k| !storage.contains_key(k))
                .unwrap_or_default();
            storage.insert(key, big_quantity(*value));
        }
        m.insert("storage".into(), Value::Object(storage));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use chainstore_chain::synth::{SynthChain, SynthConfig};
    use proptest::prelude::*;

    use super::*;

    fn q(v: Value) -> Result<U256> {
        u256(&v, "f")
    }

    fn err(r: Result<impl fmt::Debug>) -> String {
        r.expect_err("accepted").to_string()
    }

    #[test]
    fn quantities_in_every_spelling() {
        for v in [json!("0x10"), json!("0X10"), json!("16"), json!(16), json!("0x0010")] {
            assert_eq!(q(v.clone()).unwrap(), U256::from(16), "{v}");
        }
        assert_eq!(q(json!("0x0")).unwrap(), U256::ZERO);
        assert_eq!(q(json!(format!("0x{}", "f".repeat(64)))).unwrap(), U256::MAX);
        assert_eq!(q(json!(U256::MAX.to_string())).unwrap(), U256::MAX);
    }

    #[test]
    fn bad_quantities_are_named() {
        let cases = [
            (json!("-1"), "negative"),
            (json!(-1), "negative"),
            (json!(1.5), "float"),
            (json!(1e30), "float"),
            (json!("0x"), "no hex digits"),
            (json!("0x1g"), "not hex"),
            (json!(""), "expected a quantity"),
            (json!("1e3"), "expected a quantity"),
            (json!(true), "found a boolean"),
            (json!(format!("0x1{}", "0".repeat(64))), "over 256 bits"),
            (json!(format!("{}0", U256::MAX)), "over 256 bits"),
        ];
        for (v, want) in cases {
            let e = err(q(v.clone()));
            assert!(e.starts_with("field \"f\": ") && e.contains(want), "{v}: {e}");
        }
        let e = err(u64_field(&json!("0x10000000000000000"), "nonce"));
        assert!(e.contains("over 64 bits"), "{e}");
        assert_eq!(u64_field(&json!("0xffffffffffffffff"), "n").unwrap(), u64::MAX);
    }

    #[test]
    fn json_integers_over_64_bits_stay_exact() {
        let big = U256::from(u64::MAX) + U256::from(1);
        let text = format!(r#"{{"b":{big},"a":[1,{big},"{big}"],"s":"x\\\"{big}","{big}":2.5}}"#);
        let v = parse_json(&text, false).unwrap();
        assert_eq!(u256(&v["b"], "b").unwrap(), big);
        assert_eq!(u256(&v["a"][1], "a").unwrap(), big);
        assert_eq!(v["a"][0], json!(1));
        assert_eq!(v["s"], json!(format!("x\\\"{big}")));
        assert_eq!(v[big.to_string()], json!(2.5));
        let max = format!("[{},{}]", U256::MAX, "9".repeat(78));
        let v = parse_json(&max, false).unwrap();
        assert_eq!(u256(&v[0], "m").unwrap(), U256::MAX);
        assert!(err(u256(&v[1], "m")).contains("over 256 bits"));
        assert_eq!(parse_json("18446744073709551615", false).unwrap(), json!(u64::MAX));
        assert!(parse_json("[018446744073709551616]", false).is_err());
        assert!(parse_json("{18446744073709551616: 1}", false).is_err());
    }

    #[test]
    fn repeated_keys_are_rejected() {
        let e = err(parse_json(r#"{"a":{"x":1,"y":{"x":2}},"b":[{"x":1},{"x":1}],"a":3}"#, false));
        assert!(e.starts_with("invalid JSON at column 48: key \"a\" appears twice"), "{e}");
        let e = err(parse_json("{\n \"s\": {\"0x01\": 1,\n \"0x01\": 2}}", true));
        assert!(e.starts_with("invalid JSON at line 3, column 2: key \"0x01\""), "{e}");
        // Values and escaped quotes are not keys.
        parse_json(r#"{"a":"a","b":["a","a"],"c\"":1,"c":2}"#, false).unwrap();
    }

    #[test]
    fn hashes_addresses_and_data() {
        let e = err(hash(&json!(format!("0x{}", "ab".repeat(31))), "h"));
        assert_eq!(e, "field \"h\": expected 32 bytes of hex, found 31");
        assert!(err(hash(&json!(format!("0x{}", "a".repeat(63))), "h")).contains("odd number"));
        assert!(err(hash(&json!(format!("0x{}zz", "ab".repeat(31))), "h")).contains("not hex"));
        let a = Address::repeat_byte(0xab);
        for s in [
            "0xabababababababababababababababababababab",
            "ABABABABABABABABABABABABABABABABABABABAB",
        ] {
            assert_eq!(address(&json!(s), "a").unwrap(), a);
        }
        assert_eq!(data(&json!("0x"), "d").unwrap(), Bytes::new());
        assert_eq!(word(&json!("0x1"), "w").unwrap(), B256::with_last_byte(1));
    }

    #[test]
    fn errors_name_the_field_path() {
        let mut block = block_to_json(&SynthChain::new(small()).nth_block(2));
        block["transactions"][1]["hash"] = json!(format!("0x{}", "11".repeat(31)));
        let e = err(block_from_value(&block));
        assert_eq!(e, "field \"transactions[1].hash\": expected 32 bytes of hex, found 31");
        let mut block = block_to_json(&SynthChain::new(small()).nth_block(2));
        block["receipts"][0]["logs"][0]["topics"][2] = json!("0x12");
        assert!(err(block_from_value(&block)).contains("receipts[0].logs[0].topics[2]"));
        block["extra"] = json!(1);
        assert!(err(block_from_value(&block)).starts_with("field \"extra\": unknown field"));
        let e = err(parse_block(r#"{"number":"0x1","hash":"0x"#));
        assert!(e.starts_with("invalid JSON at column"), "{e}");
        let e = err(parse_block(r#"{"number":1,"parentHash":"0x00","timestamp":0}"#));
        assert_eq!(e, "field \"hash\": missing required field");
        let e = err(parse_block(r#"[1]"#));
        assert_eq!(e, "field \"(top level)\": expected an object, found an array");
    }

    fn small() -> SynthConfig {
        SynthConfig { accounts: 50, tokens: 3, txs_per_block: 8, seed: 7 }
    }

    trait Nth {
        fn nth_block(self, n: usize) -> BlockCommit;
    }

    impl Nth for SynthChain {
        fn nth_block(mut self, n: usize) -> BlockCommit {
            (0..n).for_each(|_| drop(self.next_block()));
            self.next_block()
        }
    }

    fn round_trip(block: &BlockCommit) -> BlockCommit {
        let line = serde_json::to_string(&block_to_json(block)).unwrap();
        assert!(!line.contains('\n'));
        parse_block(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    #[test]
    fn synthetic_blocks_round_trip() {
        let mut chain = SynthChain::new(small());
        for _ in 0..30 {
            let mut block = chain.next_block();
            assert_eq!(round_trip(&block), block);
            block.expected_state_root = Some(B256::repeat_byte(7));
            assert_eq!(round_trip(&block), block);
        }
    }

    #[test]
    fn repeated_keys_keep_every_entry_in_order() {
        let a = Address::repeat_byte(0x12); // no letters: three spellings only
        let b = Address::repeat_byte(0xab);
        let slot = B256::with_last_byte(1);
        let change = |v: u64| AccountChange {
            storage: vec![(slot, U256::from(v)), (slot, U256::ZERO), (slot, U256::from(v + 1))],
            ..Default::default()
        };
        let state = vec![
            (a, None),
            (a, Some(change(1))),
            (b, None),
            (a, None),
            (b, Some(change(5))),
            (b, None),
        ];
        let block = BlockCommit { state, ..Default::default() };
        assert_eq!(round_trip(&block), block);
    }

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn addr() -> impl Strategy<Value = Address> {
        // A small pool, so that blocks repeat addresses (with letters: an address of digits only
        // has three spellings, so it can appear at most three times in one `state`).
        prop_oneof![
            any::<[u8; 20]>().prop_map(Address::from),
            (0xa0u8..0xa4).prop_map(Address::repeat_byte)
        ]
    }

    fn u256s() -> impl Strategy<Value = U256> {
        prop_oneof![
            any::<u64>().prop_map(U256::from),
            any::<[u8; 32]>().prop_map(U256::from_be_bytes)
        ]
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn change() -> impl Strategy<Value = Option<AccountChange>> {
        let slots =
            proptest::collection::vec(((0u8..3).prop_map(B256::with_last_byte), u256s()), 0..4);
        let c = (
            proptest::option::of(any::<u64>()),
            proptest::option::of(u256s()),
            proptest::option::of(bytes()),
            slots,
        )
            .prop_map(|(nonce, balance, code, storage)| AccountChange {
                nonce,
                balance,
                code,
                storage,
            });
        proptest::option::of(c)
    }

    fn block() -> impl Strategy<Value = BlockCommit> {
        let tx = (b256(), addr(), proptest::option::of(addr()), any::<u64>(), bytes())
            .prop_map(|(hash, from, to, nonce, raw)| Transaction { hash, from, to, nonce, raw });
        let log = (addr(), proptest::collection::vec(b256(), 0..=4), bytes())
            .prop_map(|(address, topics, data)| Log { address, topics, data });
        let receipt = (b256(), any::<u64>(), any::<u64>(), proptest::collection::vec(log, 0..3))
            .prop_map(|(transaction_hash, status, gas_used, logs)| Receipt {
                transaction_hash,
                status,
                gas_used,
                logs,
            });
        (
            (any::<u64>(), b256(), b256(), any::<u64>(), proptest::option::of(b256())),
            proptest::collection::vec(tx, 0..4),
            proptest::collection::vec(receipt, 0..4),
            proptest::collection::vec((addr(), change()), 0..8),
        )
            .prop_map(
                |((number, hash, parent_hash, timestamp, root), transactions, receipts, state)| {
                    BlockCommit {
                        number,
                        hash,
                        // Block 0 may leave its parent out; the parser reads that as zero.
                        parent_hash,
                        timestamp,
                        expected_state_root: root,
                        transactions,
                        receipts,
                        state,
                        metadata: Vec::new(),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn random_blocks_round_trip(block in block()) {
            prop_assert_eq!(round_trip(&block), block);
        }
    }
}
