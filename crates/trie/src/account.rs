//! The account as kept in the flat state.

use alloy_primitives::{B256, U256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};

/// An account as the flat state keeps it: everything but the storage root, which the trie
/// derives from the account's storage trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Number of transactions sent (or contracts created).
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// `keccak256` of the code; [`KECCAK_EMPTY`] for an account without code.
    pub code_hash: B256,
}

impl Default for Account {
    fn default() -> Self {
        Self { nonce: 0, balance: U256::ZERO, code_hash: KECCAK_EMPTY }
    }
}

impl Account {
    /// The account leaf as the trie commits to it.
    pub fn to_trie_account(&self, storage_root: B256) -> TrieAccount {
        TrieAccount::new(self.nonce, self.balance, storage_root, self.code_hash)
    }
}
