//! State history: what every block changed, findable from either side.
//!
//! Four kinds of keys have history: accounts, storage slots, account-trie nodes and
//! storage-trie nodes. For each, a block writes
//!
//! - a **changeset** entry `number ‖ key → value before the block`, the unwind and prune paths
//!   read a whole block's changes from it; and
//! - a **history index** entry `key ‖ number → ()`: one row per change, so that a key's rows
//!   list the blocks that changed it in order. Recording a change is two writes and no read (a
//!   block list sharded per key would need a read-modify-write of its open shard per change).
//!
//! The value of a key as of block `n` (after `n` was applied) is the changeset value of the first
//! block above `n` that changed it, or the current value if none did: one index seek and one
//! point read, whatever the distance from the head ([`value_at`]).
//!
//! Node paths have variable length, so their index keys write each nibble plus one and end the
//! path with a zero byte: a path's rows stay together and index keys sort in path order, which
//! the historical trie cursors rely on.

use alloy_primitives::B256;
use chainstore_engine::backend::{KeyRange, prefix_successor};
use chainstore_engine::db::WriteTxn;
use std::ops::Bound;

use crate::cursors::Reader;
use crate::error::{ChainError, Result, corrupt};
use crate::schema::*;

/// A kind of key with history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `keccak(address)`.
    Account,
    /// `keccak(address) ‖ keccak(slot)`.
    Storage,
    /// A nibble path (one byte per nibble).
    AccountNode,
    /// `keccak(address) ‖` nibble path.
    StorageNode,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] =
        [Kind::Account, Kind::Storage, Kind::AccountNode, Kind::StorageNode];

    /// The changeset table.
    pub(crate) fn changes(self) -> &'static str {
        match self {
            Kind::Account => ACCOUNT_CHANGES,
            Kind::Storage => STORAGE_CHANGES,
            Kind::AccountNode => ACCOUNT_TRIE_CHANGES,
            Kind::StorageNode => STORAGE_TRIE_CHANGES,
        }
    }

    /// The history index table.
    pub(crate) fn index(self) -> &'static str {
        match self {
            Kind::Account => ACCOUNT_HISTORY,
            Kind::Storage => STORAGE_HISTORY,
            Kind::AccountNode => ACCOUNT_TRIE_HISTORY,
            Kind::StorageNode => STORAGE_TRIE_HISTORY,
        }
    }

    /// The table holding the current values.
    pub(crate) fn current(self) -> &'static str {
        match self {
            Kind::Account => HASHED_ACCOUNTS,
            Kind::Storage => HASHED_STORAGE,
            Kind::AccountNode => ACCOUNT_TRIE,
            Kind::StorageNode => STORAGE_TRIE,
        }
    }

    /// Bytes of the key before its nibble path (the whole key for accounts and slots).
    fn fixed(self) -> usize {
        match self {
            Kind::Account | Kind::StorageNode => 32,
            Kind::Storage => 64,
            Kind::AccountNode => 0,
        }
    }

    fn has_path(self) -> bool {
        matches!(self, Kind::AccountNode | Kind::StorageNode)
    }

    /// Whether `key` is well formed for this kind.
    pub(crate) fn valid_key(self, key: &[u8]) -> bool {
        if self.has_path() {
            key.len() >= self.fixed() && key[self.fixed()..].iter().all(|&b| b < 16)
        } else {
            key.len() == self.fixed()
        }
    }

    /// The index-key prefix of every shard of `key`.
    pub(crate) fn index_prefix(self, key: &[u8]) -> Vec<u8> {
        if !self.has_path() {
            return key.to_vec();
        }
        let (fixed, path) = key.split_at(self.fixed().min(key.len()));
        let mut out = Vec::with_capacity(key.len() + 1);
        out.extend_from_slice(fixed);
        out.extend(path.iter().map(|b| b + 1));
        out.push(0);
        out
    }

    /// The key and shard end of an index key.
    pub(crate) fn decode_index_key(self, ik: &[u8]) -> Option<(Vec<u8>, u64)> {
        let split = ik.len().checked_sub(8)?;
        let end = u64::from_be_bytes(ik[split..].try_into().ok()?);
        let prefix = &ik[..split];
        if !self.has_path() {
            return (prefix.len() == self.fixed()).then(|| (prefix.to_vec(), end));
        }
        let (fixed, path) = prefix.split_at_checked(self.fixed())?;
        let (&0, path) = path.split_last()? else { return None };
        if !path.iter().all(|&b| (1..=16).contains(&b)) {
            return None;
        }
        let mut key = fixed.to_vec();
        key.extend(path.iter().map(|b| b - 1));
        Some((key, end))
    }

    /// The current-table value a changeset value stands for (`None`: the key was absent).
    pub(crate) fn before_value(self, v: &[u8]) -> std::result::Result<Option<Vec<u8>>, String> {
        match self {
            Kind::Account => Ok(account_change(v)?.map(|(account, _)| account.to_vec())),
            Kind::Storage if v.len() == 32 => Ok(v.iter().any(|&b| b != 0).then(|| v.to_vec())),
            Kind::Storage => Err(format!("storage change of {} bytes", v.len())),
            Kind::AccountNode | Kind::StorageNode => match v.split_first() {
                Some((0, [])) => Ok(None),
                Some((1, node)) => Ok(Some(node.to_vec())),
                _ => Err(format!("node change of {} bytes", v.len())),
            },
        }
    }
}

/// The flat-state account bytes and the storage root of an account changeset value (`None`: the
/// account was absent).
pub(crate) fn account_change(v: &[u8]) -> std::result::Result<Option<(&[u8], B256)>, String> {
    match v.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) if rest.len() == 72 + 32 => {
            Ok(Some((&rest[..72], B256::from_slice(&rest[72..]))))
        }
        _ => Err(format!("account change of {} bytes", v.len())),
    }
}

/// The changeset key of `key` in block `number`.
pub(crate) fn change_key(number: u64, key: &[u8]) -> Vec<u8> {
    [&number.to_be_bytes()[..], key].concat()
}

/// The index key of `key`'s change in block `number`.
fn index_key(kind: Kind, key: &[u8], number: u64) -> Vec<u8> {
    let mut ik = kind.index_prefix(key);
    ik.extend_from_slice(&number.to_be_bytes());
    ik
}

fn malformed_index_key(kind: Kind, ik: &[u8]) -> ChainError {
    corrupt(kind.index(), alloy_primitives::hex::encode(ik), "malformed index key")
}

/// Records that block `number` changes `key`, whose value before the block is `before` (in the
/// changeset format). Called once per key and block: on the block's first write of the key.
pub(crate) fn record(
    txn: &mut WriteTxn,
    kind: Kind,
    number: u64,
    key: &[u8],
    before: &[u8],
) -> Result<()> {
    txn.put(kind.changes(), &change_key(number, key), before)?;
    txn.put(kind.index(), &index_key(kind, key, number), &[])?;
    Ok(())
}

/// Forgets that block `number` changed `key` (unwinding or pruning it).
pub(crate) fn forget(txn: &mut WriteTxn, kind: Kind, key: &[u8], number: u64) -> Result<()> {
    Ok(txn.delete(kind.index(), &index_key(kind, key, number))?)
}

/// The first block above `n` that changed `key`.
pub(crate) fn first_change_after<R: Reader>(
    r: &R,
    kind: Kind,
    key: &[u8],
    n: u64,
) -> Result<Option<u64>> {
    let Some(from) = n.checked_add(1) else { return Ok(None) };
    let range = KeyRange {
        start: Bound::Included(index_key(kind, key, from)),
        end: Bound::Included(index_key(kind, key, u64::MAX)),
    };
    let Some(pair) = r.range(kind.index(), range)?.next() else { return Ok(None) };
    let (ik, _) = pair?;
    match kind.decode_index_key(&ik) {
        Some((_, number)) => Ok(Some(number)),
        None => Err(malformed_index_key(kind, &ik)),
    }
}

/// Where the value of a key as of a block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum At {
    /// No later block changed it: the current value.
    Current,
    /// The changeset value of the first later block that changed it.
    Before(Vec<u8>),
}

/// Where the value of `key` as of block `n` is.
pub(crate) fn value_at<R: Reader>(r: &R, kind: Kind, key: &[u8], n: u64) -> Result<At> {
    let Some(m) = first_change_after(r, kind, key, n)? else { return Ok(At::Current) };
    match r.get(kind.changes(), &change_key(m, key))? {
        Some(v) => Ok(At::Before(v)),
        None => Err(corrupt(
            kind.changes(),
            alloy_primitives::hex::encode(key),
            format!("block {m} is in the history index but has no changeset entry"),
        )),
    }
}

/// The first key with history at or after (`Included`) or after (`Excluded`) `start`, among
/// the keys whose index keys start with `bound`.
pub(crate) fn next_indexed_key<R: Reader>(
    r: &R,
    kind: Kind,
    start: Bound<&Vec<u8>>,
    bound: &[u8],
) -> Result<Option<Vec<u8>>> {
    let start = match start {
        Bound::Included(k) => Bound::Included(kind.index_prefix(k)),
        // Past every row of the key.
        Bound::Excluded(k) => Bound::Excluded(index_key(kind, k, u64::MAX)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match prefix_successor(bound) {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    let Some(pair) = r.range(kind.index(), KeyRange { start, end })?.next() else {
        return Ok(None);
    };
    let (ik, _) = pair?;
    match kind.decode_index_key(&ik) {
        Some((k, _)) => Ok(Some(k)),
        None => Err(malformed_index_key(kind, &ik)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn node_index_keys_sort_in_path_order(
            a in proptest::collection::vec(0u8..16, 0..6),
            b in proptest::collection::vec(0u8..16, 0..6),
            ea in any::<u64>(),
            eb in any::<u64>(),
        ) {
            let ka = index_key(Kind::AccountNode, &a, ea);
            let kb = index_key(Kind::AccountNode, &b, eb);
            if a != b {
                prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            } else {
                prop_assert_eq!(ea.cmp(&eb), ka.cmp(&kb));
            }
            prop_assert_eq!(Kind::AccountNode.decode_index_key(&ka), Some((a, ea)));
        }
    }
}
