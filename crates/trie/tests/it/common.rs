//! Helpers shared by the integration tests, including the independent full-rebuild model.

use alloy_primitives::{B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{HashBuilder, Nibbles};
use chainstore_trie::{MemoryState, MemoryTrieNodes, StateRootOutput, state_root};
use std::path::PathBuf;

/// Path of a file under the repository's `testdata/`.
pub(crate) fn testdata(relative: &str) -> PathBuf {
    manifest_dir().join("../../testdata").join(relative)
}

/// Parses a JSON file under `testdata/`.
pub(crate) fn read_json(relative: &str) -> serde_json::Value {
    let path = testdata(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Decodes hex with or without `0x` (an odd length gets a leading zero).
pub(crate) fn hex_bytes(text: &str) -> Vec<u8> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_string() };
    alloy_primitives::hex::decode(padded).unwrap_or_else(|e| panic!("bad hex {text:?}: {e}"))
}

/// A quantity as `0x` hex or a decimal string.
pub(crate) fn quantity(text: &str) -> U256 {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some("") => U256::ZERO,
        Some(hex) => U256::from_str_radix(hex, 16).unwrap(),
        None => U256::from_str_radix(text, 10).unwrap(),
    }
}

/// A 32-byte value from hex, left-padded.
pub(crate) fn b256(text: &str) -> B256 {
    let bytes = hex_bytes(text);
    assert!(bytes.len() <= 32, "{text} is longer than 32 bytes");
    B256::left_padding_from(&bytes)
}

/// The state and its stored nodes, committed block by block through the incremental path.
#[derive(Default)]
pub(crate) struct Chain {
    pub(crate) state: MemoryState,
    pub(crate) nodes: MemoryTrieNodes,
}

impl Chain {
    /// Computes the root of the pending changes incrementally and persists the node updates.
    pub(crate) fn commit(&mut self) -> StateRootOutput {
        let changes = self.state.take_changes();
        let out = state_root(&self.nodes, &self.state, &changes).expect("state root");
        self.nodes.apply(&out.updates);
        out
    }
}

/// Independent model: the state root by a full rebuild with alloy-trie's `HashBuilder`, from
/// the flat state alone (no stored node, no code under test).
pub(crate) fn rebuild_root(state: &MemoryState) -> B256 {
    rebuild(state, false).0
}

/// Full rebuild that also returns the branch nodes a rebuild would store (account trie, then
/// storage tries by hashed address).
pub(crate) fn rebuild(state: &MemoryState, updates: bool) -> (B256, MemoryTrieNodesModel) {
    let mut model = MemoryTrieNodesModel::default();
    let mut accounts = HashBuilder::default().with_updates(updates);
    let mut buf = Vec::new();
    for (hashed, account) in state.hashed_accounts() {
        let mut storage = HashBuilder::default().with_updates(updates);
        for (slot, value) in state.hashed_storage(*hashed) {
            buf.clear();
            value.encode(&mut buf);
            storage.add_leaf(Nibbles::unpack(slot), &buf);
        }
        let storage_root = storage.root();
        let (_, nodes) = storage.split();
        if !nodes.is_empty() {
            model.storages.insert(*hashed, nodes.into_iter().collect());
        }
        buf.clear();
        account.to_trie_account(storage_root).encode(&mut buf);
        accounts.add_leaf(Nibbles::unpack(hashed), &buf);
    }
    let root = accounts.root();
    model.accounts = accounts.split().1.into_iter().collect();
    (root, model)
}

/// The stored nodes a full rebuild produces.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryTrieNodesModel {
    pub(crate) accounts: std::collections::BTreeMap<Nibbles, alloy_trie::BranchNodeCompact>,
    pub(crate) storages: std::collections::BTreeMap<
        B256,
        std::collections::BTreeMap<Nibbles, alloy_trie::BranchNodeCompact>,
    >,
}

impl MemoryTrieNodesModel {
    /// Whether `nodes` holds exactly the nodes of this model.
    pub(crate) fn matches(&self, nodes: &MemoryTrieNodes) -> bool {
        &self.accounts == nodes.account_nodes() && &self.storages == nodes.storage_nodes()
    }
}

/// The package directory, read when the test runs: a test binary built from a checkout at
/// another path (a shared target directory) must still find this checkout's files.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), Into::into)
}
