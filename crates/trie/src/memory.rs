//! In-memory implementations of the cursor traits (tests, benchmarks, examples).

use crate::{
    Account, ChangeSet, TrieError, TrieUpdates,
    codec::{encode_node, encode_path},
    cursor::{HashedCursor, HashedCursorFactory, StoredNode, TrieCursor, TrieCursorFactory},
};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{BranchNodeCompact, Nibbles};
use std::collections::{BTreeMap, btree_map::Range};

type NodeMap = BTreeMap<Nibbles, BranchNodeCompact>;
static NO_NODES: NodeMap = BTreeMap::new();
static NO_SLOTS: BTreeMap<B256, U256> = BTreeMap::new();

/// Stored branch nodes of the account trie and of every storage trie, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTrieNodes {
    accounts: NodeMap,
    storages: BTreeMap<B256, NodeMap>,
}

impl MemoryTrieNodes {
    /// No stored nodes (the nodes of the empty state).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the node writes and deletes of a root computation.
    pub fn apply(&mut self, updates: &TrieUpdates) {
        apply_nodes(&mut self.accounts, &updates.account_nodes);
        for (hashed_address, nodes) in &updates.storage_nodes {
            let trie = self.storages.entry(*hashed_address).or_default();
            apply_nodes(trie, nodes);
            if trie.is_empty() {
                self.storages.remove(hashed_address);
            }
        }
    }

    /// The stored account trie nodes.
    pub fn account_nodes(&self) -> &BTreeMap<Nibbles, BranchNodeCompact> {
        &self.accounts
    }

    /// The stored nodes of every non-empty storage trie, by hashed address.
    pub fn storage_nodes(&self) -> &BTreeMap<B256, BTreeMap<Nibbles, BranchNodeCompact>> {
        &self.storages
    }

    /// Number of stored nodes, all tries together.
    pub fn len(&self) -> usize {
        self.accounts.len() + self.storages.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the nodes take with the documented key and value encodings (storage trie keys
    /// include their 32-byte hashed address).
    pub fn encoded_size(&self) -> usize {
        let size = |nodes: &NodeMap, key_prefix: usize| {
            nodes
                .iter()
                .map(|(path, node)| key_prefix + encode_path(path).len() + encode_node(node).len())
                .sum::<usize>()
        };
        size(&self.accounts, 0) + self.storages.values().map(|n| size(n, 32)).sum::<usize>()
    }
}

/// Applies node writes and deletes to one trie's nodes held in a map.
pub fn apply_nodes(nodes: &mut BTreeMap<Nibbles, BranchNodeCompact>, updates: &crate::NodeUpdates) {
    for (path, update) in updates {
        match update {
            Some(node) => nodes.insert(*path, node.clone()),
            None => nodes.remove(path),
        };
    }
}

impl TrieCursorFactory for MemoryTrieNodes {
    type AccountCursor<'a> = MapCursor<'a, Nibbles, BranchNodeCompact>;
    type StorageCursor<'a> = MapCursor<'a, Nibbles, BranchNodeCompact>;

    fn account_trie_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(MapCursor::new(&self.accounts))
    }

    fn storage_trie_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(MapCursor::new(self.storages.get(&hashed_address).unwrap_or(&NO_NODES)))
    }
}

/// Flat hashed state in memory, recording the keys it changes since the last
/// [`take_changes`](Self::take_changes).
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    accounts: BTreeMap<B256, Account>,
    storages: BTreeMap<B256, BTreeMap<B256, U256>>,
    changes: ChangeSet,
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or updates an account (its storage is kept).
    pub fn set_account(&mut self, address: Address, account: Account) {
        self.set_hashed_account(keccak256(address), account);
    }

    /// Deletes an account and all its storage.
    pub fn remove_account(&mut self, address: Address) {
        self.remove_hashed_account(keccak256(address));
    }

    /// Sets a storage slot; zero deletes it.
    pub fn set_storage(&mut self, address: Address, slot: B256, value: U256) {
        self.set_hashed_storage(keccak256(address), keccak256(slot), value);
    }

    /// [`set_account`](Self::set_account) by hashed address.
    pub fn set_hashed_account(&mut self, hashed_address: B256, account: Account) {
        self.accounts.insert(hashed_address, account);
        self.changes.touch_hashed_account(hashed_address);
    }

    /// [`remove_account`](Self::remove_account) by hashed address.
    pub fn remove_hashed_account(&mut self, hashed_address: B256) {
        self.accounts.remove(&hashed_address);
        self.storages.remove(&hashed_address);
        self.changes.wipe_hashed_storage(hashed_address);
    }

    /// [`set_storage`](Self::set_storage) by hashed address and hashed slot.
    pub fn set_hashed_storage(&mut self, hashed_address: B256, hashed_slot: B256, value: U256) {
        let slots = self.storages.entry(hashed_address).or_default();
        if value.is_zero() {
            slots.remove(&hashed_slot);
            if slots.is_empty() {
                self.storages.remove(&hashed_address);
            }
        } else {
            slots.insert(hashed_slot, value);
        }
        self.changes.touch_hashed_slot(hashed_address, hashed_slot);
    }

    /// Returns the keys changed since the last call, and forgets them.
    pub fn take_changes(&mut self) -> ChangeSet {
        std::mem::take(&mut self.changes)
    }

    /// The account at `address`.
    pub fn account(&self, address: Address) -> Option<Account> {
        self.accounts.get(&keccak256(address)).copied()
    }

    /// All accounts by hashed address.
    pub fn hashed_accounts(&self) -> &BTreeMap<B256, Account> {
        &self.accounts
    }

    /// The non-zero slots of one account, by hashed slot.
    pub fn hashed_storage(&self, hashed_address: B256) -> &BTreeMap<B256, U256> {
        self.storages.get(&hashed_address).unwrap_or(&NO_SLOTS)
    }
}

impl HashedCursorFactory for MemoryState {
    type AccountCursor<'a> = MapCursor<'a, B256, Account>;
    type StorageCursor<'a> = MapCursor<'a, B256, U256>;

    fn hashed_account_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(MapCursor::new(&self.accounts))
    }

    fn hashed_storage_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(MapCursor::new(self.hashed_storage(hashed_address)))
    }
}

/// A cursor over a `BTreeMap`.
#[derive(Debug)]
pub struct MapCursor<'a, K, V> {
    map: &'a BTreeMap<K, V>,
    range: Option<Range<'a, K, V>>,
}

impl<'a, K: Ord + Copy, V: Clone> MapCursor<'a, K, V> {
    /// A cursor over `map`, not yet positioned (`next` starts at the first entry).
    pub fn new(map: &'a BTreeMap<K, V>) -> Self {
        Self { map, range: None }
    }

    fn seek_entry(&mut self, key: &K) -> Option<(K, V)> {
        self.next_in(self.map.range(key..))
    }

    fn next_entry(&mut self) -> Option<(K, V)> {
        match self.range.take() {
            Some(range) => self.next_in(range),
            None => self.next_in(self.map.range(..)),
        }
    }

    fn next_in(&mut self, mut range: Range<'a, K, V>) -> Option<(K, V)> {
        let entry = range.next().map(|(key, value)| (*key, value.clone()));
        self.range = Some(range);
        entry
    }
}

impl TrieCursor for MapCursor<'_, Nibbles, BranchNodeCompact> {
    fn seek(&mut self, path: &Nibbles) -> Result<Option<StoredNode>, TrieError> {
        Ok(self.seek_entry(path))
    }

    fn next(&mut self) -> Result<Option<StoredNode>, TrieError> {
        Ok(self.next_entry())
    }
}

impl<V: Clone> HashedCursor for MapCursor<'_, B256, V> {
    type Value = V;

    fn seek(&mut self, key: B256) -> Result<Option<(B256, V)>, TrieError> {
        Ok(self.seek_entry(&key))
    }

    fn next(&mut self) -> Result<Option<(B256, V)>, TrieError> {
        Ok(self.next_entry())
    }
}
