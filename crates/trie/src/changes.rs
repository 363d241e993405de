//! What changed since the stored nodes were written, and the node updates to persist.

use crate::compute::NodeUpdates;
use alloy_primitives::{Address, B256, keccak256};
use std::collections::{BTreeMap, BTreeSet};

/// The keys a batch (e.g. a block) changed in the flat state, by hashed key.
///
/// Every account whose fields or storage changed, or that was created or deleted, must be
/// listed; every storage slot whose value changed (including to or from zero) too. Deleting an
/// account, or recreating it, must also [`wipe`](Self::wipe_storage) its storage: the storage
/// trie is then rebuilt from the slots the flat state holds afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub(crate) accounts: BTreeSet<B256>,
    pub(crate) storages: BTreeMap<B256, StorageChanges>,
}

/// Storage changes of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StorageChanges {
    pub(crate) wiped: bool,
    pub(crate) slots: BTreeSet<B256>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Marks an account (by address) as changed.
    pub fn touch_account(&mut self, address: Address) {
        self.touch_hashed_account(keccak256(address));
    }

    /// Marks a storage slot (by address and slot) as changed.
    pub fn touch_slot(&mut self, address: Address, slot: B256) {
        self.touch_hashed_slot(keccak256(address), keccak256(slot));
    }

    /// Marks an account's whole storage as replaced (account deleted or recreated).
    pub fn wipe_storage(&mut self, address: Address) {
        self.wipe_hashed_storage(keccak256(address));
    }

    /// Marks an account, by `keccak256(address)`, as changed.
    pub fn touch_hashed_account(&mut self, hashed_address: B256) {
        self.accounts.insert(hashed_address);
    }

    /// Marks a slot, by `keccak256(address)` and `keccak256(slot)`, as changed.
    pub fn touch_hashed_slot(&mut self, hashed_address: B256, hashed_slot: B256) {
        self.accounts.insert(hashed_address);
        self.storages.entry(hashed_address).or_default().slots.insert(hashed_slot);
    }

    /// Marks the storage of `keccak256(address)` as replaced.
    pub fn wipe_hashed_storage(&mut self, hashed_address: B256) {
        self.accounts.insert(hashed_address);
        self.storages.entry(hashed_address).or_default().wiped = true;
    }

    /// Adds every change of `other` to this set.
    pub fn extend(&mut self, other: &ChangeSet) {
        self.accounts.extend(other.accounts.iter().copied());
        for (address, changes) in &other.storages {
            let mine = self.storages.entry(*address).or_default();
            mine.wiped |= changes.wiped;
            mine.slots.extend(changes.slots.iter().copied());
        }
    }
}

/// Branch-node writes and deletes that bring the stored nodes up to date with a new root.
///
/// Keys are nibble paths (store them with [`crate::encode_path`]); storage tries are keyed by
/// `keccak256(address)` first. `Some(node)` means write, `None` delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrieUpdates {
    /// Account trie nodes.
    pub account_nodes: NodeUpdates,
    /// Storage trie nodes, per hashed address.
    pub storage_nodes: BTreeMap<B256, NodeUpdates>,
}

impl TrieUpdates {
    /// Total number of node writes and deletes.
    pub fn len(&self) -> usize {
        self.account_nodes.len() + self.storage_nodes.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Whether there is nothing to persist.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
