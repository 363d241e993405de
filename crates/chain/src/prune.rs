//! Retention: [`ChainStore::prune`] drops old state history, receipts and transaction-index
//! entries online, in bounded batches.
//!
//! Each kind has a marker in `meta`: the highest block pruned. A batch deletes whole blocks'
//! entries, oldest first, and moves the marker in the same transaction, so a crash leaves
//! either the batch done or not started; a rerun continues from the marker. Batches take the
//! store's writer lock only while they build and commit, so block commits go on in between.
//!
//! After pruning history through block `p`, the state (and proofs) as of `p` and every later
//! block remain: a key's value as of `h >= p` needs only changes of blocks above `h`.

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::WriteTxn;

use crate::ChainStore;
use crate::apply::{delete_receipt_and_logs, delete_tx_index};
use crate::cursors::Reader;
use crate::error::{Result, corrupt};
use crate::history::{self, Kind};
use crate::schema::*;

/// Operations (deletes and rewrites) per prune batch, about: large enough to amortize a commit,
/// small enough that a batch never holds the writer lock long or makes a huge log record.
pub const PRUNE_BATCH_OPS: usize = 20_000;

/// What to keep. `None` keeps everything of that kind (an archive node keeps all three).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the state history of the last `N` blocks: state, proofs and unwinds stay available
    /// for blocks `head - N ..= head`.
    pub history: Option<u64>,
    /// Keep the receipts (and log index entries) of the last `N` blocks.
    pub receipts: Option<u64>,
    /// Keep the sender/recipient transaction-index entries of the last `N` blocks.
    pub tx_index: Option<u64>,
}

/// Something that can be pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Changesets, history index and historical trie nodes.
    History,
    /// Receipts and the log indexes.
    Receipts,
    /// The sender/recipient transaction index.
    TxIndex,
}

impl Prunable {
    /// Every kind, in the order [`ChainStore::prune`] prunes them.
    pub const ALL: [Prunable; 3] = [Prunable::History, Prunable::Receipts, Prunable::TxIndex];

    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Prunable::History => "state history",
            Prunable::Receipts => "receipts",
            Prunable::TxIndex => "transaction index",
        }
    }

    pub(crate) fn marker(self) -> &'static [u8] {
        match self {
            Prunable::History => PRUNED_HISTORY_KEY,
            Prunable::Receipts => PRUNED_RECEIPTS_KEY,
            Prunable::TxIndex => PRUNED_TX_INDEX_KEY,
        }
    }

    fn keep(self, retention: &Retention) -> Option<u64> {
        match self {
            Prunable::History => retention.history,
            Prunable::Receipts => retention.receipts,
            Prunable::TxIndex => retention.tx_index,
        }
    }
}

/// Progress of [`ChainStore::prune`], reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneProgress {
    /// What is being pruned.
    pub what: Prunable,
    /// Blocks pruned so far in this call.
    pub done: u64,
    /// Blocks this call prunes in all.
    pub total: u64,
}

/// What [`ChainStore::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Per kind pruned: (kind, blocks pruned, entries deleted).
    pub pruned: Vec<(Prunable, u64, u64)>,
    /// Transactions committed.
    pub batches: u64,
}

/// Logical bytes (keys plus values) of the state history, by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistorySize {
    /// Account and storage changesets: per change, the block, the key and the value before
    /// it (the history rows).
    pub state_changesets: u64,
    /// What finds them by block: the per-block lists of changed accounts and slots.
    pub state_index: u64,
    /// Trie-node changesets: per change, the block, the path and the node before it.
    pub trie_changesets: u64,
    /// The per-block lists of changed trie nodes.
    pub trie_index: u64,
}

impl HistorySize {
    /// Everything.
    pub fn total(&self) -> u64 {
        self.state_changesets + self.state_index + self.trie_changesets + self.trie_index
    }
}

/// The highest block whose `what` entries are pruned.
pub(crate) fn pruned_through<R: Reader>(r: &R, what: Prunable) -> Result<Option<u64>> {
    meta_u64(r, what.marker())
}

/// A number stored in `meta`.
pub(crate) fn meta_u64<R: Reader>(r: &R, key: &[u8]) -> Result<Option<u64>> {
    r.get(META.name(), key)?
        .map(|v| <u64 as chainstore_engine::db::Codec>::decode(&v))
        .transpose()
        .map_err(|d| corrupt(META.name(), String::from_utf8_lossy(key), d))
}

/// The oldest block whose state is still available.
pub(crate) fn oldest_state<R: Reader>(r: &R) -> Result<u64> {
    Ok(pruned_through(r, Prunable::History)?.unwrap_or(0))
}

impl ChainStore {
    /// The oldest block whose `what` is available: state history as of that block, or the
    /// receipts / index entries of that block and later ones.
    pub fn oldest_available(&self, what: Prunable) -> Result<u64> {
        let r = self.db.begin_read();
        Ok(match (what, pruned_through(&r, what)?) {
            (Prunable::History, p) => p.unwrap_or(0),
            (_, Some(p)) => p + 1,
            (_, None) => 0,
        })
    }

    /// The size of the retained state history (a scan of its tables).
    pub fn history_size(&self) -> Result<HistorySize> {
        let r = self.db.begin_read();
        let bytes = |table: &str| -> Result<u64> {
            let mut total = 0u64;
            for pair in r.range(table, KeyRange::all(), false)? {
                let (k, v) = pair?;
                total += (k.len() + v.len()) as u64;
            }
            Ok(total)
        };
        let (mut size, kinds) = (HistorySize::default(), Kind::ALL);
        for kind in kinds {
            // The history rows are the raw changesets (block, key, value before); the change
            // lists are what finds them by block.
            let (changes, index) = (bytes(kind.history())?, bytes(kind.changes())?);
            if matches!(kind, Kind::Account | Kind::Storage) {
                size.state_changesets += changes;
                size.state_index += index;
            } else {
                size.trie_changesets += changes;
                size.trie_index += index;
            }
        }
        Ok(size)
    }

    /// Prunes what `retention` does not keep, oldest blocks first, in batches of about
    /// `batch_ops` operations (whole blocks; [`PRUNE_BATCH_OPS`] is a good size), each its own
    /// durable transaction; block commits can run alongside. `progress` is called after each
    /// batch. Safe to interrupt at any point and to run again.
    pub fn prune(
        &self,
        retention: &Retention,
        batch_ops: usize,
        progress: &mut dyn FnMut(&PruneProgress),
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        for what in Prunable::ALL {
            let Some(keep) = what.keep(retention) else { continue };
            let (start, target) = {
                let r = self.db.begin_read();
                let Some(head) = meta_u64(&r, HEAD_KEY)? else { return Ok(report) };
                let Some(target) = head.checked_sub(keep) else { continue };
                let start = pruned_through(&r, what)?.map_or(0, |p| p + 1);
                (start, target)
            };
            if start > target {
                continue;
            }
            let total = target - start + 1;
            let (mut next, mut entries) = (start, 0u64);
            while next <= target {
                let _writer = self.lock_writer();
                let mut txn = self.db.begin_write();
                let mut ops = 0usize;
                while next <= target && ops < batch_ops.max(1) {
                    ops += prune_block(&mut txn, what, next)?;
                    next += 1;
                }
                txn.put_as(&META, &what.marker().to_vec(), &(next - 1))?;
                txn.commit()?;
                entries += ops as u64;
                report.batches += 1;
                progress(&PruneProgress { what, done: next - start, total });
            }
            tracing::info!(target: "chainstore::chain", what = what.name(), through = target, entries, "pruned");
            report.pruned.push((what, total, entries));
        }
        Ok(report)
    }
}

/// Deletes block `number`'s entries of `what`; returns the operations written.
fn prune_block(txn: &mut WriteTxn, what: Prunable, number: u64) -> Result<usize> {
    let n = number.to_be_bytes();
    let mut ops = 0;
    match what {
        Prunable::History => {
            for kind in Kind::ALL {
                ops += 1 + history::forget_block(txn, kind, number)?.len();
            }
        }
        Prunable::Receipts | Prunable::TxIndex => {
            let txs: Vec<(Vec<u8>, Vec<u8>)> =
                txn.range(BLOCK_TXS, KeyRange::prefix(&n), false)?.collect::<Result<_, _>>()?;
            let mut log_index = 0u32;
            for (k, hash) in txs {
                let hash: [u8; 32] = hash.try_into().map_err(|_| {
                    corrupt(BLOCK_TXS, number, "transaction hash of a wrong length")
                })?;
                ops += if what == Prunable::Receipts {
                    delete_receipt_and_logs(txn, number, &hash, &mut log_index)?
                } else {
                    delete_tx_index(txn, number, &k[8..], &hash)?
                };
            }
        }
    }
    Ok(ops.max(1))
}
