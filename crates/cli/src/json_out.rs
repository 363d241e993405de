//! JSON output in the Ethereum JSON-RPC conventions: camelCase field names, `0x`-prefixed
//! lower-case hex for data, quantities as `0x` hex strings.

use alloy_primitives::B256;
use serde_json::{Value, json};

/// A quantity: `0x` hex without leading zeros (`0x0` for zero).
pub(crate) fn quantity(n: impl Into<u128>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// `{"number","hash","stateRoot"}`: what `head`, `genesis` and `ingest` print.
pub(crate) fn head_json(number: u64, hash: B256, state_root: B256) -> Value {
    json!({ "number": quantity(number), "hash": hash, "stateRoot": state_root })
}
