//! Reverting blocks: [`ChainStore::unwind_to`].

use alloy_primitives::B256;
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::WriteTxn;
use chainstore_trie::{ChangeSet, state_root};

use crate::ChainStore;
use crate::Prunable;
use crate::apply::{NodesOf, delete_receipt_and_logs, delete_tx_index, write_trie};
use crate::cursors::View;
use crate::error::{ChainError, Result};
use crate::history::{self, Kind};
use crate::prune::pruned_through;
use crate::schema::*;

impl ChainStore {
    /// Reverts every block above `target` in one atomic, durable transaction: state (with the
    /// trie, recomputed for the reverted keys and checked against block `target`'s root),
    /// blocks, transactions, receipts, logs and every index. Afterwards block `target + 1` can
    /// be committed again.
    pub fn unwind_to(&self, target: u64) -> Result<()> {
        let mut cache = self.lock_writer();
        // Under the writer lock, the head state (the trie nodes before the rewrite below).
        let head_snapshot = self.db.begin_read();
        let mut txn = self.db.begin_write();
        let head = txn.get_as(&META, &HEAD_KEY.to_vec())?;
        let Some(head) = head else { return Err(ChainError::Empty) };
        if target > head {
            return Err(ChainError::UnwindAboveHead { target, head });
        }
        if target == head {
            return Ok(());
        }
        crate::at::check_history_window(&txn, target)?;
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
        write_trie(&mut txn, &mut NodesOf(&head_snapshot), &output, None)?;
        txn.put_as(&META, &HEAD_KEY.to_vec(), &target)?;
        // Receipts and transaction-index entries pruned above `target` went with their blocks:
        // the blocks committed next keep theirs.
        for what in [Prunable::Receipts, Prunable::TxIndex] {
            if pruned_through(&txn, what)?.is_some_and(|p| p > target) {
                txn.put_as(&META, &what.marker().to_vec(), &target)?;
            }
        }
        // The head changes in a way the cache does not follow: forget it (even if the commit
        // fails, it is only reloaded).
        cache.clear();
        txn.commit()?;
        metrics::gauge!("chainstore_chain_head_block").set(target as f64);
        metrics::counter!("chainstore_chain_unwound_blocks_total").increment(head - target);
        tracing::info!(target: "chainstore::chain", from = head, to = target, "unwound");
        Ok(())
    }
}

fn corrupt(table: &'static str, number: u64, detail: impl std::fmt::Display) -> ChainError {
    ChainError::Corrupt { table, detail: format!("block {number}: {detail}") }
}

/// Restores the accounts and slots block `number` changed, and forgets its history (the trie
/// nodes are recomputed afterwards).
fn revert_state(txn: &mut WriteTxn, number: u64, changes: &mut ChangeSet) -> Result<()> {
    for kind in Kind::ALL {
        let table = kind.history();
        for (key, before) in history::forget_block(txn, kind, number)? {
            let value = kind.before_value(&before).map_err(|d| corrupt(table, number, d))?;
            match kind {
                Kind::Account => {
                    let hashed = B256::from_slice(&key);
                    let exists_now = txn.get(HASHED_ACCOUNTS, &key)?.is_some();
                    match &value {
                        Some(account) => txn.put(HASHED_ACCOUNTS, &key, account)?,
                        None => {
                            txn.delete(HASHED_ACCOUNTS, &key)?;
                            txn.delete_as(&STORAGE_ROOTS, &hashed.0)?;
                        }
                    }
                    if value.is_some() != exists_now {
                        // Created or deleted by the block: rebuild its storage trie from the
                        // restored slots.
                        changes.wipe_hashed_storage(hashed);
                    }
                    changes.touch_hashed_account(hashed);
                }
                Kind::Storage => {
                    match &value {
                        Some(v) => txn.put(HASHED_STORAGE, &key, v)?,
                        None => txn.delete(HASHED_STORAGE, &key)?,
                    }
                    let (hashed, slot) = key.split_at(32);
                    changes.touch_hashed_slot(B256::from_slice(hashed), B256::from_slice(slot));
                }
                Kind::AccountNode | Kind::StorageNode => {}
            }
        }
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
        delete_tx_index(txn, number, &k[8..], &hash)?;
        delete_receipt_and_logs(txn, number, &hash, &mut log_index)?;
        txn.delete_as(&TRANSACTIONS, &hash)?;
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
