//! Building tries from their leaves in one sorted pass: imports of whole states (genesis files,
//! snapshots, state dumps) without a node store to read.

use alloy_primitives::{B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{HashBuilder, Nibbles};

use crate::{Account, NodeUpdates, TrieError};

/// One trie built from its leaves, given in strictly ascending key order.
#[derive(Debug)]
pub struct TrieBuilder {
    builder: HashBuilder,
    last: Option<B256>,
    buf: Vec<u8>,
}

impl Default for TrieBuilder {
    fn default() -> Self {
        Self { builder: HashBuilder::default().with_updates(true), last: None, buf: Vec::new() }
    }
}

/// Leaves were not given in strictly ascending key order.
#[derive(Debug, thiserror::Error)]
#[error("trie leaf {key} does not follow {previous}: leaves must come in ascending key order")]
struct NotAscending {
    key: B256,
    previous: B256,
}

impl TrieBuilder {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a leaf whose value is already RLP-encoded.
    pub fn add_encoded(&mut self, key: B256, value: &[u8]) -> Result<(), TrieError> {
        if let Some(previous) = self.last.filter(|p| *p >= key) {
            return Err(TrieError::cursor(NotAscending { key, previous }));
        }
        self.last = Some(key);
        self.builder.add_leaf(Nibbles::unpack(key), value);
        Ok(())
    }

    /// Adds a storage slot (`value` must not be zero: a zero slot is absent).
    pub fn add_slot(&mut self, key: B256, value: U256) -> Result<(), TrieError> {
        self.buf.clear();
        value.encode(&mut self.buf);
        let buf = std::mem::take(&mut self.buf);
        let added = self.add_encoded(key, &buf);
        self.buf = buf;
        added
    }

    /// Adds an account with the root of its storage trie.
    pub fn add_account(
        &mut self,
        key: B256,
        account: &Account,
        storage_root: B256,
    ) -> Result<(), TrieError> {
        self.buf.clear();
        account.to_trie_account(storage_root).encode(&mut self.buf);
        let buf = std::mem::take(&mut self.buf);
        let added = self.add_encoded(key, &buf);
        self.buf = buf;
        added
    }

    /// Whether no leaf was added.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// Takes the branch nodes completed so far (all as writes): nodes whose subtrees lie wholly
    /// before the last leaf added, which later leaves cannot change. A long build (a state
    /// import) writes them as it goes instead of holding every node until [`finish`](Self::finish).
    pub fn take_nodes(&mut self) -> NodeUpdates {
        let done = self.builder.updated_branch_nodes.as_mut().map(std::mem::take);
        done.into_iter().flatten().map(|(path, node)| (path, Some(node))).collect()
    }

    /// The root and the branch nodes not yet taken (all as writes).
    pub fn finish(mut self) -> (B256, NodeUpdates) {
        let root = self.builder.root();
        let (_, nodes) = self.builder.split();
        (root, nodes.into_iter().map(|(path, node)| (path, Some(node))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EMPTY_TRIE_ROOT, MemoryState, rebuild_state_root};
    use alloy_primitives::Address;

    #[test]
    fn one_pass_equals_a_rebuild() {
        let mut state = MemoryState::new();
        for i in 0..300u64 {
            let address = Address::with_last_byte(i as u8).into_word();
            let address = Address::from_word(alloy_primitives::keccak256(address));
            let account = Account { nonce: i, balance: U256::from(i * 7), ..Account::default() };
            state.set_account(address, account);
            for s in 0..(i % 5) {
                state.set_storage(address, B256::with_last_byte(s as u8), U256::from(s + 1));
            }
        }
        let expected = rebuild_state_root(&state).unwrap();
        let mut accounts = TrieBuilder::new();
        for (hashed, account) in state.hashed_accounts() {
            let mut storage = TrieBuilder::new();
            for (slot, value) in state.hashed_storage(*hashed) {
                storage.add_slot(*slot, *value).unwrap();
            }
            let (storage_root, nodes) = storage.finish();
            assert_eq!(
                nodes,
                expected.updates.storage_nodes.get(hashed).cloned().unwrap_or_default()
            );
            accounts.add_account(*hashed, account, storage_root).unwrap();
        }
        let (root, nodes) = accounts.finish();
        assert_eq!(root, expected.root);
        assert_eq!(nodes, expected.updates.account_nodes);

        // Taking the completed nodes as the leaves stream by gives each node once, final.
        let mut accounts = TrieBuilder::new();
        let mut taken = NodeUpdates::new();
        for (i, (hashed, account)) in state.hashed_accounts().iter().enumerate() {
            let root = expected.storage_roots.get(hashed).copied().unwrap_or(EMPTY_TRIE_ROOT);
            accounts.add_account(*hashed, account, root).unwrap();
            if i % 7 == 0 {
                for (path, node) in accounts.take_nodes() {
                    assert!(taken.insert(path, node).is_none(), "node {path:?} taken twice");
                }
            }
        }
        let taken_early = taken.len();
        let (root, rest) = accounts.finish();
        assert!(
            taken_early > 0 && !rest.is_empty(),
            "{taken_early} taken early, {} at the end",
            rest.len()
        );
        for (path, node) in rest {
            assert!(taken.insert(path, node).is_none(), "node {path:?} taken and finished");
        }
        assert_eq!(root, expected.root);
        assert_eq!(taken, expected.updates.account_nodes);
        let mut out_of_order = TrieBuilder::new();
        out_of_order.add_slot(B256::with_last_byte(2), U256::from(1)).unwrap();
        assert!(out_of_order.add_slot(B256::with_last_byte(1), U256::from(1)).is_err());
    }
}
