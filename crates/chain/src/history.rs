//! State history: what every block changed, findable from either side.
//!
//! Four kinds of keys have history: accounts, storage slots, account-trie nodes and
//! storage-trie nodes. For each, a block writes
//!
//! - a **changeset** entry `number ‖ key → value before the block`, the unwind and prune paths
//!   read a whole block's changes from it; and
//! - a **history index** entry: `number` appended to the key's sorted block list. The list is
//!   sharded: a shard holds up to [`SHARD_CAPACITY`] numbers as LEB128 deltas and is keyed
//!   `key ‖ last number in it`, except the newest, which is keyed `key ‖ u64::MAX`.
//!
//! The value of a key as of block `n` (after `n` was applied) is the changeset value of the first
//! block above `n` that changed it, or the current value if none did: one index seek and one
//! point read, whatever the distance from the head ([`value_at`]).
//!
//! Node paths have variable length, so their index keys write each nibble plus one and end the
//! path with a zero byte: a path's shards stay together and index keys sort in path order, which
//! the historical trie cursors rely on.

use alloy_primitives::B256;
use chainstore_engine::backend::{KeyRange, prefix_successor};
use chainstore_engine::db::WriteTxn;
use std::ops::Bound;

use crate::cursors::Reader;
use crate::error::{ChainError, Result};
use crate::schema::*;

/// Block numbers per index shard.
pub(crate) const SHARD_CAPACITY: usize = 64;
/// The shard end of a key's newest shard.
pub(crate) const OPEN_SHARD: u64 = u64::MAX;

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

fn shard_key(prefix: &[u8], end: u64) -> Vec<u8> {
    [prefix, &end.to_be_bytes()].concat()
}

/// Encodes an ascending block list.
pub(crate) fn encode_blocks(blocks: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() * 2);
    let mut previous = 0u64;
    for &b in blocks {
        let mut delta = b - previous;
        previous = b;
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Decodes [`encode_blocks`], checking that the list ascends strictly.
pub(crate) fn decode_blocks(bytes: &[u8]) -> std::result::Result<Vec<u64>, String> {
    let mut out = Vec::new();
    let (mut value, mut shift, mut previous) = (0u64, 0u32, None::<u64>);
    for &byte in bytes {
        if shift > 63 {
            return Err("block number overflows".into());
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            let number = match previous {
                None => value,
                Some(p) if value > 0 => p.checked_add(value).ok_or("block number overflows")?,
                Some(_) => return Err("block list does not ascend".into()),
            };
            out.push(number);
            previous = Some(number);
            (value, shift) = (0, 0);
        }
    }
    if shift != 0 {
        return Err("block list ends inside a number".into());
    }
    if out.is_empty() {
        return Err("empty block list".into());
    }
    Ok(out)
}

fn bad_shard(kind: Kind, key: &[u8], detail: impl std::fmt::Display) -> ChainError {
    crate::error::corrupt(kind.index(), alloy_primitives::hex::encode(key), detail)
}

/// The shards of `key` from `from` (a shard end) on, ascending.
fn shards<'a, R: Reader>(
    r: &'a R,
    kind: Kind,
    key: &[u8],
    from: u64,
) -> Result<impl Iterator<Item = Result<(Vec<u8>, Vec<u64>)>> + 'a> {
    let prefix = kind.index_prefix(key);
    let range = KeyRange {
        start: Bound::Included(shard_key(&prefix, from)),
        end: Bound::Included(shard_key(&prefix, OPEN_SHARD)),
    };
    let key = key.to_vec();
    Ok(r.range(kind.index(), range)?.map(move |pair| {
        let (k, v) = pair?;
        let blocks = decode_blocks(&v).map_err(|d| bad_shard(kind, &key, d))?;
        Ok((k, blocks))
    }))
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
    let prefix = kind.index_prefix(key);
    let open = shard_key(&prefix, OPEN_SHARD);
    let mut blocks = match txn.get(kind.index(), &open)? {
        Some(v) => decode_blocks(&v).map_err(|d| bad_shard(kind, key, d))?,
        None => Vec::new(),
    };
    if let Some(&last) = blocks.last() {
        if last >= number {
            return Err(bad_shard(kind, key, format!("block {last} listed before block {number}")));
        }
        if blocks.len() >= SHARD_CAPACITY {
            txn.put(kind.index(), &shard_key(&prefix, last), &encode_blocks(&blocks))?;
            blocks.clear();
        }
    }
    blocks.push(number);
    txn.put(kind.index(), &open, &encode_blocks(&blocks))?;
    Ok(())
}

/// Forgets block `number`, the newest in `key`'s list (unwinding), restoring the shard layout
/// it had before the block.
pub(crate) fn forget_newest(txn: &mut WriteTxn, kind: Kind, key: &[u8], number: u64) -> Result<()> {
    let prefix = kind.index_prefix(key);
    let open = shard_key(&prefix, OPEN_SHARD);
    let mut blocks = match txn.get(kind.index(), &open)? {
        Some(v) => decode_blocks(&v).map_err(|d| bad_shard(kind, key, d))?,
        None => Vec::new(),
    };
    if blocks.pop() != Some(number) {
        return Err(bad_shard(kind, key, format!("block {number} is not the newest listed")));
    }
    if !blocks.is_empty() {
        return Ok(txn.put(kind.index(), &open, &encode_blocks(&blocks))?);
    }
    txn.delete(kind.index(), &open)?;
    // The block had opened a new shard by sealing the previous one: reopen that one.
    let range = KeyRange {
        start: Bound::Included(shard_key(&prefix, 0)),
        end: Bound::Excluded(open.clone()),
    };
    let last = txn.range(kind.index(), range, true)?.next().transpose()?;
    if let Some((sealed, v)) = last {
        txn.delete(kind.index(), &sealed)?;
        txn.put(kind.index(), &open, &v)?;
    }
    Ok(())
}

/// Forgets block `number`, the oldest in `key`'s list (pruning).
pub(crate) fn forget_oldest(txn: &mut WriteTxn, kind: Kind, key: &[u8], number: u64) -> Result<()> {
    let first = shards(txn, kind, key, 0)?.next().transpose()?;
    let Some((shard, mut blocks)) = first else {
        return Err(bad_shard(kind, key, format!("no shard lists block {number}")));
    };
    if blocks.first() != Some(&number) {
        return Err(bad_shard(kind, key, format!("block {number} is not the oldest listed")));
    }
    blocks.remove(0);
    if blocks.is_empty() {
        txn.delete(kind.index(), &shard)?;
    } else {
        txn.put(kind.index(), &shard, &encode_blocks(&blocks))?;
    }
    Ok(())
}

/// The first block above `n` that changed `key`.
pub(crate) fn first_change_after<R: Reader>(
    r: &R,
    kind: Kind,
    key: &[u8],
    n: u64,
) -> Result<Option<u64>> {
    let Some(from) = n.checked_add(1) else { return Ok(None) };
    let Some(first) = shards(r, kind, key, from)?.next().transpose()? else { return Ok(None) };
    Ok(first.1.into_iter().find(|&b| b > n))
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
        None => {
            Err(bad_shard(kind, key, format!("block {m} is listed but has no changeset entry")))
        }
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
        // Past every shard of the key.
        Bound::Excluded(k) => Bound::Excluded(shard_key(&kind.index_prefix(k), OPEN_SHARD)),
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
        None => Err(bad_shard(kind, &ik, "malformed index key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn block_lists_round_trip(mut blocks in proptest::collection::btree_set(any::<u64>(), 1..80)) {
            let blocks: Vec<u64> = std::mem::take(&mut blocks).into_iter().collect();
            prop_assert_eq!(decode_blocks(&encode_blocks(&blocks)).unwrap(), blocks);
        }

        #[test]
        fn node_index_keys_sort_in_path_order(
            a in proptest::collection::vec(0u8..16, 0..6),
            b in proptest::collection::vec(0u8..16, 0..6),
            ea in any::<u64>(),
            eb in any::<u64>(),
        ) {
            let ka = shard_key(&Kind::AccountNode.index_prefix(&a), ea);
            let kb = shard_key(&Kind::AccountNode.index_prefix(&b), eb);
            if a != b {
                prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            }
            prop_assert_eq!(Kind::AccountNode.decode_index_key(&ka), Some((a, ea)));
        }
    }

    #[test]
    fn malformed_block_lists_are_errors() {
        assert!(decode_blocks(&[]).is_err());
        assert!(decode_blocks(&[0x80]).is_err());
        assert!(decode_blocks(&[5, 0]).is_err(), "a zero delta repeats a block");
        assert!(decode_blocks(&[0xff; 11]).is_err());
    }
}
