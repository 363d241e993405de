//! Fuzz target: arbitrary bytes through the trie's node decoders (stored branch nodes, node paths,
//! storage proofs); the first byte picks one. The checks are
//! `crates/trie/tests/it/trie_node_fuzz_check.rs`, which the stable test `trie_node_fuzz_corpus`
//! runs over the corpus too.

#![no_main]

#[allow(dead_code, reason = "the seed helpers are for the stable test")]
#[path = "../../crates/trie/tests/it/trie_node_fuzz_check.rs"]
mod trie_node_fuzz_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    trie_node_fuzz_check::check(data);
});
