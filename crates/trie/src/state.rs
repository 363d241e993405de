//! The state root: storage tries first, their roots feeding the account leaves.

use crate::{
    Account, ChangeSet, TrieError, TrieUpdates,
    changes::StorageChanges,
    compute::{NodeUpdates, TrieRun, compute_trie, stored_root},
    cursor::{
        EmptyTrieCursor, HashedCursor, HashedCursorFactory, NoNodes, TrieCursor, TrieCursorFactory,
    },
    prefix_set::PrefixSet,
};
use alloy_primitives::{B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles};
use std::collections::BTreeMap;

/// The new state root and what to persist for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateRootOutput {
    /// The state root after the change.
    pub root: B256,
    /// Node writes and deletes to persist before computing the next root.
    pub updates: TrieUpdates,
    /// The new storage root of every changed account that still exists and whose storage
    /// changed (for [`rebuild_state_root`]: of every account with storage).
    pub storage_roots: BTreeMap<B256, B256>,
}

/// The cores to share storage tries over, asked once: `available_parallelism` reads the cgroup
/// files on each call (about 0.3 ms per block at 1M accounts in a profile).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Computes the state root after `changes`, incrementally.
///
/// `nodes` must hold the stored nodes as of the previous root (empty for an empty state) and
/// `state` the flat hashed state after the change. Only the paths of changed keys are walked:
/// the cost is the number of changed keys times the trie depth, not the size of the state.
///
/// The changed storage tries are computed in parallel (one share per available core, each a
/// contiguous run of the changed accounts with about the same number of changed slots), then
/// the account trie, which needs their roots.
pub fn state_root<N, S>(
    nodes: &N,
    state: &S,
    changes: &ChangeSet,
) -> Result<StateRootOutput, TrieError>
where
    N: TrieCursorFactory + Sync,
    S: HashedCursorFactory + Sync,
{
    let (storage_roots, storage_nodes) = parallel_storage_tries(nodes, state, changes, cores())?;
    let mut updates = TrieUpdates { storage_nodes, ..TrieUpdates::default() };
    let changed = PrefixSet::new(changes.accounts.iter().map(Nibbles::unpack).collect());
    let changed_roots = StorageRootsOf::Changed(&storage_roots);
    let run = account_trie(nodes, state, &changed, None, &changed_roots)?;
    updates.account_nodes = run.updates;
    tracing::debug!(
        target: "chainstore::trie",
        root = %run.root,
        changed_accounts = changes.accounts.len(),
        changed_storage_tries = changes.storages.len(),
        node_updates = updates.len(),
        "state root computed"
    );
    Ok(StateRootOutput { root: run.root, updates, storage_roots })
}

/// Storage roots by hashed address.
pub(crate) type StorageRoots = BTreeMap<B256, B256>;

/// Computes the storage tries of the changed accounts (all but `skip`): the new storage roots
/// of those that exist, and the node updates (every node deleted for those that do not).
pub(crate) fn changed_storage_tries<N, S>(
    nodes: &N,
    state: &S,
    changes: &ChangeSet,
    skip: Option<B256>,
) -> Result<(StorageRoots, BTreeMap<B256, NodeUpdates>), TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let accounts: Vec<B256> =
        changes.accounts.iter().filter(|a| Some(**a) != skip).copied().collect();
    storage_tries_of(nodes, state, changes, &accounts)
}

/// Below this many changed slots in all, the storage tries are computed on the calling thread:
/// starting threads would cost more than they save.
const PARALLEL_MIN_SLOTS: usize = 256;

/// [`changed_storage_tries`] (none skipped) split over up to `threads` threads.
pub(crate) fn parallel_storage_tries<N, S>(
    nodes: &N,
    state: &S,
    changes: &ChangeSet,
    threads: usize,
) -> Result<(StorageRoots, BTreeMap<B256, NodeUpdates>), TrieError>
where
    N: TrieCursorFactory + Sync,
    S: HashedCursorFactory + Sync,
{
    let accounts: Vec<B256> = changes.accounts.iter().copied().collect();
    // Work per account: a seek to check that it exists, plus its changed slots.
    let weight = |a: &B256| 1 + changes.storages.get(a).map_or(0, |s| s.slots.len());
    let total: usize = accounts.iter().map(weight).sum();
    let slots = total - accounts.len();
    // At least half the threshold's slots per thread.
    let threads = threads.min(slots / (PARALLEL_MIN_SLOTS / 2));
    if threads < 2 {
        return storage_tries_of(nodes, state, changes, &accounts);
    }
    // Contiguous shares, so that each thread's account cursor only moves forward.
    let mut shares = Vec::with_capacity(threads);
    let (mut start, mut acc) = (0, 0);
    for (i, a) in accounts.iter().enumerate() {
        acc += weight(a);
        if acc * threads >= total * (shares.len() + 1) && shares.len() + 1 < threads {
            shares.push(&accounts[start..=i]);
            start = i + 1;
        }
    }
    shares.push(&accounts[start..]);
    let results = std::thread::scope(|scope| {
        let (first, rest) = shares.split_first().expect("at least one share");
        let handles: Vec<_> = rest
            .iter()
            .map(|share| scope.spawn(move || storage_tries_of(nodes, state, changes, share)))
            .collect();
        let mut results = vec![storage_tries_of(nodes, state, changes, first)];
        for handle in handles {
            results.push(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    });
    let (mut roots, mut updates) = (BTreeMap::new(), BTreeMap::new());
    for result in results {
        let (r, u) = result?;
        roots.extend(r);
        updates.extend(u);
    }
    Ok((roots, updates))
}

/// The storage tries of `accounts` (sorted, all changed): see [`changed_storage_tries`].
fn storage_tries_of<N, S>(
    nodes: &N,
    state: &S,
    changes: &ChangeSet,
    accounts: &[B256],
) -> Result<(StorageRoots, BTreeMap<B256, NodeUpdates>), TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let (mut roots, mut updates) = (BTreeMap::new(), BTreeMap::new());
    let mut cursor = state.hashed_account_cursor()?;
    for hashed_address in accounts {
        let storage_updates = if account_exists(&mut cursor, *hashed_address)? {
            let Some(storage) = changes.storages.get(hashed_address) else { continue };
            let run = storage_trie(nodes, state, *hashed_address, storage, None)?;
            roots.insert(*hashed_address, run.root);
            run.updates
        } else {
            all_nodes(&mut nodes.storage_trie_cursor(*hashed_address)?)?
        };
        if !storage_updates.is_empty() {
            updates.insert(*hashed_address, storage_updates);
        }
    }
    Ok((roots, updates))
}

/// Computes the state root from the flat state alone, ignoring any stored node, and returns
/// every node the trie stores (all as writes) and the storage root of every account with
/// storage.
///
/// For importing a state into an empty store (genesis, snapshots) and for integrity checks
/// (compare the root and the nodes with what is stored). Costs a pass over the whole state.
pub fn rebuild_state_root<S: HashedCursorFactory>(state: &S) -> Result<StateRootOutput, TrieError> {
    let mut updates = TrieUpdates::default();
    let mut storage_roots = BTreeMap::new();
    let mut accounts = state.hashed_account_cursor()?;
    let mut entry = accounts.seek(B256::ZERO)?;
    while let Some((hashed_address, _)) = entry {
        let unchanged = StorageChanges::default();
        let run = storage_trie(&NoNodes, state, hashed_address, &unchanged, None)?;
        if run.root != EMPTY_ROOT_HASH {
            storage_roots.insert(hashed_address, run.root);
        }
        if !run.updates.is_empty() {
            updates.storage_nodes.insert(hashed_address, run.updates);
        }
        entry = accounts.next()?;
    }
    let all = StorageRootsOf::All(&storage_roots);
    let run = account_trie(&NoNodes, state, &PrefixSet::default(), None, &all)?;
    updates.account_nodes = run.updates;
    Ok(StateRootOutput { root: run.root, updates, storage_roots })
}

/// The storage roots the account trie is given.
pub(crate) enum StorageRootsOf<'a> {
    /// Of the accounts whose storage changed; the others' are looked up or derived.
    Changed(&'a BTreeMap<B256, B256>),
    /// Of every account with storage (a rebuild): an account not listed has none.
    All(&'a BTreeMap<B256, B256>),
}

/// Computes the account trie with the given changed keys and storage roots.
pub(crate) fn account_trie<N, S>(
    nodes: &N,
    state: &S,
    changed: &PrefixSet,
    proof_targets: Option<Vec<Nibbles>>,
    storage_roots: &StorageRootsOf<'_>,
) -> Result<TrieRun, TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let mut encode = |hashed_address: &B256, account: &Account, buf: &mut Vec<u8>| {
        let storage_root = match storage_roots {
            StorageRootsOf::Changed(roots) => match roots.get(hashed_address) {
                Some(root) => *root,
                None => unchanged_storage_root(nodes, state, *hashed_address)?,
            },
            StorageRootsOf::All(roots) => {
                roots.get(hashed_address).copied().unwrap_or(EMPTY_ROOT_HASH)
            }
        };
        account.to_trie_account(storage_root).encode(buf);
        Ok(())
    };
    let mut trie_nodes = nodes.account_trie_cursor()?;
    let mut leaves = state.hashed_account_cursor()?;
    compute_trie(&mut trie_nodes, &mut leaves, changed, proof_targets, &mut encode)
}

/// Computes one account's storage trie after `changes`.
pub(crate) fn storage_trie<N, S>(
    nodes: &N,
    state: &S,
    hashed_address: B256,
    changes: &StorageChanges,
    proof_targets: Option<Vec<Nibbles>>,
) -> Result<TrieRun, TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let mut keys: Vec<Nibbles> = changes.slots.iter().map(Nibbles::unpack).collect();
    keys.extend(proof_targets.iter().flatten().copied());
    let changed = PrefixSet::new(keys);
    let mut leaves = state.hashed_storage_cursor(hashed_address)?;
    let mut trie_nodes = nodes.storage_trie_cursor(hashed_address)?;
    if !changes.wiped {
        return compute_trie(
            &mut trie_nodes,
            &mut leaves,
            &changed,
            proof_targets,
            &mut encode_slot,
        );
    }
    let removed = all_nodes(&mut trie_nodes)?;
    let mut run =
        compute_trie(&mut EmptyTrieCursor, &mut leaves, &changed, proof_targets, &mut encode_slot)?;
    for (path, _) in removed {
        run.updates.entry(path).or_insert(None);
    }
    Ok(run)
}

/// The storage root of an account whose storage did not change.
fn unchanged_storage_root<N, S>(
    nodes: &N,
    state: &S,
    hashed_address: B256,
) -> Result<B256, TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    if let Some(root) = state.known_storage_root(hashed_address)? {
        return Ok(root);
    }
    if let Some(root) = stored_root(&mut nodes.storage_trie_cursor(hashed_address)?)? {
        return Ok(root);
    }
    if state.hashed_storage_cursor(hashed_address)?.seek(B256::ZERO)?.is_none() {
        return Ok(EMPTY_ROOT_HASH);
    }
    let unchanged = StorageChanges::default();
    Ok(storage_trie(nodes, state, hashed_address, &unchanged, None)?.root)
}

fn encode_slot(_key: &B256, value: &U256, buf: &mut Vec<u8>) -> Result<(), TrieError> {
    if value.is_zero() {
        return Err(TrieError::cursor(ZeroSlot));
    }
    value.encode(buf);
    Ok(())
}

/// A storage cursor yielded a zero value, which the flat state must not hold.
#[derive(Debug, thiserror::Error)]
#[error("flat storage holds a zero value; zero means absent and must be deleted")]
struct ZeroSlot;

/// Whether the flat state holds the account.
pub(crate) fn account_exists<C: HashedCursor>(
    cursor: &mut C,
    hashed: B256,
) -> Result<bool, TrieError> {
    Ok(cursor.seek(hashed)?.is_some_and(|(key, _)| key == hashed))
}

/// Deletes of every stored node of a trie.
fn all_nodes<C: TrieCursor>(cursor: &mut C) -> Result<NodeUpdates, TrieError> {
    let mut removed = NodeUpdates::new();
    let mut entry = cursor.seek(&Nibbles::default())?;
    while let Some((path, _)) = entry {
        removed.insert(path, None);
        entry = cursor.next()?;
    }
    Ok(removed)
}

/// The root of an empty trie.
pub const EMPTY_TRIE_ROOT: B256 = EMPTY_ROOT_HASH;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use crate::{MemoryState, MemoryTrieNodes};
    use alloy_primitives::{Address, U256};

    fn account(nonce: u64) -> Account {
        Account { nonce, balance: U256::from(nonce), ..Account::default() }
    }

    /// Splitting the storage tries over threads gives exactly the sequential result, for every
    /// share count, including accounts created, emptied and deleted in the same change set.
    #[test]
    fn parallel_storage_tries_equal_the_sequential_ones() {
        let (mut state, mut nodes) = (MemoryState::new(), MemoryTrieNodes::new());
        let address = |i: u64| Address::left_padding_from(&i.to_be_bytes());
        let slot = |j: u64| B256::left_padding_from(&j.to_be_bytes());
        for i in 0..80 {
            state.set_account(address(i), account(i));
            for j in 0..(i % 7) * 10 {
                state.set_storage(address(i), slot(j), U256::from(i * 1000 + j + 1));
            }
        }
        let changes = state.take_changes();
        let out = state_root(&nodes, &state, &changes).unwrap();
        nodes.apply(&out.updates);
        // A block touching most accounts: new slots, cleared slots, a deleted account, new ones.
        for i in 0..100 {
            if i == 13 {
                state.remove_account(address(i));
                continue;
            }
            state.set_account(address(i), account(i + 1));
            for j in 0..(i % 5) * 12 {
                let value = if j % 4 == 0 { U256::ZERO } else { U256::from(i * 7 + j + 1) };
                state.set_storage(address(i), slot(j + i % 3), value);
            }
        }
        let changes = state.take_changes();
        let slots: usize = changes.storages.values().map(|s| s.slots.len()).sum();
        assert!(slots >= PARALLEL_MIN_SLOTS * 2, "the change set must be large enough to split");
        let sequential = changed_storage_tries(&nodes, &state, &changes, None).unwrap();
        for threads in 1..=5 {
            let parallel = parallel_storage_tries(&nodes, &state, &changes, threads).unwrap();
            assert_eq!(parallel, sequential, "{threads} threads");
        }
        let incremental = state_root(&nodes, &state, &changes).unwrap();
        assert_eq!(incremental.root, rebuild_state_root(&state).unwrap().root);
    }
}
