//! [`ChainStore::verify`]: a full integrity check. Every row of every table is decoded, the
//! state root, every storage root and every stored trie node are recomputed from the flat state,
//! every block's transactions are checked against the indexes and every index entry against the
//! primary data, every history changeset against its key's block list, and the state as of the
//! oldest retained block is rebuilt from the history and checked against that block's root and
//! the historical trie nodes. Each inconsistency is reported with its table and key.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, hex, keccak256};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{EMPTY_TRIE_ROOT, TrieUpdates, encode_node, encode_path, rebuild_state_root};

use crate::at::{AtCursor, AtView, account_at};
use crate::cursors::{RawCursor, View};
use crate::error::Result;
use crate::history::{Kind, decode_change_list};
use crate::prune::{Prunable, oldest_state, pruned_through};
use crate::schema::*;
use crate::{ChainStore, Header, Receipt};

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table.
    pub table: String,
    /// The key, in hex.
    pub key: String,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [0x{}]: {}", self.table, self.key, self.detail)
    }
}

/// What [`ChainStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The head block checked against (`None` for an empty store).
    pub head: Option<u64>,
    /// The state root recomputed from the flat state.
    pub computed_state_root: Option<B256>,
    /// Rows read per table.
    pub rows: BTreeMap<String, u64>,
    /// Every inconsistency found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether everything is consistent.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, table: &str, key: &[u8], detail: impl Into<String>) {
        self.problems.push(Problem {
            table: table.into(),
            key: hex::encode(key),
            detail: detail.into(),
        });
    }
}

type Rows = Vec<(Vec<u8>, Vec<u8>)>;
/// Key → value rows.
type RowMap = BTreeMap<Vec<u8>, Vec<u8>>;

impl ChainStore {
    /// Checks everything (see the module docs). `progress(phase)` is called as it goes.
    pub fn verify(&self, progress: &mut dyn FnMut(&str)) -> Result<VerifyReport> {
        let r = self.db.begin_read();
        let mut report = VerifyReport::default();
        let mut read = |report: &mut VerifyReport, table: &str| -> Result<Rows> {
            let rows: Rows = r.range(table, KeyRange::all(), false)?.collect::<Result<_, _>>()?;
            report.rows.insert(table.to_string(), rows.len() as u64);
            Ok(rows)
        };
        progress("blocks");
        let head = r.get_as(&META, &HEAD_KEY.to_vec())?;
        report.head = head;
        let header_rows = read(&mut report, HEADERS.name())?;
        let first = r.get_as(&META, &FIRST_BLOCK_KEY.to_vec())?.unwrap_or(0);
        let headers = check_headers(&mut report, header_rows, first, head);
        progress("transactions and indexes");
        let blocks = BlockData::load(&r, &mut report, &headers, &mut read)?;
        let pruned_receipts = pruned_through(&r, Prunable::Receipts)?;
        let pruned_tx_index = pruned_through(&r, Prunable::TxIndex)?;
        check_indexes(&mut report, &blocks, pruned_receipts, pruned_tx_index, &mut read)?;
        progress("state");
        check_state(&r, &mut report, headers.get(&head.unwrap_or(0)), &mut read)?;
        progress("history");
        check_history(&r, &mut report, head, &mut read)?;
        if let Some(head) = head {
            let oldest = oldest_state(&r)?;
            if oldest < head {
                progress("state as of the oldest retained block");
                check_state_at(&r, &mut report, oldest, headers.get(&oldest))?;
            }
        }
        Ok(report)
    }
}

/// Checks that the headers are blocks `first..=head`, each the child of the one before.
fn check_headers(
    report: &mut VerifyReport,
    rows: Rows,
    first: u64,
    head: Option<u64>,
) -> BTreeMap<u64, Header> {
    let mut headers = BTreeMap::new();
    for (k, v) in rows {
        let Ok(number) = <[u8; 8]>::try_from(k.as_slice()).map(u64::from_be_bytes) else {
            report.problem(HEADERS.name(), &k, "key is not a block number");
            continue;
        };
        match <Header as chainstore_engine::db::Codec>::decode(&v) {
            Ok(h) if h.number == number => {
                headers.insert(number, h);
            }
            Ok(h) => report.problem(HEADERS.name(), &k, format!("header says block {}", h.number)),
            Err(e) => report.problem(HEADERS.name(), &k, format!("does not decode: {e}")),
        }
    }
    let expected_count = head.map_or(0, |h| h + 1);
    for n in first..expected_count {
        let parent = n.checked_sub(1).filter(|p| *p >= first).and_then(|p| headers.get(&p));
        match (headers.get(&n), parent) {
            (None, _) => {
                report.problem(HEADERS.name(), &n.to_be_bytes(), "block missing below the head")
            }
            (Some(h), Some(parent)) if h.parent_hash != parent.hash => report.problem(
                HEADERS.name(),
                &n.to_be_bytes(),
                "parent hash is not the previous block's hash",
            ),
            _ => {}
        }
    }
    for n in headers.keys().filter(|&&n| n >= expected_count) {
        report.problem(HEADERS.name(), &n.to_be_bytes(), "block above the head");
    }
    for n in headers.keys().filter(|&&n| n < first) {
        report.problem(HEADERS.name(), &n.to_be_bytes(), "block below the store's first block");
    }
    headers
}

/// The primary block data: per transaction hash, (block, index, sender, recipient, receipt).
struct BlockData {
    txs: BTreeMap<[u8; 32], (u64, u32, StoredTx, Option<Receipt>)>,
    hashes: BTreeMap<[u8; 32], u64>,
}

impl BlockData {
    fn load(
        r: &ReadTxn,
        report: &mut VerifyReport,
        headers: &BTreeMap<u64, Header>,
        read: &mut dyn FnMut(&mut VerifyReport, &str) -> Result<Rows>,
    ) -> Result<Self> {
        let mut data = BlockData { txs: BTreeMap::new(), hashes: BTreeMap::new() };
        for (k, v) in read(report, BLOCK_NUMBERS.name())? {
            let n = <[u8; 8]>::try_from(v.as_slice()).map(u64::from_be_bytes).ok();
            let ok = n.is_some_and(|n| {
                headers.get(&n).is_some_and(|h| h.hash.as_slice() == k.as_slice())
            });
            if !ok {
                report.problem(BLOCK_NUMBERS.name(), &k, "no block with this hash at that number");
            }
            if let (Ok(k), Some(n)) = (<[u8; 32]>::try_from(k.as_slice()), n) {
                data.hashes.insert(k, n);
            }
        }
        for h in headers.values() {
            if !data.hashes.contains_key(&h.hash.0) {
                report.problem(
                    BLOCK_NUMBERS.name(),
                    h.hash.as_slice(),
                    format!("block {} missing from the hash index", h.number),
                );
            }
        }
        let mut per_block: BTreeMap<u64, u64> = BTreeMap::new();
        for (k, v) in read(report, BLOCK_TXS)? {
            let (Ok(n), Ok(i), Ok(hash)) = (
                <[u8; 8]>::try_from(&k[..k.len().min(8)]).map(u64::from_be_bytes),
                <[u8; 4]>::try_from(k.get(8..).unwrap_or_default()).map(u32::from_be_bytes),
                <[u8; 32]>::try_from(v.as_slice()),
            ) else {
                report.problem(BLOCK_TXS, &k, "malformed entry");
                continue;
            };
            *per_block.entry(n).or_default() += 1;
            match r.get_as(&TRANSACTIONS, &hash) {
                Ok(Some(tx)) if tx.block_number == n && tx.index == u64::from(i) => {
                    let receipt = r.get_as(&RECEIPTS, &hash).unwrap_or_else(|e| {
                        report.problem(RECEIPTS.name(), &hash, format!("does not decode: {e}"));
                        None
                    });
                    data.txs.insert(hash, (n, i, tx, receipt));
                }
                Ok(Some(_)) => report.problem(
                    TRANSACTIONS.name(),
                    &hash,
                    "location differs from the block's list",
                ),
                Ok(None) => report.problem(
                    TRANSACTIONS.name(),
                    &hash,
                    format!("listed in block {n} but missing"),
                ),
                Err(e) => {
                    report.problem(TRANSACTIONS.name(), &hash, format!("does not decode: {e}"))
                }
            }
        }
        for h in headers.values() {
            let listed = per_block.get(&h.number).copied().unwrap_or(0);
            if listed != h.transaction_count {
                report.problem(
                    BLOCK_TXS,
                    &h.number.to_be_bytes(),
                    format!("{listed} transactions listed, header says {}", h.transaction_count),
                );
            }
        }
        let stored = read(report, TRANSACTIONS.name())?;
        for (k, _) in &stored {
            if <[u8; 32]>::try_from(k.as_slice()).map_or(true, |h| !data.txs.contains_key(&h)) {
                report.problem(TRANSACTIONS.name(), k, "not listed in any block");
            }
        }
        for (k, _) in read(report, RECEIPTS.name())? {
            if <[u8; 32]>::try_from(k.as_slice()).map_or(true, |h| !data.txs.contains_key(&h)) {
                report.problem(RECEIPTS.name(), &k, "receipt of a transaction not in any block");
            }
        }
        Ok(data)
    }
}

/// A stored transaction: hash, index, record, receipt.
type TxRef<'a> = (&'a [u8; 32], u32, &'a StoredTx, Option<&'a Receipt>);

/// Every index entry the primary data implies must exist, and no other.
fn check_indexes(
    report: &mut VerifyReport,
    blocks: &BlockData,
    pruned_receipts: Option<u64>,
    pruned_tx_index: Option<u64>,
    read: &mut dyn FnMut(&mut VerifyReport, &str) -> Result<Rows>,
) -> Result<()> {
    let mut expected: BTreeMap<&str, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    let mut by_block: BTreeMap<u64, Vec<TxRef<'_>>> = BTreeMap::new();
    for (hash, (n, i, tx, receipt)) in &blocks.txs {
        by_block.entry(*n).or_default().push((hash, *i, tx, receipt.as_ref()));
    }
    for (n, mut txs) in by_block {
        txs.sort_by_key(|t| t.1);
        let nb = n.to_be_bytes();
        let mut log_index = 0u32;
        for (hash, i, tx, receipt) in txs {
            let ib = i.to_be_bytes();
            if receipt.is_some() && pruned_receipts.is_some_and(|p| n <= p) {
                report.problem(
                    RECEIPTS.name(),
                    hash,
                    format!("receipt kept in block {n}, whose receipts were pruned"),
                );
            }
            if pruned_tx_index.is_some_and(|p| n <= p) {
                // Pruned: no index entry may remain (checked below as stale).
            } else {
                expected
                    .entry(TX_BY_SENDER)
                    .or_default()
                    .insert(key(&[tx.from.as_slice(), &nb, &ib]), hash.to_vec());
                if !tx.to.is_empty() {
                    expected
                        .entry(TX_BY_RECIPIENT)
                        .or_default()
                        .insert(key(&[&tx.to, &nb, &ib]), hash.to_vec());
                }
            }
            for (position, log) in
                receipt.map(|r| r.logs.as_slice()).unwrap_or_default().iter().enumerate()
            {
                let pointer =
                    LogPointer { tx_index: i, position: position as u32 }.encode().to_vec();
                let at = log_index.to_be_bytes();
                expected
                    .entry(LOGS_BY_ADDRESS)
                    .or_default()
                    .insert(key(&[log.address.as_slice(), &nb, &at]), pointer.clone());
                for (p, topic) in log.topics.iter().enumerate() {
                    expected
                        .entry(LOGS_BY_TOPIC)
                        .or_default()
                        .insert(key(&[&[p as u8], topic.as_slice(), &nb, &at]), pointer.clone());
                }
                log_index += 1;
            }
        }
    }
    for table in [TX_BY_SENDER, TX_BY_RECIPIENT, LOGS_BY_ADDRESS, LOGS_BY_TOPIC] {
        let mut want = expected.remove(table).unwrap_or_default();
        for (k, v) in read(report, table)? {
            match want.remove(&k) {
                Some(w) if w == v => {}
                Some(_) => {
                    report.problem(table, &k, "entry points elsewhere than the primary data")
                }
                None => report.problem(table, &k, "stale entry: no such transaction or log"),
            }
        }
        for k in want.keys() {
            report.problem(table, k, "missing entry for a stored transaction or log");
        }
    }
    Ok(())
}

/// Recomputes the state root, storage roots and trie nodes from the flat state.
fn check_state(
    r: &ReadTxn,
    report: &mut VerifyReport,
    head: Option<&Header>,
    read: &mut dyn FnMut(&mut VerifyReport, &str) -> Result<Rows>,
) -> Result<()> {
    let accounts = read(report, HASHED_ACCOUNTS)?;
    let mut code_hashes = BTreeSet::new();
    for (k, v) in &accounts {
        match decode_account(v) {
            Ok(a) if k.len() == 32 => {
                code_hashes.insert(a.code_hash);
            }
            Ok(_) => report.problem(HASHED_ACCOUNTS, k, "key is not 32 bytes"),
            Err(e) => report.problem(HASHED_ACCOUNTS, k, e),
        }
    }
    let account_keys: BTreeSet<&[u8]> = accounts.iter().map(|(k, _)| k.as_slice()).collect();
    for (k, v) in read(report, HASHED_STORAGE)? {
        if k.len() != 64 || !account_keys.contains(&k[..32.min(k.len())]) {
            report.problem(HASHED_STORAGE, &k, "slot of an account that does not exist");
        }
        if decode_value(&v).map_or(true, |x| x.is_zero()) {
            report.problem(HASHED_STORAGE, &k, "value is not a non-zero 32-byte word");
        }
    }
    for (k, v) in read(report, CODE.name())? {
        if keccak256(&v).as_slice() != k.as_slice() {
            report.problem(CODE.name(), &k, "code does not hash to its key");
        }
    }
    for h in code_hashes.iter().filter(|h| **h != alloy_primitives::KECCAK256_EMPTY) {
        if r.get_as(&CODE, &h.0)?.is_none() {
            report.problem(CODE.name(), h.as_slice(), "code of an account is missing");
        }
    }
    let view = View(r);
    let rebuilt = rebuild_state_root(&view)?;
    report.computed_state_root = Some(rebuilt.root);
    let expected = head.map_or(EMPTY_TRIE_ROOT, |h| h.state_root);
    if rebuilt.root != expected {
        report.problem(
            HASHED_ACCOUNTS,
            &[],
            format!(
                "state root recomputed from the flat state is {}, the head block says {expected}",
                rebuilt.root
            ),
        );
    }
    let mut roots: BTreeMap<Vec<u8>, Vec<u8>> =
        rebuilt.storage_roots.iter().map(|(a, root)| (a.to_vec(), root.to_vec())).collect();
    let rows = read(report, STORAGE_ROOTS.name())?;
    compare(report, STORAGE_ROOTS.name(), rows, &mut roots, "storage root");
    let (mut account_nodes, mut storage_nodes) = node_rows(&rebuilt.updates);
    let rows = read(report, ACCOUNT_TRIE)?;
    compare(report, ACCOUNT_TRIE, rows, &mut account_nodes, "trie node");
    let rows = read(report, STORAGE_TRIE)?;
    compare(report, STORAGE_TRIE, rows, &mut storage_nodes, "trie node");
    Ok(())
}

/// Every history row is in its block's change list and every listed key has its row; rows and
/// lists are well formed; nothing is above the head or below the window.
fn check_history(
    r: &ReadTxn,
    report: &mut VerifyReport,
    head: Option<u64>,
    read: &mut dyn FnMut(&mut VerifyReport, &str) -> Result<Rows>,
) -> Result<()> {
    let pruned = pruned_through(r, Prunable::History)?;
    let out_of_window = |number: u64| {
        if head.is_none_or(|h| number > h) {
            Some("history of a block above the head")
        } else if pruned.is_some_and(|p| number <= p) {
            Some("history of a pruned block")
        } else {
            None
        }
    };
    for kind in Kind::ALL {
        let table = kind.history();
        let mut rows: BTreeMap<(u64, Vec<u8>), ()> = BTreeMap::new();
        for (hk, v) in read(report, table)? {
            let Some((key, number)) = kind.decode_index_key(&hk) else {
                report.problem(table, &hk, "malformed key");
                continue;
            };
            if let Some(problem) = out_of_window(number) {
                report.problem(table, &hk, problem);
            } else if let Err(d) = kind.before_value(&v) {
                report.problem(table, &hk, d);
            } else {
                rows.insert((number, key), ());
            }
        }
        let table = kind.changes();
        for (k, list) in read(report, table)? {
            let Ok(number) = <[u8; 8]>::try_from(k.as_slice()).map(u64::from_be_bytes) else {
                report.problem(table, &k, "malformed key");
                continue;
            };
            if let Some(problem) = out_of_window(number) {
                report.problem(table, &k, problem);
                continue;
            }
            let keys = match decode_change_list(kind, &list) {
                Ok(keys) => keys,
                Err(d) => {
                    report.problem(table, &k, d);
                    continue;
                }
            };
            for key in keys {
                if rows.remove(&(number, key.clone())).is_none() {
                    let detail = format!("block {number} lists a key without a history row");
                    report.problem(table, &key, detail);
                }
            }
        }
        for (number, key) in rows.into_keys() {
            let detail = format!("history row of block {number} missing from its change list");
            report.problem(kind.history(), &key, detail);
        }
    }
    Ok(())
}

/// Recomputes the state root, storage roots and trie nodes as of block `n` from the history,
/// against block `n`'s header and the historical nodes.
fn check_state_at(
    r: &ReadTxn,
    report: &mut VerifyReport,
    n: u64,
    header: Option<&Header>,
) -> Result<()> {
    let view = AtView { reader: r, n };
    let rebuilt = rebuild_state_root(&view)?;
    let label = format!("as of block {n}");
    if let Some(h) = header.filter(|h| h.state_root != rebuilt.root) {
        report.problem(
            ACCOUNT_HISTORY,
            &n.to_be_bytes(),
            format!("state {label} hashes to {}, the block says {}", rebuilt.root, h.state_root),
        );
    }
    let mut accounts = AtCursor::new(r, Kind::Account, &[], n);
    let mut entry = accounts.seek_raw(&[])?;
    while let Some((hashed, _)) = entry {
        let root = account_at(r, B256::from_slice(&hashed), n)?.map(|a| a.storage_root);
        let want =
            rebuilt.storage_roots.get(&B256::from_slice(&hashed)).unwrap_or(&EMPTY_TRIE_ROOT);
        if root.as_ref() != Some(want) {
            report.problem(
                ACCOUNT_HISTORY,
                &hashed,
                format!("storage root {label} differs from the recomputed one"),
            );
        }
        entry = accounts.next_raw()?;
    }
    let (mut account_nodes, mut storage_nodes) = node_rows(&rebuilt.updates);
    let what = format!("trie node {label}");
    let rows = rows_at(r, Kind::AccountNode, n)?;
    compare(report, ACCOUNT_TRIE_HISTORY, rows, &mut account_nodes, &what);
    let rows = rows_at(r, Kind::StorageNode, n)?;
    compare(report, STORAGE_TRIE_HISTORY, rows, &mut storage_nodes, &what);
    Ok(())
}

/// The rows the account trie and the storage tries should hold for a full rebuild's nodes.
fn node_rows(updates: &TrieUpdates) -> (RowMap, RowMap) {
    let account = updates
        .account_nodes
        .iter()
        .filter_map(|(p, n)| n.as_ref().map(|n| (encode_path(p), encode_node(n))))
        .collect();
    let mut storage = BTreeMap::new();
    for (a, nodes) in &updates.storage_nodes {
        for (p, n) in nodes {
            if let Some(n) = n {
                storage.insert(key(&[a.as_slice(), &encode_path(p)]), encode_node(n));
            }
        }
    }
    (account, storage)
}

/// Every entry of `kind` as of block `n`.
fn rows_at(r: &ReadTxn, kind: Kind, n: u64) -> Result<Rows> {
    let mut cursor = AtCursor::new(r, kind, &[], n);
    let mut rows = Vec::new();
    let mut entry = cursor.seek_raw(&[])?;
    while let Some(pair) = entry {
        rows.push(pair);
        entry = cursor.next_raw()?;
    }
    Ok(rows)
}

/// Stored rows against what they should be (consumes `want`).
fn compare(
    report: &mut VerifyReport,
    table: &str,
    rows: Rows,
    want: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    what: &str,
) {
    for (k, v) in rows {
        match want.remove(&k) {
            Some(w) if w == v => {}
            Some(_) => report.problem(table, &k, format!("{what} differs from the recomputed one")),
            None => report.problem(table, &k, format!("stale {what}: not in the recomputed trie")),
        }
    }
    for k in want.keys() {
        report.problem(table, k, format!("{what} missing"));
    }
}
