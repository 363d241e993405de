//! Reverting blocks: [`ChainStore::unwind_to`].

use alloy_primitives::B256;
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::WriteTxn;
use chainstore_trie::{ChangeSet, state_root};

use crate::apply::write_trie;
use crate::cursors::View;
use crate::error::{ChainError, Result};
use crate::schema::*;
use crate::{ChainStore, Receipt};

impl ChainStore {
    /// Reverts every block above `target` in one atomic, durable transaction: state (with the
    /// trie, recomputed for the reverted keys and checked against block `target`'s root),
    /// blocks, transactions, receipts, logs and every index. Afterwards block `target + 1` can
    /// be committed again.
    pub fn unwind_to(&self, target: u64) -> Result<()> {
        let mut txn = self.db.begin_write();
        let head = txn.get_as(&META, &HEAD_KEY.to_vec())?;
        let Some(head) = head else { return Err(ChainError::Empty) };
        if target > head {
            return Err(ChainError::UnwindAboveHead { target, head });
        }
        if target == head {
            return Ok(());
        }
        let expected = txn
            .get_as(&HEADERS, &target)?
            .ok_or_else(|| ChainError::Corrupt {
                table: "headers",
                detail: format!("block {target} is missing"),
            })?
            .state_root;
        let mut changes = ChangeSet::new();
        for number in (target + 1..=head).rev() {
            revert_state(&mut txn, number, &mut changes)?;
            delete_block(&mut txn, number)?;
        }
        let view = View(&txn);
        let output = state_root(&view, &view, &changes)?;
        if output.root != expected {
            return Err(ChainError::UnwindRootMismatch { target, expected, computed: output.root });
        }
        write_trie(&mut txn, &output)?;
        txn.put_as(&META, &HEAD_KEY.to_vec(), &target)?;
        txn.commit()?;
        tracing::info!(target: "chainstore::chain", from = head, to = target, "unwound");
        Ok(())
    }
}

fn corrupt(table: &'static str, number: u64, detail: impl std::fmt::Display) -> ChainError {
    ChainError::Corrupt { table, detail: format!("block {number}: {detail}") }
}

/// Restores the accounts and slots block `number` changed, and forgets its changesets.
fn revert_state(txn: &mut WriteTxn, number: u64, changes: &mut ChangeSet) -> Result<()> {
    let n = number.to_be_bytes();
    let accounts: Vec<(Vec<u8>, Vec<u8>)> =
        txn.range(ACCOUNT_CHANGES, KeyRange::prefix(&n), false)?.collect::<Result<_, _>>()?;
    for (k, before) in accounts {
        let hashed =
            B256::try_from(&k[8..]).map_err(|_| corrupt(ACCOUNT_CHANGES, number, "bad key"))?;
        let exists_now = txn.get(HASHED_ACCOUNTS, hashed.as_slice())?.is_some();
        match before.split_first() {
            Some((0, [])) => txn.delete(HASHED_ACCOUNTS, hashed.as_slice())?,
            Some((1, account)) => txn.put(HASHED_ACCOUNTS, hashed.as_slice(), account)?,
            _ => return Err(corrupt(ACCOUNT_CHANGES, number, "bad value")),
        }
        let existed = before[0] == 1;
        if existed != exists_now {
            // Created or deleted by the block: rebuild its storage trie from the restored slots.
            changes.wipe_hashed_storage(hashed);
        }
        if !existed {
            txn.delete_as(&STORAGE_ROOTS, &hashed.0)?;
        }
        changes.touch_hashed_account(hashed);
        txn.delete(ACCOUNT_CHANGES, &k)?;
    }
    let slots: Vec<(Vec<u8>, Vec<u8>)> =
        txn.range(STORAGE_CHANGES, KeyRange::prefix(&n), false)?.collect::<Result<_, _>>()?;
    for (k, before) in slots {
        if k.len() != 72 || before.len() != 32 {
            return Err(corrupt(STORAGE_CHANGES, number, "bad entry"));
        }
        let (hashed, slot) = (B256::from_slice(&k[8..40]), B256::from_slice(&k[40..72]));
        if before.iter().all(|&b| b == 0) {
            txn.delete(HASHED_STORAGE, &k[8..])?;
        } else {
            txn.put(HASHED_STORAGE, &k[8..], &before)?;
        }
        changes.touch_hashed_slot(hashed, slot);
        txn.delete(STORAGE_CHANGES, &k)?;
    }
    Ok(())
}

/// Deletes block `number` with its transactions, receipts, indexes and metadata.
fn delete_block(txn: &mut WriteTxn, number: u64) -> Result<()> {
    let n = number.to_be_bytes();
    let header =
        txn.get_as(&HEADERS, &number)?.ok_or_else(|| corrupt("headers", number, "missing"))?;
    let txs: Vec<(Vec<u8>, Vec<u8>)> =
        txn.range(BLOCK_TXS, KeyRange::prefix(&n), false)?.collect::<Result<_, _>>()?;
    let mut log_index = 0u32;
    for (k, hash) in txs {
        let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt(BLOCK_TXS, number, "bad hash"))?;
        let idx = &k[8..];
        if let Some(stored) = txn.get_as(&TRANSACTIONS, &hash)? {
            txn.delete(TX_BY_SENDER, &key(&[stored.from.as_slice(), &n, idx]))?;
            if !stored.to.is_empty() {
                txn.delete(TX_BY_RECIPIENT, &key(&[&stored.to, &n, idx]))?;
            }
        }
        let receipt: Receipt = txn.get_as(&RECEIPTS, &hash)?.unwrap_or_default();
        for log in &receipt.logs {
            let at = log_index.to_be_bytes();
            txn.delete(LOGS_BY_ADDRESS, &key(&[log.address.as_slice(), &n, &at]))?;
            for (p, topic) in log.topics.iter().enumerate() {
                txn.delete(LOGS_BY_TOPIC, &key(&[&[p as u8], topic.as_slice(), &n, &at]))?;
            }
            log_index += 1;
        }
        txn.delete_as(&TRANSACTIONS, &hash)?;
        txn.delete_as(&RECEIPTS, &hash)?;
        txn.delete(BLOCK_TXS, &k)?;
    }
    for table in txn.tables()? {
        if table.starts_with(BLOCKMETA_PREFIX) {
            txn.delete(&table, &n)?;
        }
    }
    txn.delete_as(&BLOCK_NUMBERS, &header.hash.0)?;
    txn.delete_as(&HEADERS, &number)?;
    Ok(())
}
