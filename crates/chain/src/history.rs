//! State history: what every block changed, findable from either side.
//!
//! Four kinds of keys have history: accounts, storage slots, account-trie nodes and
//! storage-trie nodes. For each, a block writes
//!
//! - a **history row** per key it changes: `key ‖ number → value before the block`. A key's rows
//!   list the blocks that changed it in order, each with the value the block replaced; and
//! - one **change list** per block: `number → the keys it changed`, from which unwinding and
//!   pruning find a block's rows.
//!
//! Recording a change is one write and no read. The value of a key as of block `n` (after `n`
//! was applied) is the value in the key's first row after `n`, or the current value if there is
//! none: one seek, whatever the distance from the head ([`value_at`]).
//!
//! Node paths have variable length, so their history keys write each nibble plus one and end the
//! path with a zero byte: a path's rows stay together and history keys sort in path order, which
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

    /// The table of change lists (`number → keys`).
    pub(crate) fn changes(self) -> &'static str {
        match self {
            Kind::Account => ACCOUNT_CHANGES,
            Kind::Storage => STORAGE_CHANGES,
            Kind::AccountNode => ACCOUNT_TRIE_CHANGES,
            Kind::StorageNode => STORAGE_TRIE_CHANGES,
        }
    }

    /// The table of history rows (`key ‖ number → value before`).
    pub(crate) fn history(self) -> &'static str {
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

/// The history key of `key`'s change in block `number`.
pub(crate) fn history_key(kind: Kind, key: &[u8], number: u64) -> Vec<u8> {
    let mut hk = kind.index_prefix(key);
    hk.extend_from_slice(&number.to_be_bytes());
    hk
}

fn malformed(table: &'static str, key: &[u8], detail: impl std::fmt::Display) -> ChainError {
    corrupt(table, alloy_primitives::hex::encode(key), detail)
}

/// The history a block writes, gathered as it is applied.
#[derive(Debug)]
pub(crate) struct BlockHistory {
    number: u64,
    /// Per kind, the change list: each key as a length byte and the key.
    lists: [Vec<u8>; 4],
}

impl BlockHistory {
    pub(crate) fn new(number: u64) -> Self {
        Self { number, lists: Default::default() }
    }

    /// Records that the block changes `key`, whose value before it is `before` (in the
    /// changeset format). Called once per key and block: on the block's first write of it.
    pub(crate) fn record(
        &mut self,
        txn: &mut WriteTxn,
        kind: Kind,
        key: &[u8],
        before: &[u8],
    ) -> Result<()> {
        txn.put(kind.history(), &history_key(kind, key, self.number), before)?;
        let list = &mut self.lists[kind as usize];
        list.push(key.len() as u8);
        list.extend_from_slice(key);
        Ok(())
    }

    /// Writes the block's change lists.
    pub(crate) fn finish(self, txn: &mut WriteTxn) -> Result<()> {
        for (kind, list) in Kind::ALL.into_iter().zip(&self.lists) {
            if !list.is_empty() {
                txn.put(kind.changes(), &self.number.to_be_bytes(), list)?;
            }
        }
        Ok(())
    }
}

/// Decodes a change list into its keys.
pub(crate) fn decode_change_list(
    kind: Kind,
    mut bytes: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut keys = Vec::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let Some((key, rest)) = rest.split_at_checked(len as usize) else {
            return Err(format!("change list cut inside key {}", keys.len()));
        };
        if !kind.valid_key(key) {
            return Err(format!("key {} of the change list is malformed", keys.len()));
        }
        keys.push(key.to_vec());
        bytes = rest;
    }
    Ok(keys)
}

/// The keys block `number` changed, each with its value before the block, in the order the
/// block recorded them.
pub(crate) fn block_changes<R: Reader>(
    r: &R,
    kind: Kind,
    number: u64,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = number.to_be_bytes();
    let Some(list) = r.get(kind.changes(), &n)? else { return Ok(Vec::new()) };
    let keys = decode_change_list(kind, &list).map_err(|d| malformed(kind.changes(), &n, d))?;
    keys.into_iter()
        .map(|key| match r.get(kind.history(), &history_key(kind, &key, number))? {
            Some(before) => Ok((key, before)),
            None => Err(malformed(
                kind.history(),
                &key,
                format!("block {number} lists the key but has no history row for it"),
            )),
        })
        .collect()
}

/// Deletes block `number`'s history of `kind` (unwinding or pruning the block); returns the
/// keys with their values before the block.
pub(crate) fn forget_block(
    txn: &mut WriteTxn,
    kind: Kind,
    number: u64,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let changes = block_changes(txn, kind, number)?;
    for (key, _) in &changes {
        txn.delete(kind.history(), &history_key(kind, key, number))?;
    }
    txn.delete(kind.changes(), &number.to_be_bytes())?;
    Ok(changes)
}

/// Where the value of a key as of a block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum At {
    /// No later block changed it: the current value.
    Current,
    /// The value before the first later block that changed it (changeset format).
    Before(Vec<u8>),
}

/// Where the value of `key` as of block `n` is: its first history row after `n`.
pub(crate) fn value_at<R: Reader>(r: &R, kind: Kind, key: &[u8], n: u64) -> Result<At> {
    let Some(from) = n.checked_add(1) else { return Ok(At::Current) };
    let range = KeyRange {
        start: Bound::Included(history_key(kind, key, from)),
        end: Bound::Included(history_key(kind, key, u64::MAX)),
    };
    match r.range(kind.history(), range)?.next() {
        Some(pair) => Ok(At::Before(pair?.1)),
        None => Ok(At::Current),
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
        Bound::Excluded(k) => Bound::Excluded(history_key(kind, k, u64::MAX)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match prefix_successor(bound) {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    let Some(pair) = r.range(kind.history(), KeyRange { start, end })?.next() else {
        return Ok(None);
    };
    let (hk, _) = pair?;
    match kind.decode_index_key(&hk) {
        Some((k, _)) => Ok(Some(k)),
        None => Err(malformed(kind.history(), &hk, "malformed history key")),
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
            let ka = history_key(Kind::AccountNode, &a, ea);
            let kb = history_key(Kind::AccountNode, &b, eb);
            if a != b {
                prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            } else {
                prop_assert_eq!(ea.cmp(&eb), ka.cmp(&kb));
            }
            prop_assert_eq!(Kind::AccountNode.decode_index_key(&ka), Some((a, ea)));
        }
    }
}
