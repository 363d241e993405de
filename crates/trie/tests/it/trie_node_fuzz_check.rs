//! The trie's node decoders on arbitrary bytes: the entry point of the `trie_node` fuzz target
//! (`fuzz/fuzz_targets/trie_node.rs` includes this file) and of the stable test
//! `trie_node_fuzz_corpus`.
//!
//! The first byte selects what the rest is (modulo 3):
//!
//! - 0: a stored branch node (`decode_node`, the values of the `account_trie` and `storage_trie`
//!   tables): it must re-encode to the same bytes;
//! - 1: a stored node path (`decode_path`, their keys): likewise;
//! - 2: a storage proof, `slot (32) ‖ value (32) ‖ nodes` with each node as a `u16` LE length
//!   and its bytes ([`proof_input`]), verified against the hash of its first node (so the
//!   verifier always decodes that node): it must never prove the slot both present with a
//!   non-zero value and absent.
//!
//! Only the public API is used. A broken invariant panics, which is what a fuzzer reports.

use alloy_primitives::{B256, Bytes, U256, keccak256};
use chainstore_trie::{
    EMPTY_TRIE_ROOT, StorageProof, decode_node, decode_path, encode_node, encode_path,
    verify_storage_proof,
};

/// Selector of a stored branch node.
pub(crate) const NODE: u8 = 0;
/// Selector of a node path.
pub(crate) const PATH: u8 = 1;
/// Selector of a storage proof.
pub(crate) const PROOF: u8 = 2;

/// Decodes the rest of `data` as its first byte says (see the module docs).
pub(crate) fn check(data: &[u8]) -> &'static str {
    let Some((&selector, rest)) = data.split_first() else { return "empty" };
    match selector % 3 {
        NODE => node(rest),
        PATH => path(rest),
        _ => proof(rest),
    }
}

fn node(bytes: &[u8]) -> &'static str {
    match decode_node(bytes) {
        Ok(node) => {
            assert!(node.tree_mask.is_subset_of(node.state_mask), "tree mask outside the state");
            assert!(node.hash_mask.is_subset_of(node.state_mask), "hash mask outside the state");
            assert_eq!(node.hashes.len(), node.hash_mask.count_ones() as usize, "hash count");
            assert_eq!(encode_node(&node), bytes, "node decode/encode differ");
            "node"
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            "bad node"
        }
    }
}

fn path(bytes: &[u8]) -> &'static str {
    match decode_path(bytes) {
        Ok(path) => {
            assert!(path.len() <= 64, "a path of {} nibbles", path.len());
            assert_eq!(encode_path(&path), bytes, "path decode/encode differ");
            "path"
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            "bad path"
        }
    }
}

fn proof(bytes: &[u8]) -> &'static str {
    let Some((slot, value, nodes)) = parse_proof_input(bytes) else { return "short proof" };
    let root = nodes.first().map_or(EMPTY_TRIE_ROOT, keccak256);
    let claimed = StorageProof { key: slot, value, proof: nodes };
    let absent = StorageProof { value: U256::ZERO, ..claimed.clone() };
    let claimed = verify_storage_proof(root, &claimed);
    let absent = verify_storage_proof(root, &absent);
    if !value.is_zero() {
        assert!(
            claimed.is_err() || absent.is_err(),
            "one proof shows slot {slot} holding {value} and absent"
        );
    }
    match (claimed, absent) {
        (Ok(_), _) if !value.is_zero() => "proven present",
        (_, Ok(_)) => "proven absent",
        _ => "bad proof",
    }
}

/// The input of the proof selector (without the selector byte).
pub(crate) fn proof_input(slot: B256, value: U256, nodes: &[Bytes]) -> Vec<u8> {
    let mut out = [slot.as_slice(), &value.to_be_bytes::<32>()].concat();
    for node in nodes {
        out.extend_from_slice(&(node.len() as u16).to_le_bytes());
        out.extend_from_slice(node);
    }
    out
}

/// Reads [`proof_input`]; a node cut short keeps what is there.
fn parse_proof_input(bytes: &[u8]) -> Option<(B256, U256, Vec<Bytes>)> {
    let (head, mut rest) = bytes.split_at_checked(64)?;
    let slot = B256::from_slice(&head[..32]);
    let value = U256::from_be_slice(&head[32..]);
    let mut nodes = Vec::new();
    while let Some((len, tail)) = rest.split_at_checked(2) {
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let (node, tail) = tail.split_at(len.min(tail.len()));
        nodes.push(Bytes::copy_from_slice(node));
        rest = tail;
    }
    Some((slot, value, nodes))
}
