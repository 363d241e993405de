//! A block's changes to the flat state, and the trie's view of the state after the block: the
//! changes over the [state cache](crate::cache) of the head.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use alloy_primitives::{B256, U256};
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{
    Account, HashedCursor, HashedCursorFactory, Nibbles, StoredNode, TrieCursor, TrieCursorFactory,
    TrieError,
};

use crate::cache::StateCache;
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
/// The cache is behind a mutex: the storage tries are computed on several threads.
pub(crate) struct AfterBlock<'a> {
    pub(crate) cache: Mutex<&'a mut StateCache>,
    pub(crate) reader: &'a ReadTxn,
    pub(crate) overlay: &'a Overlay,
}

impl<'a> AfterBlock<'a> {
    fn cache(&self) -> MutexGuard<'_, &'a mut StateCache> {
        // A panic while holding the lock is re-raised by the thread scope that ran it; the cache
        // is not used after that.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
        let mut cache = self.cache();
        let nodes = cache.nodes(self.reader, owner).map_err(trie_err)?;
        Ok(nodes.range((from, Bound::Unbounded)).next().map(|(p, n)| (*p, n.clone())))
    }

    /// Accounts after the block from `from` on, about `limit` of them, and the key up to which
    /// (exclusive; `None`: the end) that is all of them.
    fn accounts_from(&self, from: B256, limit: usize) -> Result<Merged<Account>> {
        let (head, until) = self.cache().account_batch(self.reader, from, limit)?;
        let head = head.into_iter().map(|(k, a)| (k, a.account));
        Ok((merge(head, range(&self.overlay.accounts, from, until)), until))
    }

    /// The non-zero slots of `owner` after the block from `from` on, as `accounts_from`.
    fn slots_from(&self, owner: B256, from: B256, limit: usize) -> Result<Merged<U256>> {
        let empty = BTreeMap::new();
        let (wiped, slots) =
            self.overlay.storage.get(&owner).map_or((false, &empty), |s| (s.wiped, &s.slots));
        let (head, until) = if wiped {
            (Vec::new(), None)
        } else {
            self.cache().slot_batch(self.reader, owner, from, limit)?
        };
        Ok((merge(head.into_iter(), range(slots, from, until)), until))
    }
}

/// Leaves read ahead after a seek: a scan between two reused subtrees is often short (one or two
/// leaves with few accounts), so reading starts small and grows fourfold per refill.
const FIRST_READ: usize = 4;
/// The most leaves read ahead at once.
const MAX_READ: usize = 256;

/// Merged entries and the key up to which (exclusive; `None`: the end) they are complete.
type Merged<V> = (VecDeque<(B256, V)>, Option<B256>);

/// The changes in `[from, until)`.
fn range<V>(
    changes: &BTreeMap<B256, Option<V>>,
    from: B256,
    until: Option<B256>,
) -> impl Iterator<Item = (&B256, &Option<V>)> {
    let upper = until.map_or(Bound::Unbounded, Bound::Excluded);
    changes.range((Bound::Included(from), upper))
}

/// `head` overwritten by `changes` (both in key order; a `None` change deletes).
fn merge<'c, V: Copy + 'c>(
    head: impl Iterator<Item = (B256, V)>,
    changes: impl Iterator<Item = (&'c B256, &'c Option<V>)>,
) -> VecDeque<(B256, V)> {
    let mut out = VecDeque::new();
    let mut head = head.peekable();
    let mut changes = changes.peekable();
    loop {
        let (take_change, same) = match (head.peek(), changes.peek()) {
            (None, None) => return out,
            (Some(_), None) => (false, false),
            (None, Some(_)) => (true, false),
            (Some((h, _)), Some((c, _))) => (**c <= *h, **c == *h),
        };
        if same {
            head.next();
        }
        if take_change {
            if let Some((k, Some(v))) = changes.next() {
                out.push_back((*k, *v));
            }
        } else if let Some(entry) = head.next() {
            out.push_back(entry);
        }
    }
}

/// The leaves a cursor has read ahead, and where reading goes on.
struct Ahead<V> {
    buf: VecDeque<(B256, V)>,
    /// Where to read on once `buf` is empty: `None` before the first seek and at the end.
    next: Option<B256>,
    /// How many leaves the next read takes.
    size: usize,
}

impl<V> Default for Ahead<V> {
    fn default() -> Self {
        Self { buf: VecDeque::new(), next: None, size: FIRST_READ }
    }
}

impl<V> Ahead<V> {
    /// Starts over at `from`.
    fn seek(
        &mut self,
        from: B256,
        read: impl FnMut(B256, usize) -> Result<Merged<V>>,
    ) -> std::result::Result<Option<(B256, V)>, TrieError> {
        self.buf.clear();
        self.next = Some(from);
        self.size = FIRST_READ;
        self.next(read)
    }

    /// The next leaf, reading on with `read` as needed.
    fn next(
        &mut self,
        mut read: impl FnMut(B256, usize) -> Result<Merged<V>>,
    ) -> std::result::Result<Option<(B256, V)>, TrieError> {
        loop {
            if let Some(entry) = self.buf.pop_front() {
                return Ok(Some(entry));
            }
            let Some(from) = self.next.take() else { return Ok(None) };
            (self.buf, self.next) = read(from, self.size).map_err(trie_err)?;
            self.size = (self.size * 4).min(MAX_READ);
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
    ahead: Ahead<Account>,
}

impl HashedCursor for AccountCursor<'_, '_> {
    type Value = Account;

    fn seek(&mut self, key: B256) -> std::result::Result<Option<(B256, Account)>, TrieError> {
        let state = self.state;
        self.ahead.seek(key, |from, n| state.accounts_from(from, n))
    }

    fn next(&mut self) -> std::result::Result<Option<(B256, Account)>, TrieError> {
        let state = self.state;
        self.ahead.next(|from, n| state.accounts_from(from, n))
    }
}

/// A cursor over one account's slots after the block.
pub(crate) struct SlotCursor<'c, 'a> {
    state: &'c AfterBlock<'a>,
    owner: B256,
    ahead: Ahead<U256>,
}

impl HashedCursor for SlotCursor<'_, '_> {
    type Value = U256;

    fn seek(&mut self, key: B256) -> std::result::Result<Option<(B256, U256)>, TrieError> {
        let (state, owner) = (self.state, self.owner);
        self.ahead.seek(key, |from, n| state.slots_from(owner, from, n))
    }

    fn next(&mut self) -> std::result::Result<Option<(B256, U256)>, TrieError> {
        let (state, owner) = (self.state, self.owner);
        self.ahead.next(|from, n| state.slots_from(owner, from, n))
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
        Ok(AccountCursor { state: self, ahead: Ahead::default() })
    }

    fn hashed_storage_cursor(
        &self,
        hashed_address: B256,
    ) -> std::result::Result<SlotCursor<'_, 'a>, TrieError> {
        Ok(SlotCursor { state: self, owner: hashed_address, ahead: Ahead::default() })
    }

    fn known_storage_root(
        &self,
        hashed_address: B256,
    ) -> std::result::Result<Option<B256>, TrieError> {
        // Asked only for accounts whose storage the block did not touch: their head root holds.
        let mut cache = self.cache();
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
        let head = vec![(k(1), 10), (k(3), 30), (k(5), 50)];
        let changes: BTreeMap<B256, Option<u32>> =
            [(k(2), Some(2)), (k(3), None), (k(5), Some(55)), (k(7), Some(7))].into();
        let merged: Vec<_> = merge(head.into_iter(), changes.iter()).into_iter().collect();
        assert_eq!(merged, vec![(k(1), 10), (k(2), 2), (k(5), 55), (k(7), 7)]);
    }
}
