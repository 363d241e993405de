//! Integration tests of chainstore-trie: external vectors, scenarios and property tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failure is a test failure"
)]

mod common;
mod genesis;
mod getproof;
mod properties;
mod rlp_vectors;
mod scenarios;
mod trie_node_fuzz_check;
mod trie_node_fuzz_corpus;
mod trie_vectors;

/// The stable half of every fuzz target: corpus, seeds and mutations.
#[path = "../../../../fuzz/stable.rs"]
mod stable;
