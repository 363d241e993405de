//! A block's changes to the flat state, and the trie's view of the state after the block: the
//! changes over the [state cache](crate::cache) of the head.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use alloy_primitives::{B256, U256};
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{
    Account, HashedCursor, HashedCursorFactory, Nibbles, StoredNode, TrieCursor, TrieCursorFactory,
    TrieError,
};

use crate::cache::{StateCache, successor};
use crate::error::Result;

/// What a block changed in the flat state: the value after the block of every key it wrote.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    /// Accounts written (`None`: deleted).
    pub(crate) accounts: BTreeMap<B256, Option<Account>>,
    /// Per account, the slots written.
    pub(crate) storage: HashMap<B256, SlotOverlay>,
}

/// One account's slot writes.
#[derive(Debug, Default)]
pub(crate) struct SlotOverlay {
    /// Every slot of the head was deleted (the account was deleted or created) before the
    /// writes in `slots`.
    pub(crate) wiped: bool,
    /// Slots written (`None`: zero, deleted).
    pub(crate) slots: BTreeMap<B256, Option<U256>>,
}

impl Overlay {
    pub(crate) fn set_account(&mut self, hashed: B256, account: Option<Account>) {
        self.accounts.insert(hashed, account);
    }

    /// Marks every slot of the head deleted; slots written before stay listed (as deleted),
    /// so that the block knows it recorded them.
    pub(crate) fn wipe_storage(&mut self, hashed: B256) {
        let s = self.storage.entry(hashed).or_default();
        s.wiped = true;
        s.slots.values_mut().for_each(|v| *v = None);
    }

    /// Whether the block wrote `slot` of `hashed` (and so recorded its value before the block).
    pub(crate) fn slot_written(&self, hashed: B256, slot: B256) -> bool {
        self.storage.get(&hashed).is_some_and(|s| s.slots.contains_key(&slot))
    }

    pub(crate) fn set_slot(&mut self, hashed: B256, slot: B256, value: U256) {
        let value = (!value.is_zero()).then_some(value);
        self.storage.entry(hashed).or_default().slots.insert(slot, value);
    }

    /// The account after the writes so far: `Some(v)` if written, `None` if untouched.
    pub(crate) fn account(&self, hashed: B256) -> Option<Option<Account>> {
        self.accounts.get(&hashed).copied()
    }
}

/// The state after a block, for the trie: nodes as of the head, leaves as of after the block.
/// Reads go to the cache, which loads what it lacks from `reader` (a snapshot of the head).
pub(crate) struct AfterBlock<'a> {
    pub(crate) cache: RefCell<&'a mut StateCache>,
    pub(crate) reader: &'a ReadTxn,
    pub(crate) overlay: &'a Overlay,
}

fn trie_err(e: crate::ChainError) -> TrieError {
    TrieError::cursor(e)
}

impl AfterBlock<'_> {
    fn node_at_or_after(
        &self,
        owner: Option<B256>,
        from: Bound<Nibbles>,
    ) -> std::result::Result<Option<StoredNode>, TrieError> {
        let mut cache = self.cache.borrow_mut();
        let nodes = cache.nodes(self.reader, owner).map_err(trie_err)?;
        Ok(nodes.range((from, Bound::Unbounded)).next().map(|(p, n)| (*p, n.clone())))
    }

    /// The first account after the block at or after `from`.
    fn account_from(&self, from: B256) -> Result<Option<(B256, Account)>> {
        let mut cache = self.cache.borrow_mut();
        merged_next(&self.overlay.accounts, from, |k| {
            Ok(cache.next_account(self.reader, k)?.map(|(k, a)| (k, a.account)))
        })
    }

    /// The first non-zero slot of `owner` after the block at or after `from`.
    fn slot_from(&self, owner: B256, from: B256) -> Result<Option<(B256, U256)>> {
        let empty = BTreeMap::new();
        let (wiped, slots) =
            self.overlay.storage.get(&owner).map_or((false, &empty), |s| (s.wiped, &s.slots));
        let mut cache = self.cache.borrow_mut();
        merged_next(slots, from, |k| {
            if wiped { Ok(None) } else { cache.next_slot(self.reader, owner, k) }
        })
    }
}

/// The first entry at or after `from` of `head` overwritten by `changes` (`None`: deleted).
fn merged_next<V: Copy>(
    changes: &BTreeMap<B256, Option<V>>,
    mut from: B256,
    mut head: impl FnMut(B256) -> Result<Option<(B256, V)>>,
) -> Result<Option<(B256, V)>> {
    loop {
        let h = head(from)?;
        let c = changes.range(from..).next().map(|(k, v)| (*k, *v));
        let (key, value) = match (h, c) {
            (None, None) => return Ok(None),
            (Some(h), None) => return Ok(Some(h)),
            (Some(h), Some(c)) if h.0 < c.0 => return Ok(Some(h)),
            (_, Some(c)) => c,
        };
        match value {
            Some(v) => return Ok(Some((key, v))),
            None => match successor(key) {
                Some(next) => from = next,
                None => return Ok(None),
            },
        }
    }
}

/// A cursor over stored nodes (account trie or one storage trie).
pub(crate) struct NodeCursor<'c, 'a> {
    state: &'c AfterBlock<'a>,
    owner: Option<B256>,
    at: Option<Nibbles>,
}

impl TrieCursor for NodeCursor<'_, '_> {
    fn seek(&mut self, path: &Nibbles) -> std::result::Result<Option<StoredNode>, TrieError> {
        let found = self.state.node_at_or_after(self.owner, Bound::Included(*path))?;
        self.at = found.as_ref().map(|(p, _)| *p);
        Ok(found)
    }

    fn next(&mut self) -> std::result::Result<Option<StoredNode>, TrieError> {
        let Some(at) = self.at else { return Ok(None) };
        let found = self.state.node_at_or_after(self.owner, Bound::Excluded(at))?;
        self.at = found.as_ref().map(|(p, _)| *p);
        Ok(found)
    }
}

/// A cursor over accounts after the block.
pub(crate) struct AccountCursor<'c, 'a> {
    state: &'c AfterBlock<'a>,
    at: Option<B256>,
}

impl HashedCursor for AccountCursor<'_, '_> {
    type Value = Account;

    fn seek(&mut self, key: B256) -> std::result::Result<Option<(B256, Account)>, TrieError> {
        let found = self.state.account_from(key).map_err(trie_err)?;
        self.at = found.map(|(k, _)| k);
        Ok(found)
    }

    fn next(&mut self) -> std::result::Result<Option<(B256, Account)>, TrieError> {
        let Some(from) = self.at.and_then(successor) else { return Ok(None) };
        self.seek(from)
    }
}

/// A cursor over one account's slots after the block.
pub(crate) struct SlotCursor<'c, 'a> {
    state: &'c AfterBlock<'a>,
    owner: B256,
    at: Option<B256>,
}

impl HashedCursor for SlotCursor<'_, '_> {
    type Value = U256;

    fn seek(&mut self, key: B256) -> std::result::Result<Option<(B256, U256)>, TrieError> {
        let found = self.state.slot_from(self.owner, key).map_err(trie_err)?;
        self.at = found.map(|(k, _)| k);
        Ok(found)
    }

    fn next(&mut self) -> std::result::Result<Option<(B256, U256)>, TrieError> {
        let Some(from) = self.at.and_then(successor) else { return Ok(None) };
        self.seek(from)
    }
}

impl<'a> TrieCursorFactory for AfterBlock<'a> {
    type AccountCursor<'c>
        = NodeCursor<'c, 'a>
    where
        Self: 'c;
    type StorageCursor<'c>
        = NodeCursor<'c, 'a>
    where
        Self: 'c;

    fn account_trie_cursor(&self) -> std::result::Result<NodeCursor<'_, 'a>, TrieError> {
        Ok(NodeCursor { state: self, owner: None, at: None })
    }

    fn storage_trie_cursor(
        &self,
        hashed_address: B256,
    ) -> std::result::Result<NodeCursor<'_, 'a>, TrieError> {
        Ok(NodeCursor { state: self, owner: Some(hashed_address), at: None })
    }
}

impl<'a> HashedCursorFactory for AfterBlock<'a> {
    type AccountCursor<'c>
        = AccountCursor<'c, 'a>
    where
        Self: 'c;
    type StorageCursor<'c>
        = SlotCursor<'c, 'a>
    where
        Self: 'c;

    fn hashed_account_cursor(&self) -> std::result::Result<AccountCursor<'_, 'a>, TrieError> {
        Ok(AccountCursor { state: self, at: None })
    }

    fn hashed_storage_cursor(
        &self,
        hashed_address: B256,
    ) -> std::result::Result<SlotCursor<'_, 'a>, TrieError> {
        Ok(SlotCursor { state: self, owner: hashed_address, at: None })
    }

    fn known_storage_root(
        &self,
        hashed_address: B256,
    ) -> std::result::Result<Option<B256>, TrieError> {
        // Asked only for accounts whose storage the block did not touch: their head root holds.
        let mut cache = self.cache.borrow_mut();
        let head = cache.account(self.reader, hashed_address).map_err(trie_err)?;
        Ok(head.map(|a| a.storage_root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_override_and_hide_the_head() {
        let k = |b: u8| B256::with_last_byte(b);
        let head: BTreeMap<B256, u32> = [(k(1), 10), (k(3), 30), (k(5), 50)].into();
        let changes: BTreeMap<B256, Option<u32>> =
            [(k(2), Some(2)), (k(3), None), (k(5), Some(55))].into();
        let read = |from: B256| -> Result<Option<(B256, u32)>> {
            Ok(head.range(from..).next().map(|(k, v)| (*k, *v)))
        };
        let mut seen = Vec::new();
        let mut from = B256::ZERO;
        while let Some((key, v)) = merged_next(&changes, from, read).unwrap() {
            seen.push((key, v));
            match successor(key) {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(seen, vec![(k(1), 10), (k(2), 2), (k(5), 55)]);
    }
}
