//! The revert-changesets approach to historical state, as other clients serve it: read the
//! changesets of every block from the head down to `n + 1` into an overlay over the current
//! state, then read through the overlay (and, for a proof, recompute the trie for every key the
//! overlay changes). Its cost grows with the distance from the head. chainstore answers with
//! [`ChainStore::account_at`] and [`ChainStore::proof_at`] instead; this module is the baseline
//! `chainstore bench history` measures them against, and a second, independent way to the same
//! answers for tests.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use alloy_primitives::{Address, B256, keccak256};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{
    AccountProof, ChangeSet, HashedCursorFactory, TrieError, account_proof_with_changes,
};

use crate::at::check_retained;
use crate::cursors::{Accounts, Pair, PrefixCursor, RawCursor, Slots, View};
use crate::error::{Result, corrupt};
use crate::history::{self, Kind, account_change};
use crate::query::AccountInfo;
use crate::schema::*;
use crate::{ChainError, ChainStore};

/// Key → changeset value of the oldest change above block `n`, for the keys changed above `n`.
type Overlay = BTreeMap<Vec<u8>, Vec<u8>>;
/// The same keys with their flat-state values as of `n` (`None`: absent).
type StateOverlay = Arc<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

/// The changes above block `n`: accounts by hashed address, slots by hashed address ‖ slot.
fn revert(r: &ReadTxn, n: u64) -> Result<(Overlay, Overlay)> {
    let start = n.checked_add(1).ok_or(ChainError::AboveHead { number: n, head: n })?;
    let read = |kind: Kind| -> Result<Overlay> {
        let range = KeyRange {
            start: Bound::Included(start.to_be_bytes().to_vec()),
            end: Bound::Unbounded,
        };
        let blocks: Vec<u64> = r
            .range(kind.changes(), range, true)?
            .map(|pair| {
                let (k, _) = pair?;
                let number: [u8; 8] =
                    k.as_slice().try_into().map_err(|_| corrupt(kind.changes(), n, "bad key"))?;
                Ok(u64::from_be_bytes(number))
            })
            .collect::<Result<_>>()?;
        // Newest block first, so the oldest change above `n` (the value at `n`) wins.
        let mut overlay = Overlay::new();
        for number in blocks {
            overlay.extend(history::block_changes(r, kind, number)?);
        }
        Ok(overlay)
    };
    Ok((read(Kind::Account)?, read(Kind::Storage)?))
}

/// An overlay of changeset values as flat-state values (`None`: absent at `n`).
fn as_state(kind: Kind, overlay: Overlay, n: u64) -> Result<StateOverlay> {
    let state = overlay
        .into_iter()
        .map(|(k, v)| Ok((k, kind.before_value(&v).map_err(|d| corrupt(kind.history(), n, d))?)))
        .collect::<Result<_>>()?;
    Ok(Arc::new(state))
}

/// [`ChainStore::account_at`], by reverting the changesets above `n`.
pub fn account_at(store: &ChainStore, address: Address, n: u64) -> Result<Option<AccountInfo>> {
    let r = store.db.begin_read();
    check_retained(&r, n)?;
    let (accounts, _) = revert(&r, n)?;
    let hashed = keccak256(address);
    let Some(v) = accounts.get(hashed.as_slice()) else { return store.account(address) };
    match account_change(v).map_err(|d| corrupt(ACCOUNT_HISTORY, hashed, d))? {
        Some((bytes, root)) => {
            let a = decode_account(bytes).map_err(|d| corrupt(ACCOUNT_HISTORY, hashed, d))?;
            Ok(Some(AccountInfo::new(a, root)))
        }
        None => Ok(None),
    }
}

/// [`ChainStore::proof_at`], by reverting the changesets above `n` and recomputing the trie for
/// every key they touch, over the current nodes.
pub fn proof_at(
    store: &ChainStore,
    address: Address,
    slots: &[B256],
    n: u64,
) -> Result<AccountProof> {
    let r = store.db.begin_read();
    check_retained(&r, n)?;
    let (accounts, storage) = revert(&r, n)?;
    let mut changes = ChangeSet::new();
    for (k, before) in &accounts {
        let hashed = B256::from_slice(k);
        changes.touch_hashed_account(hashed);
        let existed = before.as_slice() != [0];
        if existed != r.get(HASHED_ACCOUNTS, k)?.is_some() {
            // Created or deleted since `n`: its storage trie is rebuilt from the slots alone.
            changes.wipe_hashed_storage(hashed);
        }
    }
    for k in storage.keys() {
        changes.touch_hashed_slot(B256::from_slice(&k[..32]), B256::from_slice(&k[32..]));
    }
    let state = OverlayState {
        reader: &r,
        accounts: as_state(Kind::Account, accounts, n)?,
        storage: as_state(Kind::Storage, storage, n)?,
    };
    let (root, proof) = account_proof_with_changes(&View(&r), &state, &changes, address, slots)?;
    let header = r.get_as(&HEADERS, &n)?.ok_or_else(|| corrupt("headers", n, "missing"))?;
    if root != header.state_root {
        return Err(corrupt(
            "history",
            n,
            format!("reverted state hashes to {root}, the block says {}", header.state_root),
        ));
    }
    Ok(proof)
}

/// The flat state through an overlay.
struct OverlayState<'r> {
    reader: &'r ReadTxn,
    accounts: StateOverlay,
    storage: StateOverlay,
}

/// A raw cursor over the current entries of a table under a prefix, with the overlay's entries
/// (keys without the prefix) replacing them.
struct OverlayCursor<'a> {
    current: PrefixCursor<'a, ReadTxn>,
    overlay: StateOverlay,
    /// The overlay's keys are `prefix ‖ suffix`.
    prefix: Vec<u8>,
    last: Option<Vec<u8>>,
}

impl OverlayCursor<'_> {
    fn seek_from(&mut self, mut from: Vec<u8>) -> Result<Option<Pair>, TrieError> {
        loop {
            let current = self.current.seek_raw(&from)?;
            let full = [self.prefix.as_slice(), &from].concat();
            let over = self
                .overlay
                .range(full..)
                .take_while(|(k, _)| k.starts_with(&self.prefix))
                .next()
                .map(|(k, v)| (k[self.prefix.len()..].to_vec(), v.clone()));
            let (key, value) = match (current, over) {
                (None, None) => {
                    self.last = None;
                    return Ok(None);
                }
                // The overlay has no key at or before this current one: it is unchanged.
                (Some(c), None) => (c.0, Some(c.1)),
                (Some(c), Some(o)) if c.0 < o.0 => (c.0, Some(c.1)),
                (_, Some(o)) => o,
            };
            if let Some(value) = value {
                self.last = Some(key.clone());
                return Ok(Some((key, value)));
            }
            // Absent as of the block: the next key after it.
            from = key;
            from.push(0);
        }
    }
}

impl RawCursor for OverlayCursor<'_> {
    fn seek_raw(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError> {
        self.seek_from(suffix.to_vec())
    }

    fn next_raw(&mut self) -> Result<Option<Pair>, TrieError> {
        let Some(mut from) = self.last.take() else { return Ok(None) };
        from.push(0);
        self.seek_from(from)
    }
}

impl HashedCursorFactory for OverlayState<'_> {
    type AccountCursor<'a>
        = Accounts<OverlayCursor<'a>>
    where
        Self: 'a;
    type StorageCursor<'a>
        = Slots<OverlayCursor<'a>>
    where
        Self: 'a;

    fn hashed_account_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(Accounts(OverlayCursor {
            current: PrefixCursor::new(self.reader, HASHED_ACCOUNTS, &[]),
            overlay: self.accounts.clone(),
            prefix: Vec::new(),
            last: None,
        }))
    }

    fn hashed_storage_cursor(&self, hashed: B256) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(Slots(OverlayCursor {
            current: PrefixCursor::new(self.reader, HASHED_STORAGE, hashed.as_slice()),
            overlay: self.storage.clone(),
            prefix: hashed.to_vec(),
            last: None,
        }))
    }
}
