//! ethereum/tests TrieTests through the incremental single-trie path (`trie_root`).

use crate::common::{hex_bytes, read_json};
use alloy_primitives::{B256, keccak256};
use alloy_trie::{BranchNodeCompact, HashBuilder, Nibbles};
use chainstore_trie::{
    memory::{MapCursor, apply_nodes},
    trie_root,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// A trie of raw values whose stored nodes persist between batches.
#[derive(Default)]
struct RawTrie {
    leaves: BTreeMap<B256, Vec<u8>>,
    nodes: BTreeMap<Nibbles, BranchNodeCompact>,
}

impl RawTrie {
    fn apply(&mut self, batch: &[(B256, Option<Vec<u8>>)]) -> B256 {
        for (key, value) in batch {
            match value {
                Some(value) => self.leaves.insert(*key, value.clone()),
                None => self.leaves.remove(key),
            };
        }
        let keys = batch.iter().map(|(key, _)| *key);
        let mut nodes = MapCursor::new(&self.nodes);
        let (root, updates) =
            trie_root(&mut nodes, &mut MapCursor::new(&self.leaves), keys).expect("trie root");
        apply_nodes(&mut self.nodes, &updates);
        root
    }
}

/// `0x…` is hex, anything else raw UTF-8 (hex-encoded files: always hex).
fn bytes(text: &str, hex_encoded: bool) -> Vec<u8> {
    if hex_encoded || text.starts_with("0x") { hex_bytes(text) } else { text.as_bytes().to_vec() }
}

/// The vector's operations in order: key bytes and value (`None` = delete).
fn operations(test: &Value) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let hex = test.get("hexEncoded").and_then(Value::as_bool).unwrap_or(false);
    let pair = |key: &str, value: &Value| {
        let value = value.as_str().filter(|v| !v.is_empty()).map(|v| bytes(v, hex));
        (bytes(key, hex), value)
    };
    match &test["in"] {
        Value::Array(items) => {
            items.iter().map(|item| pair(item[0].as_str().unwrap(), &item[1])).collect()
        }
        Value::Object(map) => map.iter().map(|(key, value)| pair(key, value)).collect(),
        other => panic!("unexpected `in`: {other}"),
    }
}

fn expected_root(test: &Value) -> B256 {
    B256::from_slice(&hex_bytes(test["root"].as_str().unwrap()))
}

/// Runs a vector with one batch per operation (persisting nodes between batches), then again
/// as a single batch, and for order-free vectors in reverse order too.
fn check_incremental(name: &str, ops: &[(B256, Option<Vec<u8>>)], expected: B256, any_order: bool) {
    let mut trie = RawTrie::default();
    let mut root = trie.apply(&[]);
    for op in ops {
        root = trie.apply(std::slice::from_ref(op));
    }
    assert_eq!(root, expected, "{name}: one operation per batch");
    // One batch: a later operation on a key overrides an earlier one.
    let last: BTreeMap<B256, Option<Vec<u8>>> = ops.iter().cloned().collect();
    let batch: Vec<_> = last.into_iter().collect();
    assert_eq!(RawTrie::default().apply(&batch), expected, "{name}: one batch");
    if any_order {
        let mut reversed = RawTrie::default();
        for op in ops.iter().rev() {
            root = reversed.apply(std::slice::from_ref(op));
        }
        assert_eq!(root, expected, "{name}: reverse order");
    }
}

fn run_secure_file(file: &str, any_order: bool) -> usize {
    let tests = read_json(&format!("ethereum-trie-tests/{file}"));
    let tests = tests.as_object().unwrap();
    for (name, test) in tests {
        let ops: Vec<_> =
            operations(test).into_iter().map(|(key, value)| (keccak256(&key), value)).collect();
        check_incremental(&format!("{file}/{name}"), &ops, expected_root(test), any_order);
    }
    tests.len()
}

#[test]
fn secure_trie_vectors_ordered_with_deletions() {
    assert_eq!(run_secure_file("trietest_secureTrie.json", false), 3);
}

#[test]
fn secure_trie_vectors_any_order() {
    assert_eq!(run_secure_file("trieanyorder_secureTrie.json", true), 7);
}

#[test]
fn hex_encoded_secure_trie_vectors() {
    assert_eq!(run_secure_file("hex_encoded_securetrie_test.json", true), 3);
}

/// Whether some key is a proper prefix of another: such a trie needs values in branch nodes,
/// which fixed-length (hashed) keys never produce and alloy-trie does not encode.
fn has_prefix_keys(keys: &[Vec<u8>]) -> bool {
    keys.iter().any(|a| keys.iter().any(|b| a != b && b.starts_with(a)))
}

/// Plain (unhashed) tries. Vectors with 32-byte keys run through the incremental engine like
/// the secure ones. Vectors with other prefix-free keys are checked against alloy-trie's
/// `HashBuilder`, the hashing layer the engine uses, as the engine's leaves are 32-byte keys.
/// Vectors whose keys are prefixes of one another are listed as out of scope.
fn run_plain_file(file: &str, any_order: bool) -> Vec<String> {
    let tests = read_json(&format!("ethereum-trie-tests/{file}"));
    let mut out_of_scope = Vec::new();
    for (name, test) in tests.as_object().unwrap() {
        let ops = operations(test);
        let keys: Vec<Vec<u8>> = ops.iter().map(|(key, _)| key.clone()).collect();
        if has_prefix_keys(&keys) {
            out_of_scope.push(name.clone());
        } else if keys.iter().all(|key| key.len() == 32) {
            let ops: Vec<_> =
                ops.into_iter().map(|(key, value)| (B256::from_slice(&key), value)).collect();
            check_incremental(&format!("{file}/{name}"), &ops, expected_root(test), any_order);
        } else {
            let last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = ops.into_iter().collect();
            let mut builder = HashBuilder::default();
            for (key, value) in last.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))) {
                builder.add_leaf(Nibbles::unpack(key), value);
            }
            assert_eq!(builder.root(), expected_root(test), "{file}/{name}");
        }
    }
    // serde_json keeps file order when a crate of the build enables `preserve_order`.
    out_of_scope.sort();
    out_of_scope
}

#[test]
fn plain_trie_vectors_ordered_with_deletions() {
    let out_of_scope = run_plain_file("trietest.json", false);
    assert_eq!(out_of_scope, ["branch-value-update", "emptyValues", "insert-middle-leaf"]);
}

#[test]
fn plain_trie_vectors_any_order() {
    let out_of_scope = run_plain_file("trieanyorder.json", true);
    assert_eq!(out_of_scope, ["dogs", "foo", "puppy", "smallValues", "testy"]);
}
