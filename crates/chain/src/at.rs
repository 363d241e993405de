//! State and proofs as of a retained block: [`ChainStore::account_at`],
//! [`ChainStore::storage_at`], [`ChainStore::code_at`] and [`ChainStore::proof_at`].
//!
//! Each key's value as of block `n` is one index seek and one point read away
//! ([`history::value_at`]). For proofs, [`AtView`] gives the trie the flat state *and* the
//! stored branch nodes as of `n` through the same lookups, so a historical proof walks the same
//! few paths a proof at the head walks, whatever the distance from the head.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_engine::backend::{KeyRange, prefix_successor};
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{
    AccountProof, ChangeSet, EMPTY_TRIE_ROOT, HashedCursorFactory, TrieCursorFactory, TrieError,
    account_proof_with_changes,
};
use std::ops::Bound;

use crate::ChainStore;
use crate::cursors::{Accounts, Nodes, Pair, RawCursor, Reader, Slots};
use crate::error::{ChainError, Result, corrupt};
use crate::history::{self, At, Kind};
use crate::prune::{meta_u64, oldest_state};
use crate::query::AccountInfo;
use crate::schema::*;

/// The trie's view of the state and the stored nodes as of block `n`.
pub(crate) struct AtView<'r, R> {
    pub(crate) reader: &'r R,
    pub(crate) n: u64,
}

/// Entries of a kind's keys that start with `prefix`, as of block `n`: the union of the current
/// keys and the keys with history, each with its value at `n`, skipping those absent at `n`.
pub(crate) struct AtCursor<'a, R> {
    reader: &'a R,
    kind: Kind,
    prefix: Vec<u8>,
    n: u64,
    /// The key (prefix included) last returned, for `next`.
    last: Option<Vec<u8>>,
}

impl<'a, R: Reader> AtCursor<'a, R> {
    pub(crate) fn new(reader: &'a R, kind: Kind, prefix: &[u8], n: u64) -> Self {
        Self { reader, kind, prefix: prefix.to_vec(), n, last: None }
    }

    fn first_current(&self, start: Bound<Vec<u8>>) -> Result<Option<Pair>> {
        let end = match prefix_successor(&self.prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let range = KeyRange { start, end };
        Ok(self.reader.range(self.kind.current(), range)?.next().transpose()?)
    }

    /// The first entry present at `n` with a key (prefix included) after `start`.
    fn seek_at(&mut self, mut start: Bound<Vec<u8>>) -> Result<Option<Pair>> {
        loop {
            let current = self.first_current(start.clone())?;
            let indexed =
                history::next_indexed_key(self.reader, self.kind, start.as_ref(), &self.prefix)?;
            let candidate = match (&current, indexed) {
                (None, None) => {
                    self.last = None;
                    return Ok(None);
                }
                (Some((k, _)), None) => k.clone(),
                (None, Some(i)) => i,
                (Some((k, _)), Some(i)) => k.clone().min(i),
            };
            let value = match history::value_at(self.reader, self.kind, &candidate, self.n)? {
                At::Current => current.filter(|(k, _)| *k == candidate).map(|(_, v)| v),
                At::Before(v) => self.kind.before_value(&v).map_err(|d| {
                    corrupt(self.kind.history(), alloy_primitives::hex::encode(&candidate), d)
                })?,
            };
            if let Some(v) = value {
                let suffix = candidate[self.prefix.len()..].to_vec();
                self.last = Some(candidate);
                return Ok(Some((suffix, v)));
            }
            // Absent at `n`: go on after it.
            start = Bound::Excluded(candidate);
        }
    }
}

impl<R: Reader> RawCursor for AtCursor<'_, R> {
    fn seek_raw(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError> {
        let start = Bound::Included([self.prefix.as_slice(), suffix].concat());
        self.seek_at(start).map_err(TrieError::cursor)
    }

    fn next_raw(&mut self) -> Result<Option<Pair>, TrieError> {
        let Some(last) = self.last.take() else { return Ok(None) };
        self.seek_at(Bound::Excluded(last)).map_err(TrieError::cursor)
    }
}

impl<R: Reader> TrieCursorFactory for AtView<'_, R> {
    type AccountCursor<'a>
        = Nodes<AtCursor<'a, R>>
    where
        Self: 'a;
    type StorageCursor<'a>
        = Nodes<AtCursor<'a, R>>
    where
        Self: 'a;

    fn account_trie_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(Nodes(AtCursor::new(self.reader, Kind::AccountNode, &[], self.n)))
    }

    fn storage_trie_cursor(&self, hashed: B256) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(Nodes(AtCursor::new(self.reader, Kind::StorageNode, hashed.as_slice(), self.n)))
    }
}

impl<R: Reader> HashedCursorFactory for AtView<'_, R> {
    type AccountCursor<'a>
        = Accounts<AtCursor<'a, R>>
    where
        Self: 'a;
    type StorageCursor<'a>
        = Slots<AtCursor<'a, R>>
    where
        Self: 'a;

    fn hashed_account_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(Accounts(AtCursor::new(self.reader, Kind::Account, &[], self.n)))
    }

    fn hashed_storage_cursor(&self, hashed: B256) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(Slots(AtCursor::new(self.reader, Kind::Storage, hashed.as_slice(), self.n)))
    }
}

/// Checks that the state as of block `n` is retained.
pub(crate) fn check_retained<R: Reader>(r: &R, n: u64) -> Result<()> {
    let head = meta_u64(r, HEAD_KEY)?.ok_or(ChainError::Empty)?;
    if n > head {
        return Err(ChainError::AboveHead { number: n, head });
    }
    check_history_window(r, n)
}

/// Checks that the history of block `n` and later blocks is not pruned.
pub(crate) fn check_history_window<R: Reader>(r: &R, n: u64) -> Result<()> {
    let oldest = oldest_state(r)?;
    if n < oldest {
        return Err(ChainError::Pruned {
            what: "state history",
            requested: n,
            oldest_available: oldest,
        });
    }
    Ok(())
}

/// The account with hash `hashed` as of block `n` (retention not checked).
pub(crate) fn account_at(r: &ReadTxn, hashed: B256, n: u64) -> Result<Option<AccountInfo>> {
    let (bytes, root) = match history::value_at(r, Kind::Account, hashed.as_slice(), n)? {
        At::Current => {
            let Some(bytes) = r.get(HASHED_ACCOUNTS, hashed.as_slice())? else { return Ok(None) };
            let root = r.get_as(&STORAGE_ROOTS, &hashed.0)?.map_or(EMPTY_TRIE_ROOT, B256::from);
            (bytes, root)
        }
        At::Before(v) => match history::account_change(&v) {
            Ok(Some((bytes, root))) => (bytes.to_vec(), root),
            Ok(None) => return Ok(None),
            Err(d) => return Err(corrupt(ACCOUNT_HISTORY, hashed, d)),
        },
    };
    let a = decode_account(&bytes).map_err(|d| corrupt(HASHED_ACCOUNTS, hashed, d))?;
    Ok(Some(AccountInfo::new(a, root)))
}

impl ChainStore {
    /// An account's state as of block `n` (after `n` was applied); `None` if it did not exist.
    /// Fails with [`ChainError::Pruned`] below the retained history.
    pub fn account_at(&self, address: Address, n: u64) -> Result<Option<AccountInfo>> {
        let r = self.db.begin_read();
        check_retained(&r, n)?;
        account_at(&r, keccak256(address), n)
    }

    /// A storage slot's value as of block `n` (zero if unset).
    pub fn storage_at(&self, address: Address, slot: B256, n: u64) -> Result<U256> {
        let r = self.db.begin_read();
        check_retained(&r, n)?;
        let k = key(&[keccak256(address).as_slice(), keccak256(slot).as_slice()]);
        let value = match history::value_at(&r, Kind::Storage, &k, n)? {
            At::Current => r.get(HASHED_STORAGE, &k)?,
            At::Before(v) => Some(v),
        };
        match value {
            Some(v) => decode_value(&v).map_err(|d| corrupt(HASHED_STORAGE, address, d)),
            None => Ok(U256::ZERO),
        }
    }

    /// An account's code as of block `n`: `None` if the account did not exist, empty for an
    /// account without code.
    pub fn code_at(&self, address: Address, n: u64) -> Result<Option<Bytes>> {
        let r = self.db.begin_read();
        check_retained(&r, n)?;
        let Some(account) = account_at(&r, keccak256(address), n)? else { return Ok(None) };
        if account.code_hash == alloy_primitives::KECCAK256_EMPTY {
            return Ok(Some(Bytes::new()));
        }
        match r.get_as(&CODE, &account.code_hash.0)? {
            Some(code) => Ok(Some(Bytes::from(code))),
            None => Err(corrupt(CODE.name(), account.code_hash, "code of an account is missing")),
        }
    }

    /// An EIP-1186 proof of `address` and `slots` against block `n`'s state root. Costs about
    /// what a proof at the head costs, whatever `n`'s distance from the head.
    pub fn proof_at(&self, address: Address, slots: &[B256], n: u64) -> Result<AccountProof> {
        let r = self.db.begin_read();
        check_retained(&r, n)?;
        let view = AtView { reader: &r, n };
        let (root, proof) =
            account_proof_with_changes(&view, &view, &ChangeSet::new(), address, slots)?;
        let header = r.get_as(&HEADERS, &n)?.ok_or_else(|| corrupt("headers", n, "missing"))?;
        if root != header.state_root {
            return Err(corrupt(
                "history",
                n,
                format!(
                    "the state as of the block hashes to {root}, its header says {}",
                    header.state_root
                ),
            ));
        }
        Ok(proof)
    }
}
