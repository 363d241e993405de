//! Writing a block into a write transaction: the state diff and the trie updates (with the
//! values they replace: [history](crate::history)), and the block's data and indexes.

use alloy_primitives::KECCAK256_EMPTY as KECCAK_EMPTY;
use alloy_primitives::{Address, B256, U256, hex, keccak256};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::{ReadTxn, WriteTxn};
use chainstore_trie::{
    BranchNodeCompact, ChangeSet, EMPTY_TRIE_ROOT, Nibbles, StateRootOutput, decode_node,
    encode_node, encode_path,
};

use crate::cache::{HeadAccount, StateCache};
use crate::error::{ChainError, Result, corrupt};
use crate::history::{BlockHistory, Kind};
use crate::overlay::Overlay;
use crate::schema::*;
use crate::{AccountChange, BlockCommit, Header};

/// The head state as a block being applied reads it: the cache, loading from a snapshot of
/// the head.
pub(crate) struct Head<'a> {
    pub(crate) cache: &'a mut StateCache,
    pub(crate) reader: &'a ReadTxn,
}

/// What a block being applied writes besides the transaction's own rows: the block's view of
/// the state after it, and its history.
pub(crate) struct Applied {
    pub(crate) overlay: Overlay,
    pub(crate) history: BlockHistory,
}

/// Applies the state diff of block `number` to `txn` and `overlay`, recording the replaced
/// values; returns what the trie must recompute.
pub(crate) fn apply_state(
    txn: &mut WriteTxn,
    head: &mut Head<'_>,
    applied: &mut Applied,
    state: &[(Address, Option<AccountChange>)],
) -> Result<ChangeSet> {
    let mut changes = ChangeSet::new();
    for (address, change) in state {
        let hashed = keccak256(address);
        let previous = match applied.overlay.account(hashed) {
            Some(current) => current,
            None => {
                // The block's first write of the account: record it as it was before.
                let before = head.cache.account(head.reader, hashed)?;
                record_account(txn, &mut applied.history, hashed, before.as_ref())?;
                before.map(|a| a.account)
            }
        };
        changes.touch_hashed_account(hashed);
        match change {
            None => {
                if previous.is_some() {
                    txn.delete(HASHED_ACCOUNTS, hashed.as_slice())?;
                }
                applied.overlay.set_account(hashed, None);
                wipe_storage(txn, head, applied, hashed)?;
                changes.wipe_hashed_storage(hashed);
            }
            Some(c) => {
                if previous.is_none() {
                    // A new account's storage trie is built from its slots alone.
                    changes.wipe_hashed_storage(hashed);
                }
                let mut account = previous.unwrap_or_default();
                if let Some(nonce) = c.nonce {
                    account.nonce = nonce;
                }
                if let Some(balance) = c.balance {
                    account.balance = balance;
                }
                if let Some(code) = &c.code {
                    account.code_hash =
                        if code.is_empty() { KECCAK_EMPTY } else { keccak256(code) };
                    if !code.is_empty() {
                        txn.put_as(&CODE, &account.code_hash.0, &code.to_vec())?;
                    }
                }
                txn.put(HASHED_ACCOUNTS, hashed.as_slice(), &encode_account(&account))?;
                applied.overlay.set_account(hashed, Some(account));
                for (slot, value) in &c.storage {
                    let hashed_slot = keccak256(slot);
                    set_slot(txn, head, applied, hashed, hashed_slot, *value)?;
                    changes.touch_hashed_slot(hashed, hashed_slot);
                }
            }
        }
    }
    Ok(changes)
}

/// Records the account (with its storage root) as it was before block `number`.
fn record_account(
    txn: &mut WriteTxn,
    history: &mut BlockHistory,
    hashed: B256,
    before: Option<&HeadAccount>,
) -> Result<()> {
    let value = match before {
        Some(a) => [&[1u8][..], &encode_account(&a.account), a.storage_root.as_slice()].concat(),
        None => vec![0u8],
    };
    history.record(txn, Kind::Account, hashed.as_slice(), &value)
}

fn set_slot(
    txn: &mut WriteTxn,
    head: &mut Head<'_>,
    applied: &mut Applied,
    hashed: B256,
    slot: B256,
    value: U256,
) -> Result<()> {
    let k = key(&[hashed.as_slice(), slot.as_slice()]);
    if !applied.overlay.slot_written(hashed, slot) {
        // The block's first write of the slot: record it as it was before.
        let before = head.cache.slot(head.reader, hashed, slot)?.unwrap_or_default();
        applied.history.record(txn, Kind::Storage, &k, &before.to_be_bytes::<32>())?;
    }
    if value.is_zero() {
        txn.delete(HASHED_STORAGE, &k)?;
    } else {
        txn.put(HASHED_STORAGE, &k, &value.to_be_bytes::<32>())?;
    }
    applied.overlay.set_slot(hashed, slot, value);
    Ok(())
}

/// Deletes every slot of an account (recording each value) and its storage root.
fn wipe_storage(
    txn: &mut WriteTxn,
    head: &mut Head<'_>,
    applied: &mut Applied,
    hashed: B256,
) -> Result<()> {
    // The account's slots as of now: the head's, with this block's writes so far.
    let slots: Vec<Vec<u8>> = txn
        .range(HASHED_STORAGE, KeyRange::prefix(hashed.as_slice()), false)?
        .map(|r| r.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in slots {
        let slot = B256::from_slice(&k[32..]);
        set_slot(txn, head, applied, hashed, slot, U256::ZERO)?;
    }
    applied.overlay.wipe_storage(hashed);
    txn.delete_as(&STORAGE_ROOTS, &hashed.0)?;
    Ok(())
}

/// Where [`write_trie`] finds the node a write replaces.
pub(crate) trait NodesBefore {
    /// The stored node at `path` of the account trie (`owner` `None`) or of `owner`'s storage
    /// trie, before the writes.
    fn node_before(
        &mut self,
        owner: Option<B256>,
        path: &Nibbles,
    ) -> Result<Option<BranchNodeCompact>>;
}

impl NodesBefore for Head<'_> {
    fn node_before(
        &mut self,
        owner: Option<B256>,
        path: &Nibbles,
    ) -> Result<Option<BranchNodeCompact>> {
        Ok(self.cache.nodes(self.reader, owner)?.get(path).cloned())
    }
}

/// Reads the nodes a write replaces from a snapshot taken before the writes (unwinding).
pub(crate) struct NodesOf<'t>(pub(crate) &'t ReadTxn);

impl NodesBefore for NodesOf<'_> {
    fn node_before(
        &mut self,
        owner: Option<B256>,
        path: &Nibbles,
    ) -> Result<Option<BranchNodeCompact>> {
        let (table, k) = node_key(owner, path);
        self.0
            .get(table, &k)?
            .map(|v| decode_node(&v).map_err(|e| corrupt(table, hex::encode(&k), e)))
            .transpose()
    }
}

fn node_key(owner: Option<B256>, path: &Nibbles) -> (&'static str, Vec<u8>) {
    match owner {
        None => (ACCOUNT_TRIE, encode_path(path)),
        Some(o) => (STORAGE_TRIE, key(&[o.as_slice(), &encode_path(path)])),
    }
}

/// Persists the trie's node updates and the new storage roots; with `history`, records each
/// replaced node as changed by that block.
pub(crate) fn write_trie(
    txn: &mut WriteTxn,
    before: &mut dyn NodesBefore,
    output: &StateRootOutput,
    mut history: Option<&mut BlockHistory>,
) -> Result<()> {
    for (path, node) in &output.updates.account_nodes {
        write_node(txn, before, None, path, node.as_ref(), history.as_deref_mut())?;
    }
    for (hashed, nodes) in &output.updates.storage_nodes {
        for (path, node) in nodes {
            write_node(txn, before, Some(*hashed), path, node.as_ref(), history.as_deref_mut())?;
        }
    }
    for (hashed, root) in &output.storage_roots {
        if *root == EMPTY_TRIE_ROOT {
            txn.delete_as(&STORAGE_ROOTS, &hashed.0)?;
        } else {
            txn.put_as(&STORAGE_ROOTS, &hashed.0, &root.0)?;
        }
    }
    Ok(())
}

fn write_node(
    txn: &mut WriteTxn,
    before: &mut dyn NodesBefore,
    owner: Option<B256>,
    path: &Nibbles,
    node: Option<&BranchNodeCompact>,
    history: Option<&mut BlockHistory>,
) -> Result<()> {
    let old = before.node_before(owner, path)?;
    if old.as_ref() == node {
        return Ok(());
    }
    let (table, k) = node_key(owner, path);
    let kind = if owner.is_some() { Kind::StorageNode } else { Kind::AccountNode };
    if let Some(history) = history {
        let before = match &old {
            Some(n) => [&[1u8][..], &encode_node(n)].concat(),
            None => vec![0u8],
        };
        history.record(txn, kind, &k, &before)?;
    }
    match node {
        Some(n) => txn.put(table, &k, &encode_node(n))?,
        None => txn.delete(table, &k)?,
    }
    Ok(())
}

/// Refuses a block whose hash or a transaction hash is already stored.
pub(crate) fn check_new(txn: &WriteTxn, block: &BlockCommit) -> Result<()> {
    let number = block.number;
    if txn.get_as(&BLOCK_NUMBERS, &block.hash.0)?.is_some() {
        return Err(ChainError::DuplicateBlock { number, hash: block.hash });
    }
    for tx in &block.transactions {
        if txn.get_as(&TRANSACTIONS, &tx.hash.0)?.is_some() {
            return Err(ChainError::DuplicateTransaction { number, hash: tx.hash });
        }
    }
    Ok(())
}

/// Writes the header, transactions, receipts, indexes and metadata of a block.
pub(crate) fn write_block(
    txn: &mut WriteTxn,
    block: &BlockCommit,
    state_root: B256,
) -> Result<Header> {
    let number = block.number;
    let mut log_count = 0u64;
    for (i, tx) in block.transactions.iter().enumerate() {
        let idx = (i as u32).to_be_bytes();
        let n = number.to_be_bytes();
        txn.put_as(&TRANSACTIONS, &tx.hash.0, &StoredTx::new(tx, number, i as u64))?;
        txn.put(BLOCK_TXS, &key(&[&n, &idx]), tx.hash.as_slice())?;
        txn.put(TX_BY_SENDER, &key(&[tx.from.as_slice(), &n, &idx]), tx.hash.as_slice())?;
        if let Some(to) = tx.to {
            txn.put(TX_BY_RECIPIENT, &key(&[to.as_slice(), &n, &idx]), tx.hash.as_slice())?;
        }
        let Some(receipt) = block.receipts.get(i) else { continue };
        txn.put_as(&RECEIPTS, &tx.hash.0, receipt)?;
        for (position, log) in receipt.logs.iter().enumerate() {
            let pointer = LogPointer { tx_index: i as u32, position: position as u32 }.encode();
            let at = (log_count as u32).to_be_bytes();
            txn.put(LOGS_BY_ADDRESS, &key(&[log.address.as_slice(), &n, &at]), &pointer)?;
            for (p, topic) in log.topics.iter().enumerate() {
                txn.put(LOGS_BY_TOPIC, &key(&[&[p as u8], topic.as_slice(), &n, &at]), &pointer)?;
            }
            log_count += 1;
        }
    }
    for (name, value) in &block.metadata {
        txn.put(&metadata_table(name)?, &number.to_be_bytes(), value)?;
    }
    let header = Header {
        number,
        hash: block.hash,
        parent_hash: block.parent_hash,
        timestamp: block.timestamp,
        state_root,
        transaction_count: block.transactions.len() as u64,
        log_count,
    };
    txn.put_as(&HEADERS, &number, &header)?;
    txn.put_as(&BLOCK_NUMBERS, &block.hash.0, &number)?;
    txn.put_as(&META, &HEAD_KEY.to_vec(), &number)?;
    Ok(header)
}

/// Deletes the sender and recipient index entries of transaction `hash`, at index `idx` (u32,
/// big-endian) of block `number`; returns the operations written.
pub(crate) fn delete_tx_index(
    txn: &mut WriteTxn,
    number: u64,
    idx: &[u8],
    hash: &[u8; 32],
) -> Result<usize> {
    let n = number.to_be_bytes();
    let Some(stored) = txn.get_as(&TRANSACTIONS, hash)? else { return Ok(0) };
    txn.delete(TX_BY_SENDER, &key(&[stored.from.as_slice(), &n, idx]))?;
    if stored.to.is_empty() {
        return Ok(1);
    }
    txn.delete(TX_BY_RECIPIENT, &key(&[&stored.to, &n, idx]))?;
    Ok(2)
}

/// Deletes the receipt of transaction `hash` of block `number` and its logs' index entries;
/// `log_index` is the block's running log counter, moved past the receipt's logs. Returns the
/// operations written.
pub(crate) fn delete_receipt_and_logs(
    txn: &mut WriteTxn,
    number: u64,
    hash: &[u8; 32],
    log_index: &mut u32,
) -> Result<usize> {
    let n = number.to_be_bytes();
    let Some(receipt) = txn.get_as(&RECEIPTS, hash)? else { return Ok(0) };
    let mut ops = 1;
    for log in &receipt.logs {
        let at = log_index.to_be_bytes();
        txn.delete(LOGS_BY_ADDRESS, &key(&[log.address.as_slice(), &n, &at]))?;
        for (p, topic) in log.topics.iter().enumerate() {
            txn.delete(LOGS_BY_TOPIC, &key(&[&[p as u8], topic.as_slice(), &n, &at]))?;
        }
        ops += 1 + log.topics.len();
        *log_index += 1;
    }
    txn.delete_as(&RECEIPTS, hash)?;
    Ok(ops)
}

/// The table holding per-block metadata `name`.
pub(crate) fn metadata_table(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(ChainError::BadMetadataName(name.to_string()));
    }
    Ok(format!("{BLOCKMETA_PREFIX}{name}"))
}
