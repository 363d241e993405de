//! Ethereum Merkle Patricia Trie over cursor traits: incremental state roots and EIP-1186
//! proofs.
//!
//! The crate knows nothing of files. It reads two things through cursors:
//!
//! - the **flat hashed state** after a change ([`HashedCursorFactory`]): accounts keyed by
//!   `keccak256(address)`, storage keyed by `keccak256(address)` then `keccak256(slot)`, which
//!   gives the leaves in trie order;
//! - the **stored branch nodes** as of the previous root ([`TrieCursorFactory`]), keyed by
//!   nibble path ([`encode_path`]) in alloy-trie's compact form ([`BranchNodeCompact`]).
//!
//! Given the keys a block changed ([`ChangeSet`]), [`state_root`] walks only the paths of those
//! keys, reuses the stored hash of every untouched subtree, recomputes the changed storage
//! tries first and feeds their roots into the account leaves, and returns the new root with the
//! node writes and deletes to persist ([`TrieUpdates`]). [`rebuild_state_root`] does one pass
//! over a whole flat state instead (import, integrity checks). [`account_proof`] builds an
//! EIP-1186 proof (present or absent account and slots), [`account_proof_with_changes`] one
//! against an older flat state, and [`verify_account_proof`] checks one. Undoing blocks is a
//! [`state_root`] over the reverted keys after reverting the flat state.
//! Hashing, node encoding and proof checking are alloy-trie's; see `docs/trie.md`.
//!
//! # Example
//!
//! ```
//! use alloy_primitives::{Address, B256, U256};
//! use chainstore_trie::{
//!     Account, EMPTY_TRIE_ROOT, MemoryState, MemoryTrieNodes, account_proof, state_root,
//!     verify_account_proof,
//! };
//!
//! let (mut state, mut nodes) = (MemoryState::new(), MemoryTrieNodes::new());
//! let alice = Address::repeat_byte(0xa1);
//! state.set_account(alice, Account { nonce: 1, balance: U256::from(10), ..Account::default() });
//! state.set_storage(alice, B256::with_last_byte(1), U256::from(42));
//!
//! // One block: compute the root from the changed keys, then persist the node updates.
//! let changes = state.take_changes();
//! let out = state_root(&nodes, &state, &changes)?;
//! nodes.apply(&out.updates);
//! assert_ne!(out.root, EMPTY_TRIE_ROOT);
//!
//! // Prove the account, one present slot and one absent slot.
//! let slots = [B256::with_last_byte(1), B256::with_last_byte(2)];
//! let proof = account_proof(&nodes, &state, alice, &slots)?;
//! let proven = verify_account_proof(out.root, &proof)?;
//! assert_eq!(proven.account.map(|a| a.nonce), Some(1));
//! assert_eq!(proven.storage, vec![(slots[0], U256::from(42)), (slots[1], U256::ZERO)]);
//! # Ok::<(), chainstore_trie::TrieError>(())
//! ```

mod account;
mod builder;
mod changes;
mod codec;
mod compute;
mod cursor;
mod error;
mod json;
pub mod memory;
mod prefix_set;
mod proof;
mod state;
mod verify;
mod walker;

pub use account::Account;
pub use alloy_trie::{BranchNodeCompact, Nibbles, TrieAccount, TrieMask};
pub use builder::TrieBuilder;
pub use changes::{ChangeSet, TrieUpdates};
pub use codec::{NODE_FORMAT_VERSION, decode_node, decode_path, encode_node, encode_path};
pub use compute::{NodeUpdates, trie_root};
pub use cursor::{HashedCursor, HashedCursorFactory, StoredNode, TrieCursor, TrieCursorFactory};
pub use error::TrieError;
pub use memory::{MemoryState, MemoryTrieNodes};
pub use proof::{AccountProof, StorageProof, account_proof, account_proof_with_changes};
pub use state::{EMPTY_TRIE_ROOT, StateRootOutput, rebuild_state_root, state_root};
pub use verify::{VerifiedAccount, verify_account_proof, verify_storage_proof};
