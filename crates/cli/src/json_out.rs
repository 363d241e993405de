//! JSON output in the Ethereum JSON-RPC conventions: camelCase field names, `0x`-prefixed
//! lower-case hex for data, quantities as `0x` hex strings; and the readable form of the same
//! documents that query commands print without `--json`.

use std::fmt::Write as _;

use alloy_primitives::{Address, B256, U256, hex};
use chainstore_chain::{AccountInfo, Block, LocatedLog, Log, Receipt, Transaction, TxLocation};
use chainstore_trie::EMPTY_TRIE_ROOT;
use serde_json::{Map, Value, json};

/// A quantity: `0x` hex without leading zeros (`0x0` for zero).
pub(crate) fn quantity(n: impl Into<u128>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// A 256-bit quantity (balances).
pub(crate) fn big_quantity(n: U256) -> Value {
    Value::String(format!("{n:#x}"))
}

/// Data: `0x` and two lower-case hex digits per byte.
pub(crate) fn data(bytes: &[u8]) -> Value {
    Value::String(hex::encode_prefixed(bytes))
}

fn address(a: &Address) -> Value {
    data(a.as_slice())
}

fn word(w: &B256) -> Value {
    data(w.as_slice())
}

/// `{"number","hash","stateRoot"}`: what `head`, `genesis`, `ingest` and `unwind` print.
pub(crate) fn head_json(number: u64, hash: B256, state_root: B256) -> Value {
    json!({ "number": quantity(number), "hash": word(&hash), "stateRoot": word(&state_root) })
}

/// A transaction in the input's field names: `{hash, from, to, nonce, raw}` (`to` is `null`
/// for a contract creation).
fn transaction_fields(tx: &Transaction) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("hash".into(), word(&tx.hash));
    m.insert("from".into(), address(&tx.from));
    m.insert("to".into(), tx.to.as_ref().map_or(Value::Null, address));
    m.insert("nonce".into(), quantity(tx.nonce));
    m.insert("raw".into(), data(&tx.raw));
    m
}

/// Adds `blockNumber`, `blockHash`, `transactionIndex`.
fn add_location(m: &mut Map<String, Value>, number: u64, hash: &B256, index: u64) {
    m.insert("blockNumber".into(), quantity(number));
    m.insert("blockHash".into(), word(hash));
    m.insert("transactionIndex".into(), quantity(index));
}

/// A transaction with where it is: the `tx` command.
pub(crate) fn located_transaction_json(location: &TxLocation) -> Value {
    let mut m = transaction_fields(&location.transaction);
    add_location(&mut m, location.block_number, &location.block_hash, location.index);
    Value::Object(m)
}

/// A block with its transactions (each with its location): the `block` command.
pub(crate) fn block_json(block: &Block) -> Value {
    let h = &block.header;
    let transactions: Vec<Value> = block
        .transactions
        .iter()
        .zip(0u64..)
        .map(|(tx, index)| {
            let mut m = transaction_fields(tx);
            add_location(&mut m, h.number, &h.hash, index);
            Value::Object(m)
        })
        .collect();
    json!({
        "number": quantity(h.number),
        "hash": word(&h.hash),
        "parentHash": word(&h.parent_hash),
        "timestamp": quantity(h.timestamp),
        "stateRoot": word(&h.state_root),
        "transactions": transactions,
    })
}

/// `{address, topics, data}`.
fn log_fields(log: &Log) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("address".into(), address(&log.address));
    m.insert("topics".into(), log.topics.iter().map(word).collect());
    m.insert("data".into(), data(&log.data));
    m
}

/// A receipt with its transaction's location: the `receipt` command.
pub(crate) fn receipt_json(receipt: &Receipt, location: &TxLocation) -> Value {
    let mut m = Map::new();
    m.insert("transactionHash".into(), word(&receipt.transaction_hash));
    m.insert("status".into(), quantity(receipt.status));
    m.insert("gasUsed".into(), quantity(receipt.gas_used));
    let logs = receipt.logs.iter().map(|l| Value::Object(log_fields(l))).collect();
    m.insert("logs".into(), logs);
    add_location(&mut m, location.block_number, &location.block_hash, location.index);
    Value::Object(m)
}

/// One `eth_getLogs` entry: the `logs` command prints an array of these.
pub(crate) fn log_json(l: &LocatedLog) -> Value {
    let mut m = Map::new();
    m.insert("blockNumber".into(), quantity(l.block_number));
    m.insert("blockHash".into(), word(&l.block_hash));
    m.insert("transactionHash".into(), word(&l.transaction_hash));
    m.insert("transactionIndex".into(), quantity(l.transaction_index));
    m.insert("logIndex".into(), quantity(l.log_index));
    m.extend(log_fields(&l.log));
    Value::Object(m)
}

/// `{address, nonce, balance, codeHash, storageHash}`; an absent account has zero nonce and
/// balance, the empty code hash and the empty trie root.
pub(crate) fn account_json(addr: &Address, info: Option<&AccountInfo>) -> Value {
    let (nonce, balance, code_hash, storage_root) = match info {
        Some(a) => (a.nonce, a.balance, a.code_hash, a.storage_root),
        None => (0, U256::ZERO, alloy_primitives::KECCAK256_EMPTY, EMPTY_TRIE_ROOT),
    };
    json!({
        "address": address(addr),
        "nonce": quantity(nonce),
        "balance": big_quantity(balance),
        "codeHash": word(&code_hash),
        "storageHash": word(&storage_root),
    })
}

/// `{address, slot, value}`: slot and value as 32-byte words (`eth_getStorageAt`).
pub(crate) fn storage_json(addr: &Address, slot: &B256, value: U256) -> Value {
    json!({
        "address": address(addr),
        "slot": word(slot),
        "value": word(&B256::from(value)),
    })
}

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
    use super::*;

    #[test]
    fn quantities_and_data() {
        assert_eq!(quantity(0u64), "0x0");
        assert_eq!(quantity(255u64), "0xff");
        assert_eq!(big_quantity(U256::MAX), format!("0x{}", "f".repeat(64)));
        assert_eq!(data(&[]), "0x");
        assert_eq!(data(&[0x0A, 0xBC]), "0x0abc");
        // Data is lower case even for addresses, whose Display form is checksummed.
        let a = Address::repeat_byte(0xAB);
        assert_eq!(address(&a), format!("0x{}", "ab".repeat(20)));
    }

    #[test]
    fn absent_account_has_empty_hashes() {
        let v = account_json(&Address::ZERO, None);
        assert_eq!(v["nonce"], "0x0");
        assert_eq!(v["balance"], "0x0");
        assert_eq!(
            v["codeHash"],
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            v["storageHash"],
            "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
        );
    }

    #[test]
    fn storage_value_is_a_word() {
        let v = storage_json(&Address::ZERO, &B256::with_last_byte(1), U256::from(0x2a));
        assert_eq!(v["slot"], format!("0x{}01", "0".repeat(62)));
        assert_eq!(v["value"], format!("0x{}2a", "0".repeat(62)));
    }

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
