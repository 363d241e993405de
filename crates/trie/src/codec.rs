//! Byte encodings of stored-node keys (nibble paths) and values (branch nodes).
//!
//! Both are what a storage layer writes into its ordered tables; see `docs/trie.md`.

use crate::TrieError;
use alloy_primitives::B256;
use alloy_trie::{BranchNodeCompact, Nibbles, TrieMask};

/// Version byte that starts every encoded [`BranchNodeCompact`].
pub const NODE_FORMAT_VERSION: u8 = 1;

const HEADER_LEN: usize = 1 + 2 + 2 + 2 + 1;

/// Encodes a nibble path as one byte per nibble (values `0..=15`).
///
/// Byte order of encoded paths equals trie order: a path sorts before every path it is a
/// prefix of, and siblings sort by nibble. The empty path (the root) encodes to no bytes.
pub fn encode_path(path: &Nibbles) -> Vec<u8> {
    path.to_vec()
}

/// Decodes a path written by [`encode_path`].
pub fn decode_path(bytes: &[u8]) -> Result<Nibbles, TrieError> {
    if bytes.len() > 64 || bytes.iter().any(|b| *b > 0x0f) {
        return Err(corrupt_path(bytes, "a path is at most 64 bytes, each a nibble 0..=15"));
    }
    Ok(Nibbles::from_nibbles_unchecked(bytes))
}

/// Encodes a stored branch node.
///
/// Layout (big-endian): version `u8` = 1, `state_mask u16`, `tree_mask u16`, `hash_mask u16`,
/// flag `u8` (1 if a root hash follows, else 0), then the optional 32-byte root hash, then one
/// 32-byte hash per bit set in `hash_mask`, in nibble order.
pub fn encode_node(node: &BranchNodeCompact) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 32 * (node.hashes.len() + 1));
    out.push(NODE_FORMAT_VERSION);
    for mask in [node.state_mask, node.tree_mask, node.hash_mask] {
        out.extend_from_slice(&mask.get().to_be_bytes());
    }
    out.push(u8::from(node.root_hash.is_some()));
    if let Some(root) = node.root_hash {
        out.extend_from_slice(root.as_slice());
    }
    for hash in node.hashes.iter() {
        out.extend_from_slice(hash.as_slice());
    }
    out
}

/// Decodes a node written by [`encode_node`], checking that it is well formed.
pub fn decode_node(bytes: &[u8]) -> Result<BranchNodeCompact, TrieError> {
    let bad = |detail: &str| corrupt_node(bytes, detail);
    if bytes.len() < HEADER_LEN {
        return Err(bad("shorter than the 8-byte header"));
    }
    if bytes[0] != NODE_FORMAT_VERSION {
        return Err(bad("unknown node format version (written by a newer chainstore?)"));
    }
    let mask = |i: usize| TrieMask::new(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
    let (state_mask, tree_mask, hash_mask) = (mask(1), mask(3), mask(5));
    if !tree_mask.is_subset_of(state_mask) || !hash_mask.is_subset_of(state_mask) {
        return Err(bad("tree or hash mask is not a subset of the state mask"));
    }
    let has_root = match bytes[7] {
        0 => false,
        1 => true,
        _ => return Err(bad("root-hash flag is neither 0 nor 1")),
    };
    let rest = &bytes[HEADER_LEN..];
    let hash_count = hash_mask.count_ones() as usize + usize::from(has_root);
    if rest.len() != 32 * hash_count {
        return Err(bad("hash count does not match the hash mask"));
    }
    let mut hashes: Vec<B256> = rest.chunks_exact(32).map(B256::from_slice).collect();
    let root_hash = if has_root { Some(hashes.remove(0)) } else { None };
    Ok(BranchNodeCompact::new(state_mask, tree_mask, hash_mask, hashes, root_hash))
}

/// Renders a path as one hex character per nibble (for messages).
pub(crate) fn path_hex(path: &Nibbles) -> String {
    path.iter().map(|n| char::from_digit(u32::from(n), 16).unwrap_or('?')).collect()
}

fn corrupt_path(bytes: &[u8], detail: &str) -> TrieError {
    TrieError::CorruptNode { path: alloy_primitives::hex::encode(bytes), detail: detail.into() }
}

fn corrupt_node(bytes: &[u8], detail: &str) -> TrieError {
    let shown = &bytes[..bytes.len().min(16)];
    TrieError::CorruptNode {
        path: "?".into(),
        detail: format!("{detail} (node bytes start {})", alloy_primitives::hex::encode(shown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_encoding_sorts_in_trie_order() {
        let paths = [vec![], vec![1], vec![1, 0], vec![1, 0, 0], vec![1, 0xf], vec![2]];
        let encoded: Vec<Vec<u8>> =
            paths.iter().map(|p| encode_path(&Nibbles::from_nibbles(p))).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        for (p, e) in paths.iter().zip(&encoded) {
            assert_eq!(decode_path(e).unwrap(), Nibbles::from_nibbles(p));
        }
        assert!(decode_path(&[0x10]).is_err());
        assert!(decode_path(&[0; 65]).is_err());
    }

    #[test]
    fn node_round_trip_and_rejects_damage() {
        let node = BranchNodeCompact::new(
            0b1011,
            0b0001,
            0b0011,
            vec![B256::repeat_byte(1), B256::repeat_byte(2)],
            Some(B256::repeat_byte(9)),
        );
        let bytes = encode_node(&node);
        assert_eq!(bytes.len(), HEADER_LEN + 3 * 32);
        assert_eq!(decode_node(&bytes).unwrap(), node);
        assert!(decode_node(&bytes[..bytes.len() - 1]).is_err());
        let mut bad_version = bytes.clone();
        bad_version[0] = 2;
        assert!(decode_node(&bad_version).is_err());
        let mut bad_mask = bytes.clone();
        bad_mask[6] = 0b0100; // hash mask bit 2 not in state mask
        assert!(decode_node(&bad_mask).is_err());
        let mut bad_flag = bytes;
        bad_flag[7] = 7;
        assert!(decode_node(&bad_flag).is_err());
    }
}
