//! The crate's error type.

use alloy_primitives::B256;

/// Errors returned by root computation, proof generation and proof verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrieError {
    /// A cursor implementation (the storage layer underneath) failed.
    #[error("trie cursor failed: {0}")]
    Cursor(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A stored branch node could not be decoded, or contradicts the trie shape.
    #[error("corrupt trie node at path {path}: {detail}; run `chainstore verify` to locate damage")]
    CorruptNode {
        /// Nibble path of the node, in hex (one character per nibble).
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// A proof did not verify against the given root.
    #[error("proof for key {key} does not verify against root {root}: {detail}")]
    InvalidProof {
        /// The root the proof was checked against.
        root: B256,
        /// The hashed key (`keccak256(address)` or `keccak256(slot)`) being proven.
        key: B256,
        /// Why it was rejected.
        detail: String,
    },
}

impl TrieError {
    /// Wraps an error from a cursor implementation.
    pub fn cursor(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Cursor(Box::new(error))
    }
}
