//! Walks the stored branch nodes of one trie and finds the subtrees a change leaves intact.

use crate::{
    TrieError,
    codec::path_hex,
    cursor::{TrieCursor, seek_under},
    prefix_set::PrefixSet,
};
use alloy_primitives::B256;
use alloy_trie::{BranchNodeCompact, Nibbles};

/// An unchanged subtree whose stored hash stands in for all its leaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReusedHash {
    /// Path of the subtree's root, a branch node.
    pub(crate) path: Nibbles,
    /// Hash of that branch node.
    pub(crate) hash: B256,
    /// Whether the branch node itself is stored (its parent's tree mask bit).
    pub(crate) stored: bool,
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Reusable subtree hashes, in trie order. Every leaf outside them must be re-read.
    pub(crate) reused: Vec<ReusedHash>,
    /// Paths of the stored nodes the walk went through: they are rebuilt, or deleted if the
    /// rebuild no longer stores them.
    pub(crate) visited: Vec<Nibbles>,
}

/// Walks the stored nodes, descending only into subtrees that hold a changed key.
pub(crate) fn walk<C: TrieCursor>(cursor: &mut C, changed: &PrefixSet) -> Result<Walk, TrieError> {
    let mut walk = Walk::default();
    Walker { cursor, changed, walk: &mut walk }.region(&Nibbles::default())?;
    Ok(walk)
}

struct Walker<'a, C> {
    cursor: &'a mut C,
    changed: &'a PrefixSet,
    walk: &'a mut Walk,
}

impl<C: TrieCursor> Walker<'_, C> {
    /// Visits the topmost stored node under `prefix`, if any. In a well-formed trie there is at
    /// most one: a branch's child is a leaf, a branch, or an extension to a branch.
    fn region(&mut self, prefix: &Nibbles) -> Result<(), TrieError> {
        match seek_under(self.cursor, prefix)? {
            Some((path, node)) => self.node(path, &node),
            None => Ok(()),
        }
    }

    fn node(&mut self, path: Nibbles, node: &BranchNodeCompact) -> Result<(), TrieError> {
        check_node(&path, node)?;
        self.walk.visited.push(path);
        let changed = self.changed.child_mask(&path);
        for nibble in 0..16u8 {
            if !node.state_mask.is_bit_set(nibble) {
                continue;
            }
            let mut child = path;
            child.push(nibble);
            if node.hash_mask.is_bit_set(nibble) && changed & (1 << nibble) == 0 {
                let hash = node.hash_for_nibble(nibble);
                let stored = node.tree_mask.is_bit_set(nibble);
                self.walk.reused.push(ReusedHash { path: child, hash, stored });
            } else if node.tree_mask.is_bit_set(nibble) {
                self.region(&child)?;
            }
        }
        Ok(())
    }
}

fn check_node(path: &Nibbles, node: &BranchNodeCompact) -> Result<(), TrieError> {
    let detail = if path.len() >= 64 {
        "branch node at full key depth"
    } else if node.state_mask.count_ones() < 2 {
        "branch node with fewer than two children"
    } else if !node.tree_mask.is_subset_of(node.state_mask)
        || !node.hash_mask.is_subset_of(node.state_mask)
    {
        "tree or hash mask is not a subset of the state mask"
    } else if node.hash_mask.count_ones() as usize != node.hashes.len() {
        "hash count does not match the hash mask"
    } else {
        return Ok(());
    };
    Err(TrieError::CorruptNode { path: path_hex(path), detail: detail.into() })
}
