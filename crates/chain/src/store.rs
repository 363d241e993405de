//! [`ChainStore`]: committing blocks.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use alloy_primitives::B256;
use chainstore_engine::db::{Database, Options, ReadTxn, WriteTxn};
use chainstore_trie::{StateRootOutput, state_root};

use crate::apply::{Applied, Head, apply_state, check_new, write_block, write_trie};
use crate::cache::{CacheStats, StateCache};
use crate::error::{ChainError, Result};
use crate::history::BlockHistory;
use crate::overlay::{AfterBlock, Overlay};
use crate::schema::{HEAD_KEY, HEADERS, META};
use crate::{BlockCommit, CommitInfo, CommitTimings, Header};

/// The chain store: blocks, transactions, receipts, logs and state with incremental roots, on
/// the transactional engine. Every block is one engine transaction: durable when
/// [`commit_block`](Self::commit_block) returns, visible to every query at once.
#[derive(Debug)]
pub struct ChainStore {
    pub(crate) db: Database,
    /// Held while a block commit, an unwind or a prune batch builds and commits its
    /// transaction, so that they never conflict with each other; it owns the cache of the head
    /// state, which only writers read and change.
    pub(crate) writer: Mutex<StateCache>,
}

/// A block ready to commit: its transaction, and what the cache applies once it committed.
struct Prepared {
    txn: WriteTxn,
    header: Header,
    timings: CommitTimings,
    overlay: Overlay,
    output: StateRootOutput,
}

impl ChainStore {
    /// Opens (creating if needed) a chain store in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let cache = StateCache::new(options.cache_bytes as u64);
        Ok(Self { db: Database::open(path, options)?, writer: Mutex::new(cache) })
    }

    /// Opens an existing chain store for queries only ([`Database::open_read_only`]): every
    /// acknowledged block is visible, nothing is written, and on a store whose indexer caught up
    /// almost none of the commit log is read. Commits, unwinds and prunes fail.
    pub fn open_read_only(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        // The cache serves writers only.
        let cache = StateCache::new(0);
        Ok(Self { db: Database::open_read_only(path, options)?, writer: Mutex::new(cache) })
    }

    /// Takes the writer lock (and with it the state cache).
    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, StateCache> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters of the head-state cache (bytes, hits, misses, evictions).
    pub fn cache_stats(&self) -> CacheStats {
        self.lock_writer().stats()
    }

    /// The engine underneath (for stats, flush, and a node's own tables).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Closes the store after indexing everything.
    pub fn close(self) -> Result<()> {
        Ok(self.db.close()?)
    }

    /// The head block's header, or `None` on an empty store.
    pub fn head(&self) -> Result<Option<Header>> {
        head_in(&self.db.begin_read())
    }

    /// Validates and commits one block atomically and durably: the state diff, the new state
    /// root (computed incrementally), the block's data and indexes. On any error nothing is
    /// changed.
    pub fn commit_block(&self, block: &BlockCommit) -> Result<CommitInfo> {
        let started = Instant::now();
        let mut cache = self.lock_writer();
        let Prepared { txn, header, mut timings, overlay, output } =
            self.prepare(&mut cache, block)?;
        let commit_started = Instant::now();
        txn.commit()?;
        cache.apply(&overlay, &output);
        timings.commit = commit_started.elapsed();
        metrics::histogram!("chainstore_chain_commit_seconds").record(started.elapsed());
        metrics::histogram!("chainstore_chain_state_root_seconds").record(timings.root);
        metrics::counter!("chainstore_chain_blocks_total").increment(1);
        metrics::counter!("chainstore_chain_state_updates_total").increment(block.state_updates());
        metrics::gauge!("chainstore_chain_head_block").set(header.number as f64);
        Ok(CommitInfo {
            number: header.number,
            hash: header.hash,
            state_root: header.state_root,
            timings,
        })
    }

    /// The state root `block` would produce, without committing anything (for block builders).
    /// The block is validated as [`commit_block`](Self::commit_block) would.
    pub fn compute_state_root(&self, block: &BlockCommit) -> Result<B256> {
        let mut cache = self.lock_writer();
        Ok(self.prepare(&mut cache, block)?.header.state_root)
    }

    /// Builds the block's transaction, ready to commit.
    fn prepare(&self, cache: &mut StateCache, block: &BlockCommit) -> Result<Prepared> {
        let started = Instant::now();
        cache.begin_block();
        // Under the writer lock this snapshot holds the head state, as the transaction's does.
        let reader = self.db.begin_read();
        let mut txn = self.db.begin_write();
        let head = match txn.get_as(&META, &HEAD_KEY.to_vec())? {
            Some(n) => txn.get_as(&HEADERS, &n)?,
            None => None,
        };
        validate(block, head.as_ref())?;
        check_new(&txn, block)?;
        let mut applied =
            Applied { overlay: Overlay::default(), history: BlockHistory::new(block.number) };
        let mut head = Head { cache, reader: &reader };
        let changes = apply_state(&mut txn, &mut head, &mut applied, &block.state)?;
        let Applied { overlay, mut history } = applied;
        let apply = started.elapsed();
        let root_started = Instant::now();
        let view = AfterBlock { cache: Mutex::new(head.cache), reader: &reader, overlay: &overlay };
        let output = state_root(&view, &view, &changes)?;
        let cache = view.cache.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut head = Head { cache, reader: &reader };
        let root = root_started.elapsed();
        if let Some(expected) = block.expected_state_root
            && expected != output.root
        {
            return Err(ChainError::StateRootMismatch {
                number: block.number,
                expected,
                computed: output.root,
            });
        }
        let write_started = Instant::now();
        write_trie(&mut txn, &mut head, &output, Some(&mut history))?;
        history.finish(&mut txn)?;
        let header = write_block(&mut txn, block, output.root)?;
        let apply = apply + write_started.elapsed();
        let timings = CommitTimings { apply, root, commit: Default::default() };
        Ok(Prepared { txn, header, timings, overlay, output })
    }
}

/// Checks that `block` can follow `head`.
fn validate(block: &BlockCommit, head: Option<&Header>) -> Result<()> {
    let number = block.number;
    let expected = head.map_or(0, |h| h.number + 1);
    if number != expected {
        let head = head.map_or("none (empty store)".to_string(), |h| h.number.to_string());
        return Err(ChainError::WrongNumber { number, expected, head });
    }
    if let Some(h) = head
        && block.parent_hash != h.hash
    {
        return Err(ChainError::WrongParent {
            number,
            head: h.number,
            expected: h.hash,
            got: block.parent_hash,
        });
    }
    let (txs, receipts) = (block.transactions.len(), block.receipts.len());
    if receipts != 0 && receipts != txs {
        return Err(ChainError::ReceiptMismatch {
            number,
            detail: format!(
                "{receipts} receipts for {txs} transactions (give one per transaction, or none)"
            ),
        });
    }
    for (i, (tx, receipt)) in block.transactions.iter().zip(&block.receipts).enumerate() {
        if tx.hash != receipt.transaction_hash {
            return Err(ChainError::ReceiptMismatch {
                number,
                detail: format!(
                    "receipts[{i}].transactionHash is {}, but transactions[{i}].hash is {}",
                    receipt.transaction_hash, tx.hash
                ),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for tx in &block.transactions {
        if !seen.insert(tx.hash) {
            return Err(ChainError::DuplicateTransaction { number, hash: tx.hash });
        }
    }
    Ok(())
}

/// The head block as `r` sees it.
pub(crate) fn head_in(r: &ReadTxn) -> Result<Option<Header>> {
    let Some(number) = r.get_as(&META, &HEAD_KEY.to_vec())? else { return Ok(None) };
    match r.get_as(&HEADERS, &number)? {
        Some(h) => Ok(Some(h)),
        None => Err(ChainError::Corrupt {
            table: "headers",
            detail: format!("the head block {number} is missing"),
        }),
    }
}
