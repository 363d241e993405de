//! EIP-1186 (`eth_getProof`) proofs of accounts and storage slots.

use crate::{
    Account, ChangeSet, TrieError,
    changes::StorageChanges,
    cursor::{HashedCursor, HashedCursorFactory, TrieCursorFactory},
    prefix_set::PrefixSet,
    state::{StorageRootsOf, account_trie, changed_storage_tries, storage_trie},
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::EMPTY_STRING_CODE;
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, proof::ProofNodes};
use serde::{Deserialize, Serialize};

/// An account with its proof and proofs of some of its storage slots, in the shape of the
/// `eth_getProof` response (EIP-1186). An absent account has zero nonce and balance, the
/// empty code hash and the empty storage root.
///
/// Serializes to and from the JSON-RPC object (`address`, `balance`, `codeHash`, `nonce`,
/// `storageHash`, `accountProof`, `storageProof[{key, value, proof}]`), quantities as `0x` hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProof {
    /// The account's address.
    pub address: Address,
    /// Account nonce.
    #[serde(with = "crate::json::u64_quantity")]
    pub nonce: u64,
    /// Account balance.
    #[serde(with = "crate::json::u256_quantity")]
    pub balance: U256,
    /// Hash of the account's code.
    pub code_hash: B256,
    /// Root of the account's storage trie (`storageHash`).
    pub storage_hash: B256,
    /// Trie nodes from the state root down to the account (`accountProof`).
    pub account_proof: Vec<Bytes>,
    /// One proof per requested slot (`storageProof`).
    pub storage_proof: Vec<StorageProof>,
}

/// A storage slot with its proof against the account's storage root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageProof {
    /// The slot (not hashed).
    #[serde(with = "crate::json::storage_key")]
    pub key: B256,
    /// The slot's value; zero for an absent slot.
    #[serde(with = "crate::json::u256_quantity")]
    pub value: U256,
    /// Trie nodes from the storage root down to the slot.
    pub proof: Vec<Bytes>,
}

impl AccountProof {
    /// The account fields, `None` when the proof is for an absent (all-empty) account.
    pub fn account(&self) -> Option<Account> {
        let account =
            Account { nonce: self.nonce, balance: self.balance, code_hash: self.code_hash };
        let empty = account == Account::default() && self.storage_hash == EMPTY_ROOT_HASH;
        (!empty).then_some(account)
    }
}

/// Proves an account and the given storage slots, present or absent, against the current
/// state (the stored nodes must be up to date with the flat state).
pub fn account_proof<N, S>(
    nodes: &N,
    state: &S,
    address: Address,
    slots: &[B256],
) -> Result<AccountProof, TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    Ok(account_proof_with_changes(nodes, state, &ChangeSet::new(), address, slots)?.1)
}

/// Like [`account_proof`], for a flat state that differs from the stored nodes by `changes`
/// (for example the state as of an older block, with `changes` the keys changed since then:
/// historical proofs), and returns the root the proof is against.
///
/// Costs about what [`state_root`](crate::state_root) costs for `changes`, plus the proof paths.
pub fn account_proof_with_changes<N, S>(
    nodes: &N,
    state: &S,
    changes: &ChangeSet,
    address: Address,
    slots: &[B256],
) -> Result<(B256, AccountProof), TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let hashed_address = keccak256(address);
    let (mut roots, _) = changed_storage_tries(nodes, state, changes, Some(hashed_address))?;
    let account = exact(&mut state.hashed_account_cursor()?, hashed_address)?;
    let storage_changes = changes.storages.get(&hashed_address).cloned().unwrap_or_default();
    let (storage_hash, storage_proof) = match account {
        Some(_) => prove_slots(nodes, state, hashed_address, &storage_changes, slots)?,
        None => (EMPTY_ROOT_HASH, slots.iter().map(|key| absent_slot(*key)).collect()),
    };
    roots.insert(hashed_address, storage_hash);
    let target = Nibbles::unpack(hashed_address);
    let mut changed: Vec<Nibbles> = changes.accounts.iter().map(Nibbles::unpack).collect();
    changed.push(target);
    let roots = StorageRootsOf::Changed(&roots);
    let run = account_trie(nodes, state, &PrefixSet::new(changed), Some(vec![target]), &roots)?;
    let account = account.unwrap_or_default();
    let proof = AccountProof {
        address,
        nonce: account.nonce,
        balance: account.balance,
        code_hash: account.code_hash,
        storage_hash,
        account_proof: path_nodes(&run.proof_nodes, &target),
        storage_proof,
    };
    Ok((run.root, proof))
}

fn prove_slots<N, S>(
    nodes: &N,
    state: &S,
    hashed_address: B256,
    changes: &StorageChanges,
    slots: &[B256],
) -> Result<(B256, Vec<StorageProof>), TrieError>
where
    N: TrieCursorFactory,
    S: HashedCursorFactory,
{
    let targets: Vec<Nibbles> = slots.iter().map(|slot| Nibbles::unpack(keccak256(slot))).collect();
    let run = storage_trie(nodes, state, hashed_address, changes, Some(targets))?;
    let mut values = state.hashed_storage_cursor(hashed_address)?;
    let mut proofs = Vec::with_capacity(slots.len());
    for slot in slots {
        let hashed_slot = keccak256(slot);
        let value = exact(&mut values, hashed_slot)?.unwrap_or_default();
        let proof = path_nodes(&run.proof_nodes, &Nibbles::unpack(hashed_slot));
        proofs.push(StorageProof { key: *slot, value, proof });
    }
    Ok((run.root, proofs))
}

fn absent_slot(key: B256) -> StorageProof {
    StorageProof { key, value: U256::ZERO, proof: Vec::new() }
}

/// The retained nodes on the path to `target`, root first; an empty trie proves with no node.
fn path_nodes(nodes: &ProofNodes, target: &Nibbles) -> Vec<Bytes> {
    nodes
        .matching_nodes_sorted(target)
        .into_iter()
        .map(|(_, node)| node)
        .filter(|node| node.as_ref() != [EMPTY_STRING_CODE])
        .collect()
}

fn exact<C: HashedCursor>(cursor: &mut C, key: B256) -> Result<Option<C::Value>, TrieError> {
    Ok(cursor.seek(key)?.filter(|(found, _)| *found == key).map(|(_, value)| value))
}
