//! Property tests: random batches over random states. After every batch the incremental root
//! (and the stored node set) equals a full `HashBuilder` rebuild from the flat state, and
//! proofs of random present and absent keys verify under alloy-trie's verifier.

use crate::common::{Chain, rebuild};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, proof::verify_proof};
use chainstore_trie::{Account, account_proof, verify_account_proof};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    SetAccount { address: u16, nonce: u64, balance: u64 },
    RemoveAccount { address: u16 },
    SetSlot { address: u16, slot: u16, value: u64 },
}

fn address(index: u16) -> Address {
    Address::left_padding_from(&index.to_be_bytes())
}

fn slot(index: u16) -> B256 {
    B256::left_padding_from(&index.to_be_bytes())
}

/// Accounts from a space of `accounts` addresses; the first 8 carry most of the storage, so
/// storage tries grow deep enough to have stored nodes, and slots get set, reset and zeroed.
fn op(accounts: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..accounts, 0..3u64, 0..1000u64)
            .prop_map(|(address, nonce, balance)| Op::SetAccount { address, nonce, balance }),
        1 => (0..accounts).prop_map(|address| Op::RemoveAccount { address }),
        4 => (0..8u16, 0..400u16, 0..4u64)
            .prop_map(|(address, slot, value)| Op::SetSlot { address, slot, value }),
        1 => (0..accounts, 0..20u16, 0..4u64)
            .prop_map(|(address, slot, value)| Op::SetSlot { address, slot, value }),
    ]
}

fn apply(chain: &mut Chain, op: &Op) {
    match *op {
        Op::SetAccount { address: a, nonce, balance } => {
            let account = Account { nonce, balance: U256::from(balance), ..Account::default() };
            chain.state.set_account(address(a), account);
        }
        Op::RemoveAccount { address: a } => chain.state.remove_account(address(a)),
        Op::SetSlot { address: a, slot: s, value } => {
            // Storage exists only under an existing account (as in the EVM).
            if chain.state.account(address(a)).is_none() {
                chain.state.set_account(address(a), Account { nonce: 1, ..Account::default() });
            }
            chain.state.set_storage(address(a), slot(s), U256::from(value));
        }
    }
}

fn batches() -> impl Strategy<Value = (Vec<Op>, Vec<Vec<Op>>)> {
    (50u16..3000).prop_flat_map(|accounts| {
        let initial = prop::collection::vec(op(accounts), 0..1500);
        let batch = prop::collection::vec(op(accounts), 0..60);
        (initial, prop::collection::vec(batch, 1..6))
    })
}

fn check_against_rebuild(chain: &Chain, root: B256, step: &str) -> Result<(), TestCaseError> {
    let (expected, model) = rebuild(&chain.state, true);
    prop_assert_eq!(root, expected, "{}: root differs from a full rebuild", step);
    prop_assert!(model.matches(&chain.nodes), "{}: stored nodes differ from a rebuild", step);
    let one_pass = chainstore_trie::rebuild_state_root(&chain.state).unwrap();
    prop_assert_eq!(one_pass.root, expected, "{}: rebuild_state_root", step);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_root_equals_full_rebuild((initial, batches) in batches()) {
        let mut chain = Chain::default();
        initial.iter().for_each(|op| apply(&mut chain, op));
        let root = chain.commit().root;
        check_against_rebuild(&chain, root, "initial state")?;
        for (i, batch) in batches.iter().enumerate() {
            batch.iter().for_each(|op| apply(&mut chain, op));
            let root = chain.commit().root;
            check_against_rebuild(&chain, root, &format!("batch {i}"))?;
        }
    }

    #[test]
    fn proofs_of_present_and_absent_keys_verify(
        (initial, _) in batches(),
        probes in prop::collection::vec((0u16..3000, prop::collection::vec(0u16..400, 0..4)), 1..8),
    ) {
        let mut chain = Chain::default();
        initial.iter().for_each(|op| apply(&mut chain, op));
        let root = chain.commit().root;
        for (a, slots) in probes.iter().chain([(0, vec![0, 1, 2])].iter()) {
            let slots: Vec<B256> = slots.iter().copied().map(slot).collect();
            let proof = account_proof(&chain.nodes, &chain.state, address(*a), &slots).unwrap();
            check_proof_independently(&chain, root, &proof)?;
            prop_assert!(verify_account_proof(root, &proof).is_ok());
        }
    }
}

/// Checks a proof with alloy-trie's verifier against values taken from the flat state and a
/// storage root rebuilt with `HashBuilder` (not from the code under test).
fn check_proof_independently(
    chain: &Chain,
    root: B256,
    proof: &chainstore_trie::AccountProof,
) -> Result<(), TestCaseError> {
    let hashed = keccak256(proof.address);
    let storage = chain.state.hashed_storage(hashed);
    let account = chain.state.hashed_accounts().get(&hashed).copied();
    let storage_root = match account {
        Some(_) => storage_root(storage),
        None => EMPTY_ROOT_HASH,
    };
    prop_assert_eq!(proof.storage_hash, storage_root);
    let leaf = account.map(|a| alloy_rlp::encode(a.to_trie_account(storage_root)));
    let verified = verify_proof(root, Nibbles::unpack(hashed), leaf, &proof.account_proof);
    prop_assert!(verified.is_ok(), "account proof: {:?}", verified);
    for slot in &proof.storage_proof {
        let value = storage.get(&keccak256(slot.key)).copied().filter(|_| account.is_some());
        prop_assert_eq!(slot.value, value.unwrap_or_default());
        let leaf = value.map(alloy_rlp::encode);
        let key = Nibbles::unpack(keccak256(slot.key));
        let verified = verify_proof(storage_root, key, leaf, &slot.proof);
        prop_assert!(verified.is_ok(), "storage proof: {:?}", verified);
    }
    Ok(())
}

fn storage_root(slots: &std::collections::BTreeMap<B256, U256>) -> B256 {
    let mut builder = HashBuilder::default();
    let mut buf = Vec::new();
    for (key, value) in slots {
        buf.clear();
        value.encode(&mut buf);
        builder.add_leaf(Nibbles::unpack(key), &buf);
    }
    builder.root()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Garbage proofs never panic the verifier, and never prove a value (random bytes could
    /// form a valid proof of absence, so absence is only checked not to panic).
    #[test]
    fn garbage_proofs_are_rejected_without_panicking(
        nodes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..6),
        root_from_first in any::<bool>(),
        value in any::<u64>(),
    ) {
        let proof: Vec<alloy_primitives::Bytes> = nodes.into_iter().map(Into::into).collect();
        let root = match proof.first() {
            Some(node) if root_from_first => keccak256(node),
            _ => B256::repeat_byte(0x42),
        };
        let slot = chainstore_trie::StorageProof { key: B256::ZERO, value: U256::from(value), proof };
        let verified = chainstore_trie::verify_storage_proof(root, &slot);
        prop_assert!(value == 0 || verified.is_err());
    }
}

/// Keys built from a few long shared prefixes, so the trie has extension nodes at every
/// depth (hashed keys almost never do).
fn clustered_key() -> impl Strategy<Value = B256> {
    (0..3usize, 0..4u8, any::<u8>(), 0..3u8).prop_map(|(prefix_len, a, b, c)| {
        let mut key = [0x5au8; 32];
        let split = [1, 17, 30][prefix_len];
        key[split] = a;
        key[31] = b.wrapping_add(c);
        if prefix_len == 2 {
            key[0] = c;
        }
        B256::from(key)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The raw single-trie path on clustered keys: after every batch of inserts and deletes the
    /// root and the stored nodes equal a `HashBuilder` rebuild's.
    #[test]
    fn clustered_keys_match_a_rebuild(
        batches in prop::collection::vec(
            prop::collection::vec((clustered_key(), prop::option::of(1u8..=255)), 1..20),
            1..8,
        ),
    ) {
        use chainstore_trie::{memory::{MapCursor, apply_nodes}, trie_root};
        let mut leaves = std::collections::BTreeMap::<B256, Vec<u8>>::new();
        let mut nodes = std::collections::BTreeMap::new();
        for batch in &batches {
            for (key, value) in batch {
                match value {
                    Some(v) => leaves.insert(*key, vec![*v; 40]),
                    None => leaves.remove(key),
                };
            }
            let changed = batch.iter().map(|(key, _)| *key);
            let (root, updates) =
                trie_root(&mut MapCursor::new(&nodes), &mut MapCursor::new(&leaves), changed).unwrap();
            apply_nodes(&mut nodes, &updates);
            let mut builder = HashBuilder::default().with_updates(true);
            for (key, value) in &leaves {
                builder.add_leaf(Nibbles::unpack(key), value);
            }
            prop_assert_eq!(root, builder.root());
            let expected: std::collections::BTreeMap<_, _> = builder.split().1.into_iter().collect();
            prop_assert_eq!(&nodes, &expected);
        }
    }
}
