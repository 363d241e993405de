//! Importing a whole state into an empty store in one sorted pass: [`ChainStore::import_state`].
//!
//! The state comes as a stream of [`StateEntry`]s in key order (each account, then its slots),
//! as a snapshot or a sorted state dump holds it. Each account's storage trie is built from its
//! slots as they stream by, and the account trie from the accounts, with
//! [`chainstore_trie::TrieBuilder`]: nothing is read back. Rows are written in batches, each one
//! engine transaction that also records how far the import got, so an import that was stopped
//! (killed, or the machine lost power) resumes after the last batch that committed when it is
//! called again with the same block and the same stream. The store becomes usable (it gets a head)
//! only with the last batch, and only if the state root equals the expected one; otherwise
//! everything the import wrote is removed and the store is empty again.

use std::time::Instant;

use alloy_primitives::{B256, Bytes, KECCAK256_EMPTY, U256, hex, keccak256};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::{ReadTxn, WriteTxn};
use chainstore_trie::{
    Account, EMPTY_TRIE_ROOT, NodeUpdates, TrieBuilder, encode_node, encode_path,
};

use crate::cache::{HeadAccount, StateCache};
use crate::cursors::Reader;
use crate::error::{ChainError, Result};
use crate::prune::Prunable;
use crate::schema::*;
use crate::{ChainStore, CommitInfo, CommitTimings, Header};

/// One entry of a state to import, in ascending key order: an account, then its slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateEntry {
    /// An account, keyed by `keccak256(address)`, with its code if it has any.
    Account {
        /// `keccak256(address)`.
        hashed_address: B256,
        /// Nonce, balance and code hash.
        account: Account,
        /// The code, whose hash must be the account's code hash (`None`: no code, or code the
        /// store already holds).
        code: Option<Bytes>,
    },
    /// A storage slot of the account before it, keyed by `keccak256(slot)`; never zero.
    Slot {
        /// `keccak256(slot)`.
        hashed_slot: B256,
        /// The value.
        value: U256,
    },
}

/// The block an imported state is the state of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportBlock {
    /// Its number: the store's head after the import.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// Its timestamp.
    pub timestamp: u64,
    /// The state root it commits to: the import is accepted only if the state hashes to it.
    /// `None` accepts whatever the state hashes to.
    pub state_root: Option<B256>,
}

/// How far an import got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Accounts imported so far (in this call and, when resuming, before it).
    pub accounts: u64,
    /// Slots imported so far.
    pub slots: u64,
    /// Batches committed by this call.
    pub batches: u64,
}

/// Hands `state` to the caller's progress callback and to the metrics (`docs/metrics.md`).
fn report(progress: &mut dyn FnMut(&ImportProgress), state: &ImportProgress) {
    metrics::gauge!("chainstore_import_accounts").set(state.accounts as f64);
    metrics::gauge!("chainstore_import_slots").set(state.slots as f64);
    progress(state);
}

/// Rows per import batch: large enough to amortize a commit, small enough to bound memory.
pub const IMPORT_BATCH_ROWS: usize = 100_000;

/// Where an import in progress stands, kept in `meta` under [`IMPORT_KEY`]: the block's number
/// and hash, the last account imported whole, and the counts so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    number: u64,
    hash: B256,
    last: Option<B256>,
    accounts: u64,
    slots: u64,
}

impl Marker {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 + 33 + 16);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(self.hash.as_slice());
        match self.last {
            Some(l) => {
                out.push(1);
                out.extend_from_slice(l.as_slice());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.accounts.to_be_bytes());
        out.extend_from_slice(&self.slots.to_be_bytes());
        out
    }

    pub(crate) fn decode(b: &[u8]) -> std::result::Result<Self, String> {
        let bad = || format!("import marker of {} bytes", b.len());
        let number = u64::from_be_bytes(b.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let hash = B256::from_slice(b.get(8..40).ok_or_else(bad)?);
        let (last, rest) = match b.get(40) {
            Some(1) => (Some(B256::from_slice(b.get(41..73).ok_or_else(bad)?)), b.get(73..)),
            Some(0) => (None, b.get(41..)),
            _ => return Err(bad()),
        };
        let rest = rest.filter(|r| r.len() == 16).ok_or_else(bad)?;
        let accounts = u64::from_be_bytes(rest[..8].try_into().map_err(|_| bad())?);
        let slots = u64::from_be_bytes(rest[8..].try_into().map_err(|_| bad())?);
        Ok(Self { number, hash, last, accounts, slots })
    }
}

fn bad_input(detail: impl Into<String>) -> ChainError {
    ChainError::BadImport(detail.into())
}

/// The import of one account whose slots are still streaming in.
struct Pending {
    hashed: B256,
    account: Account,
    storage: TrieBuilder,
    slots: u64,
    /// The slots, while the state still fits the cache.
    kept: Vec<(B256, U256)>,
}

/// What of an import goes into the cache: a prefix of the state, as long as it fits.
#[derive(Default)]
struct Warm {
    accounts: Vec<(B256, HeadAccount)>,
    storage: Vec<(B256, Vec<(B256, U256)>)>,
    bytes: u64,
    /// Set once the state stopped fitting: the first account not kept.
    full_at: Option<B256>,
    /// The account trie's nodes written so far, while the state fits (the cache holds all of
    /// the account trie's nodes or none: with none, it loads them when a block needs them).
    account_nodes: NodeUpdates,
}

impl Warm {
    fn keep_nodes(&mut self, nodes: NodeUpdates) {
        match self.full_at {
            None => self.account_nodes.extend(nodes),
            Some(_) => self.account_nodes.clear(),
        }
    }
}

impl ChainStore {
    /// Imports `entries` (a whole state in ascending key order: each account, then its slots)
    /// into an empty store as the state of `block`, which becomes the head. The tries are built
    /// in the same pass. Called again after it was stopped, with the same block and stream, it
    /// resumes where the last committed batch ended. If the state does not hash to
    /// `block.state_root`, nothing of it remains and the store is empty again.
    pub fn import_state(
        &self,
        block: &ImportBlock,
        entries: &mut dyn Iterator<Item = Result<StateEntry>>,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<CommitInfo> {
        self.import_state_in_batches(block, entries, IMPORT_BATCH_ROWS, progress)
    }

    /// [`import_state`](Self::import_state) committing a batch about every `batch_rows` rows
    /// (whole accounts; [`IMPORT_BATCH_ROWS`] is a good size).
    pub fn import_state_in_batches(
        &self,
        block: &ImportBlock,
        entries: &mut dyn Iterator<Item = Result<StateEntry>>,
        batch_rows: usize,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<CommitInfo> {
        let started = Instant::now();
        let mut cache = self.lock_writer();
        cache.clear();
        let marker = self.import_start(block)?;
        let mut accounts = self.resume_account_trie(&marker)?;
        let mut state =
            ImportProgress { accounts: marker.accounts, slots: marker.slots, batches: 0 };
        let mut marker = marker;
        let mut txn = self.db.begin_write();
        let mut rows = 0usize;
        let mut pending: Option<Pending> = None;
        let resume_after = marker.last;
        // A fresh import leaves the state in the cache, as much as fits in half its budget.
        let mut warm = resume_after.is_none().then(Warm::default);
        let mut skipping = false;
        for entry in entries {
            match entry? {
                StateEntry::Account { hashed_address, account, code } => {
                    if resume_after.is_some_and(|last| hashed_address <= last) {
                        skipping = true;
                        continue;
                    }
                    skipping = false;
                    if let Some(p) = pending.take() {
                        marker.last = Some(p.hashed);
                        let warm = (&mut warm, &*cache);
                        rows += finish_account(&mut txn, &mut accounts, p, &mut state, warm)?;
                    }
                    if rows >= batch_rows.max(1) {
                        // The account trie's completed nodes go with the batch: held to the
                        // end, 10M accounts' nodes made one transaction of 124 MB.
                        let done = accounts.take_nodes();
                        write_nodes(&mut txn, None, &done)?;
                        if let Some(w) = warm.as_mut() {
                            w.keep_nodes(done);
                        }
                        self.commit_batch(txn, &mut marker, &state)?;
                        state.batches += 1;
                        report(progress, &state);
                        txn = self.db.begin_write();
                        rows = 0;
                    }
                    rows += write_account(&mut txn, hashed_address, &account, code)?;
                    pending = Some(Pending {
                        hashed: hashed_address,
                        account,
                        storage: TrieBuilder::new(),
                        slots: 0,
                        kept: Vec::new(),
                    });
                }
                StateEntry::Slot { hashed_slot, value } => {
                    if skipping {
                        continue;
                    }
                    let Some(p) = pending.as_mut() else {
                        return Err(bad_input(format!("slot {hashed_slot} before any account")));
                    };
                    if value.is_zero() {
                        return Err(bad_input(format!(
                            "slot {hashed_slot} of account {} is zero (a zero slot is absent)",
                            p.hashed
                        )));
                    }
                    p.storage.add_slot(hashed_slot, value)?;
                    if warm.as_ref().is_some_and(|w| w.full_at.is_none()) {
                        p.kept.push((hashed_slot, value));
                    }
                    let key = [p.hashed.as_slice(), hashed_slot.as_slice()].concat();
                    txn.put(HASHED_STORAGE, &key, &value.to_be_bytes::<32>())?;
                    p.slots += 1;
                    rows += 1;
                }
            }
        }
        if let Some(p) = pending.take() {
            finish_account(&mut txn, &mut accounts, p, &mut state, (&mut warm, &*cache))?;
        }
        let (root, nodes) = accounts.finish();
        if let Some(expected) = block.state_root.filter(|e| *e != root) {
            drop(txn);
            self.remove_import()?;
            return Err(ChainError::StateRootMismatch {
                number: block.number,
                expected,
                computed: root,
            });
        }
        write_nodes(&mut txn, None, &nodes)?;
        let header = Header {
            number: block.number,
            hash: block.hash,
            parent_hash: block.parent_hash,
            timestamp: block.timestamp,
            state_root: root,
            transaction_count: 0,
            log_count: 0,
        };
        txn.put_as(&HEADERS, &block.number, &header)?;
        txn.put_as(&BLOCK_NUMBERS, &block.hash.0, &block.number)?;
        txn.put_as(&META, &HEAD_KEY.to_vec(), &block.number)?;
        if block.number > 0 {
            // Nothing before the imported block is here: its state is the oldest there is.
            txn.put_as(&META, &FIRST_BLOCK_KEY.to_vec(), &block.number)?;
            txn.put_as(&META, &PRUNED_HISTORY_KEY.to_vec(), &block.number)?;
            for what in [Prunable::Receipts, Prunable::TxIndex] {
                txn.put_as(&META, &what.marker().to_vec(), &(block.number - 1))?;
            }
        }
        txn.delete(META.name(), IMPORT_KEY)?;
        txn.commit()?;
        if let Some(mut w) = warm {
            w.keep_nodes(nodes);
            let account_nodes = w
                .full_at
                .is_none()
                .then(|| w.account_nodes.into_iter().filter_map(|(p, n)| Some((p, n?))).collect());
            cache.fill_imported(w.accounts, w.full_at, w.storage, account_nodes);
        }
        state.batches += 1;
        report(progress, &state);
        metrics::gauge!("chainstore_chain_head_block").set(block.number as f64);
        tracing::info!(target: "chainstore::chain", number = block.number, accounts = state.accounts,
                       slots = state.slots, "state imported");
        let timings = CommitTimings { apply: started.elapsed(), ..CommitTimings::default() };
        Ok(CommitInfo { number: block.number, hash: block.hash, state_root: root, timings })
    }

    /// Checks that the store is empty (or holds an import of the same block in progress) and
    /// returns where the import stands.
    fn import_start(&self, block: &ImportBlock) -> Result<Marker> {
        let r = self.db.begin_read();
        if let Some(head) = r.get_as(&META, &HEAD_KEY.to_vec())? {
            return Err(ChainError::NotEmpty { head });
        }
        match import_marker(&r)? {
            Some(m) if m.number == block.number && m.hash == block.hash => Ok(m),
            Some(m) => Err(bad_input(format!(
                "an import of block {} ({}) is in progress; resume it, or start again in an \
                 empty directory",
                m.number, m.hash
            ))),
            None => {
                let nothing = Marker {
                    number: block.number,
                    hash: block.hash,
                    last: None,
                    accounts: 0,
                    slots: 0,
                };
                let mut txn = self.db.begin_write();
                txn.put(META.name(), IMPORT_KEY, &nothing.encode())?;
                txn.commit()?;
                Ok(nothing)
            }
        }
    }

    /// The account trie as far as a stopped import got: the imported accounts, read back in key
    /// order with their storage roots.
    fn resume_account_trie(&self, marker: &Marker) -> Result<TrieBuilder> {
        let mut builder = TrieBuilder::new();
        let Some(last) = marker.last else { return Ok(builder) };
        let r = self.db.begin_read();
        let range = KeyRange {
            start: std::ops::Bound::Unbounded,
            end: std::ops::Bound::Included(last.to_vec()),
        };
        for pair in r.range(HASHED_ACCOUNTS, range, false)? {
            let (k, v) = pair?;
            let hashed = B256::try_from(k.as_slice()).map_err(|_| {
                crate::error::corrupt(HASHED_ACCOUNTS, hex::encode(&k), "key of the wrong length")
            })?;
            let account = decode_account(&v)
                .map_err(|d| crate::error::corrupt(HASHED_ACCOUNTS, hashed, d))?;
            let root = r.get_as(&STORAGE_ROOTS, &hashed.0)?.map_or(EMPTY_TRIE_ROOT, B256::from);
            builder.add_account(hashed, &account, root)?;
        }
        Ok(builder)
    }

    /// Commits a batch with the marker of how far it got.
    fn commit_batch(
        &self,
        mut txn: WriteTxn,
        marker: &mut Marker,
        state: &ImportProgress,
    ) -> Result<()> {
        marker.accounts = state.accounts;
        marker.slots = state.slots;
        txn.put(META.name(), IMPORT_KEY, &marker.encode())?;
        txn.set_durability(chainstore_engine::wal::Durability::Buffered);
        txn.commit()?;
        Ok(())
    }

    /// Removes everything an import wrote (its root did not match).
    pub(crate) fn remove_import(&self) -> Result<()> {
        let tables = [
            HASHED_ACCOUNTS,
            HASHED_STORAGE,
            STORAGE_ROOTS.name(),
            CODE.name(),
            ACCOUNT_TRIE,
            STORAGE_TRIE,
        ];
        for table in tables {
            loop {
                let keys: Vec<Vec<u8>> = r_keys(&self.db.begin_read(), table, IMPORT_BATCH_ROWS)?;
                if keys.is_empty() {
                    break;
                }
                let mut txn = self.db.begin_write();
                for k in keys {
                    txn.delete(table, &k)?;
                }
                txn.commit()?;
            }
        }
        let mut txn = self.db.begin_write();
        txn.delete(META.name(), IMPORT_KEY)?;
        txn.commit()?;
        Ok(())
    }
}

fn r_keys(r: &ReadTxn, table: &str, limit: usize) -> Result<Vec<Vec<u8>>> {
    r.range(table, KeyRange::all(), false)?.take(limit).map(|p| Ok(p?.0)).collect()
}

fn import_marker<R: Reader>(r: &R) -> Result<Option<Marker>> {
    r.get(META.name(), IMPORT_KEY)?
        .map(|v| Marker::decode(&v).map_err(|d| crate::error::corrupt("meta", "import", d)))
        .transpose()
}

/// Writes an account's row (and its code).
fn write_account(
    txn: &mut WriteTxn,
    hashed: B256,
    account: &Account,
    code: Option<Bytes>,
) -> Result<usize> {
    txn.put(HASHED_ACCOUNTS, hashed.as_slice(), &encode_account(account))?;
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Ok(1);
    };
    if account.code_hash == KECCAK256_EMPTY || keccak256(&code) != account.code_hash {
        return Err(bad_input(format!(
            "account {hashed}: its code hashes to {}, the account says {}",
            keccak256(&code),
            account.code_hash
        )));
    }
    txn.put_as(&CODE, &account.code_hash.0, &code.to_vec())?;
    Ok(2)
}

/// Finishes an account whose slots have all streamed by: its storage trie's nodes and root, and
/// its leaf in the account trie. Returns the rows written.
fn finish_account(
    txn: &mut WriteTxn,
    accounts: &mut TrieBuilder,
    p: Pending,
    state: &mut ImportProgress,
    (warm, cache): (&mut Option<Warm>, &StateCache),
) -> Result<usize> {
    let (root, nodes) = p.storage.finish();
    if let Some(w) = warm.as_mut().filter(|w| w.full_at.is_none()) {
        let cost = StateCache::account_cost(p.kept.len());
        if cache.has_room((w.bytes + cost) * 2) {
            w.bytes += cost;
            w.accounts.push((p.hashed, HeadAccount { account: p.account, storage_root: root }));
            if p.slots > 0 {
                w.storage.push((p.hashed, p.kept));
            }
        } else {
            w.full_at = Some(p.hashed);
        }
    }
    let mut rows = write_nodes(txn, Some(p.hashed), &nodes)?;
    if root != EMPTY_TRIE_ROOT {
        txn.put_as(&STORAGE_ROOTS, &p.hashed.0, &root.0)?;
        rows += 1;
    }
    accounts.add_account(p.hashed, &p.account, root)?;
    state.accounts += 1;
    state.slots += p.slots;
    Ok(rows)
}

/// Writes a trie's nodes (of the account trie, or of `owner`'s storage trie).
fn write_nodes(txn: &mut WriteTxn, owner: Option<B256>, nodes: &NodeUpdates) -> Result<usize> {
    for (path, node) in nodes {
        let Some(node) = node else { continue };
        match owner {
            None => txn.put(ACCOUNT_TRIE, &encode_path(path), &encode_node(node))?,
            Some(o) => {
                let key = [o.as_slice(), &encode_path(path)].concat();
                txn.put(STORAGE_TRIE, &key, &encode_node(node))?
            }
        }
    }
    Ok(nodes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for last in [None, Some(B256::repeat_byte(7))] {
            let m = Marker { number: 9, hash: B256::repeat_byte(1), last, accounts: 5, slots: 6 };
            assert_eq!(Marker::decode(&m.encode()), Ok(m));
            assert!(Marker::decode(&m.encode()[1..]).is_err());
        }
    }
}
