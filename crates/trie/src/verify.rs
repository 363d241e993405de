//! Checks EIP-1186 proofs against a state root (with alloy-trie's proof verifier).

use crate::{Account, AccountProof, StorageProof, TrieError};
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount, proof::verify_proof};

/// What a verified [`AccountProof`] proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccount {
    /// The account leaf, or `None` if the account is proven absent.
    pub account: Option<TrieAccount>,
    /// Each requested slot with its proven value (zero: proven absent).
    pub storage: Vec<(B256, U256)>,
}

/// Verifies an account proof and all its storage proofs against `state_root`, and returns the
/// proven values. Any node missing, altered or added, or any field that differs from what the
/// trie holds, is rejected.
pub fn verify_account_proof(
    state_root: B256,
    proof: &AccountProof,
) -> Result<VerifiedAccount, TrieError> {
    let key = keccak256(proof.address);
    let account = match proof.account() {
        Some(account) => {
            let leaf = account.to_trie_account(proof.storage_hash);
            check(state_root, key, Some(alloy_rlp::encode(leaf)), &proof.account_proof)?;
            Some(leaf)
        }
        None => verify_empty_account(state_root, key, &proof.account_proof)?,
    };
    let storage = proof
        .storage_proof
        .iter()
        .map(|slot| Ok((slot.key, verify_storage_proof(proof.storage_hash, slot)?)))
        .collect::<Result<_, TrieError>>()?;
    Ok(VerifiedAccount { account, storage })
}

/// Verifies one storage proof against the account's storage root and returns the proven
/// value (zero when the slot is proven absent).
pub fn verify_storage_proof(storage_root: B256, proof: &StorageProof) -> Result<U256, TrieError> {
    let expected = (!proof.value.is_zero()).then(|| alloy_rlp::encode(proof.value));
    check(storage_root, keccak256(proof.key), expected, &proof.proof)?;
    Ok(proof.value)
}

/// An all-empty account is normally absent, but an empty leaf can exist (pre-EIP-161 state).
fn verify_empty_account(
    root: B256,
    key: B256,
    nodes: &[Bytes],
) -> Result<Option<TrieAccount>, TrieError> {
    let Err(absent_error) = check(root, key, None, nodes) else { return Ok(None) };
    let leaf = Account::default().to_trie_account(EMPTY_ROOT_HASH);
    match check(root, key, Some(alloy_rlp::encode(leaf)), nodes) {
        Ok(()) => Ok(Some(leaf)),
        Err(_) => Err(absent_error),
    }
}

fn check(
    root: B256,
    key: B256,
    expected: Option<Vec<u8>>,
    nodes: &[Bytes],
) -> Result<(), TrieError> {
    verify_proof(root, Nibbles::unpack(key), expected, nodes)
        .map_err(|error| TrieError::InvalidProof { root, key, detail: error.to_string() })
}
