//! Computes one trie's root from its stored nodes and its sorted leaves.

use crate::{
    TrieError,
    cursor::{HashedCursor, TrieCursor},
    prefix_set::PrefixSet,
    walker::{ReusedHash, walk},
};
use alloy_primitives::B256;
use alloy_trie::{
    BranchNodeCompact, HashBuilder, Nibbles,
    proof::{ProofNodes, ProofRetainer},
};
use std::collections::BTreeMap;

/// Node changes of one trie, keyed by nibble path: `Some` = write this node, `None` = delete.
pub type NodeUpdates = BTreeMap<Nibbles, Option<BranchNodeCompact>>;

/// Result of computing one trie.
#[derive(Debug, Default)]
pub(crate) struct TrieRun {
    pub(crate) root: B256,
    pub(crate) updates: NodeUpdates,
    pub(crate) proof_nodes: ProofNodes,
}

/// Encodes one leaf value into its RLP.
pub(crate) type LeafEncoder<'e, V> =
    dyn FnMut(&B256, &V, &mut Vec<u8>) -> Result<(), TrieError> + 'e;

/// Computes the root of one trie after a change.
///
/// `nodes` reads the stored nodes as of before the change, `leaves` the leaves as of after it;
/// `changed` holds every key whose leaf changed (plus proof targets). With `proof_targets`, the
/// nodes on the paths to those keys are retained.
pub(crate) fn compute_trie<T: TrieCursor, H: HashedCursor>(
    nodes: &mut T,
    leaves: &mut H,
    changed: &PrefixSet,
    proof_targets: Option<Vec<Nibbles>>,
    encode: &mut LeafEncoder<'_, H::Value>,
) -> Result<TrieRun, TrieError> {
    if changed.is_empty()
        && proof_targets.is_none()
        && let Some(root) = stored_root(nodes)?
    {
        return Ok(TrieRun { root, ..TrieRun::default() });
    }
    let walk = walk(nodes, changed)?;
    let mut builder = HashBuilder::default().with_updates(true);
    if let Some(targets) = proof_targets {
        builder = builder.with_proof_retainer(ProofRetainer::new(targets));
    }
    feed(&mut builder, leaves, &walk.reused, encode)?;
    let root = builder.root();
    let proof_nodes = builder.take_proof_nodes();
    let (_, built) = builder.split();
    let mut updates: NodeUpdates = walk.visited.into_iter().map(|path| (path, None)).collect();
    updates.extend(built.into_iter().map(|(path, node)| (path, Some(node))));
    Ok(TrieRun { root, updates, proof_nodes })
}

/// The root hash kept in the stored root node, if there is one.
pub(crate) fn stored_root<T: TrieCursor>(nodes: &mut T) -> Result<Option<B256>, TrieError> {
    let root = nodes.seek(&Nibbles::default())?;
    Ok(root.filter(|(path, _)| path.is_empty()).and_then(|(_, node)| node.root_hash))
}

/// Feeds the hash builder, in key order, the reused subtree hashes and every leaf outside them.
fn feed<H: HashedCursor>(
    builder: &mut HashBuilder,
    leaves: &mut H,
    reused: &[ReusedHash],
    encode: &mut LeafEncoder<'_, H::Value>,
) -> Result<(), TrieError> {
    let mut buf = Vec::with_capacity(128);
    let mut from = Some(B256::ZERO);
    for subtree in reused {
        let start = lowest_key(&subtree.path);
        if let Some(gap_start) = from.filter(|f| *f < start) {
            add_leaves(builder, leaves, gap_start, Some(start), encode, &mut buf)?;
        }
        builder.add_branch(subtree.path, subtree.hash, subtree.stored);
        from = subtree.path.increment().map(|next| lowest_key(&next));
    }
    if let Some(gap_start) = from {
        add_leaves(builder, leaves, gap_start, None, encode, &mut buf)?;
    }
    Ok(())
}

/// Adds the leaves with keys in `[from, to)` (`to = None`: to the end).
fn add_leaves<H: HashedCursor>(
    builder: &mut HashBuilder,
    leaves: &mut H,
    from: B256,
    to: Option<B256>,
    encode: &mut LeafEncoder<'_, H::Value>,
    buf: &mut Vec<u8>,
) -> Result<(), TrieError> {
    let mut entry = leaves.seek(from)?;
    let mut previous: Option<B256> = None;
    while let Some((key, value)) = entry {
        if to.is_some_and(|end| key >= end) {
            break;
        }
        if key < from || previous.is_some_and(|p| key <= p) {
            return Err(TrieError::cursor(OutOfOrder(key)));
        }
        previous = Some(key);
        buf.clear();
        encode(&key, &value, buf)?;
        builder.add_leaf(Nibbles::unpack(key), buf);
        entry = leaves.next()?;
    }
    Ok(())
}

/// The smallest 32-byte key under `path`.
fn lowest_key(path: &Nibbles) -> B256 {
    let mut key = B256::ZERO;
    path.pack_to(key.as_mut_slice());
    key
}

/// A leaf cursor returned keys out of order.
#[derive(Debug, thiserror::Error)]
#[error("leaf cursor returned key {0} out of order")]
struct OutOfOrder(B256);

/// Computes, incrementally, the root of a single trie with 32-byte keys and raw leaf values
/// (for example a secure trie of arbitrary data), and the node updates to persist.
///
/// `nodes` reads the stored nodes as of before the change, `leaves` the leaves after it, and
/// `changed` lists every key whose leaf was inserted, updated or deleted. Each value is stored
/// in its leaf as is; an empty value is not allowed (delete the key instead).
pub fn trie_root<T, H>(
    nodes: &mut T,
    leaves: &mut H,
    changed: impl IntoIterator<Item = B256>,
) -> Result<(B256, NodeUpdates), TrieError>
where
    T: TrieCursor,
    H: HashedCursor,
    H::Value: AsRef<[u8]>,
{
    let changed = PrefixSet::new(changed.into_iter().map(Nibbles::unpack).collect());
    let mut encode = |key: &B256, value: &H::Value, buf: &mut Vec<u8>| {
        if value.as_ref().is_empty() {
            return Err(TrieError::cursor(EmptyValue(*key)));
        }
        buf.extend_from_slice(value.as_ref());
        Ok(())
    };
    let run = compute_trie(nodes, leaves, &changed, None, &mut encode)?;
    Ok((run.root, run.updates))
}

/// A leaf cursor returned an empty value.
#[derive(Debug, thiserror::Error)]
#[error("leaf {0} has an empty value; delete the key instead")]
struct EmptyValue(B256);
