//! JSON output in the Ethereum JSON-RPC conventions: camelCase field names, `0x`-prefixed
//! lower-case hex for data, quantities as `0x` hex strings.

use alloy_primitives::{Address, B256, U256, hex};
use chainstore_chain::{
    AccountInfo, Block, ChainStore, Header, LocatedLog, Log, Prunable, PruneReport, Receipt,
    Result, Transaction, TxLocation, VerifyReport,
};
use chainstore_engine::db::Stats;
use chainstore_trie::EMPTY_TRIE_ROOT;
use serde_json::{Map, Value, json};

/// A quantity: `0x` hex without leading zeros (`0x0` for zero).
pub fn quantity(n: impl Into<u128>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// A 256-bit quantity (balances).
pub fn big_quantity(n: U256) -> Value {
    Value::String(format!("{n:#x}"))
}

/// Data: `0x` and two lower-case hex digits per byte.
pub fn data(bytes: &[u8]) -> Value {
    Value::String(hex::encode_prefixed(bytes))
}

fn address(a: &Address) -> Value {
    data(a.as_slice())
}

fn word(w: &B256) -> Value {
    data(w.as_slice())
}

/// `{"number","hash","stateRoot"}`: what `head`, `genesis`, `ingest` and `unwind` print.
pub fn head_json(number: u64, hash: B256, state_root: B256) -> Value {
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
pub fn located_transaction_json(location: &TxLocation) -> Value {
    let mut m = transaction_fields(&location.transaction);
    add_location(&mut m, location.block_number, &location.block_hash, location.index);
    Value::Object(m)
}

/// A block with its transactions (each with its location): the `block` command.
pub fn block_json(block: &Block) -> Value {
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
pub fn receipt_json(receipt: &Receipt, location: &TxLocation) -> Value {
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
pub fn log_json(l: &LocatedLog) -> Value {
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
pub fn account_json(addr: &Address, info: Option<&AccountInfo>) -> Value {
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
pub fn storage_json(addr: &Address, slot: &B256, value: U256) -> Value {
    json!({
        "address": address(addr),
        "slot": word(slot),
        "value": word(&B256::from(value)),
    })
}

/// `{ok, head, stateRoot, rows, problems[{table, key, detail}]}`: what `verify` found.
pub fn verify_json(report: &VerifyReport) -> Value {
    let problems: Vec<_> = report
        .problems
        .iter()
        .map(|p| json!({ "table": p.table, "key": format!("0x{}", p.key), "detail": p.detail }))
        .collect();
    json!({
        "ok": report.is_ok(),
        "head": report.head.map(quantity),
        "stateRoot": report.computed_state_root,
        "rows": report.rows,
        "problems": problems,
    })
}

/// `{pruned[{what, blocks, entries}], batches, oldestAvailable{stateHistory, receipts,
/// transactionIndex}}`: what `prune` did, and what `store` keeps now.
pub fn prune_json(report: &PruneReport, store: &ChainStore) -> Result<Value> {
    let pruned: Vec<_> = report
        .pruned
        .iter()
        .map(|(what, blocks, entries)| {
            json!({ "what": what.name(), "blocks": blocks, "entries": entries })
        })
        .collect();
    let oldest = |what| store.oldest_available(what);
    Ok(json!({
        "pruned": pruned,
        "batches": report.batches,
        "oldestAvailable": {
            "stateHistory": oldest(Prunable::History)?,
            "receipts": oldest(Prunable::Receipts)?,
            "transactionIndex": oldest(Prunable::TxIndex)?,
        },
    }))
}

/// The engine's counters with the head: `{backend, head, checkpoint, visibleSeq, logBytes,
/// memtableBytes, backendBytes}` (`head` as [`head_json`], `null` on an empty store).
pub fn stats_json(head: Option<&Header>, stats: &Stats) -> Value {
    json!({
        "backend": stats.backend,
        "head": head.map_or(Value::Null, |h| head_json(h.number, h.hash, h.state_root)),
        "checkpoint": quantity(stats.checkpoint),
        "visibleSeq": quantity(stats.visible_seq),
        "logBytes": quantity(stats.wal_bytes),
        "memtableBytes": quantity(stats.memtable_bytes),
        "backendBytes": quantity(stats.backend_bytes),
    })
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
}
