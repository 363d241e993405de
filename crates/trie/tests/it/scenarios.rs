//! Hand-written scenarios: each root is checked against a full rebuild (and the stored nodes
//! against the nodes a rebuild would store).

use crate::common::{Chain, rebuild, rebuild_root};
use alloy_primitives::{Address, B256, U256, b256, keccak256};
use chainstore_trie::{
    Account, ChangeSet, EMPTY_TRIE_ROOT, MemoryState, MemoryTrieNodes, account_proof_with_changes,
    state_root, verify_account_proof,
};

fn account(n: u64) -> Account {
    Account { nonce: n, balance: U256::from(n * 1000), ..Account::default() }
}

fn addr(i: u64) -> Address {
    Address::left_padding_from(&i.to_be_bytes())
}

fn slot(i: u64) -> B256 {
    B256::left_padding_from(&i.to_be_bytes())
}

fn commit_and_check(chain: &mut Chain) -> B256 {
    let out = chain.commit();
    let (root, model) = rebuild(&chain.state, true);
    assert_eq!(out.root, root, "incremental root differs from a full rebuild");
    assert!(model.matches(&chain.nodes), "stored nodes differ from a full rebuild's");
    out.root
}

#[test]
fn empty_state_has_the_empty_trie_root() {
    let expected = b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
    assert_eq!(EMPTY_TRIE_ROOT, expected);
    let out = state_root(&MemoryTrieNodes::new(), &MemoryState::new(), &ChangeSet::new()).unwrap();
    assert_eq!(out.root, expected);
    assert!(out.updates.is_empty());
}

#[test]
fn deleting_everything_returns_to_the_empty_root() {
    let mut chain = Chain::default();
    for i in 0..300 {
        chain.state.set_account(addr(i), account(i + 1));
        chain.state.set_storage(addr(i % 7), slot(i), U256::from(i + 1));
    }
    commit_and_check(&mut chain);
    assert!(!chain.nodes.is_empty());
    for i in 0..300 {
        chain.state.remove_account(addr(i));
    }
    assert_eq!(commit_and_check(&mut chain), EMPTY_TRIE_ROOT);
    assert!(chain.nodes.is_empty(), "deleting every account must delete every stored node");
}

#[test]
fn storage_changes_flow_into_the_account_leaf() {
    let mut chain = Chain::default();
    for i in 0..200 {
        chain.state.set_account(addr(i), account(i + 1));
    }
    for s in 0..500 {
        chain.state.set_storage(addr(3), slot(s), U256::from(s + 1));
    }
    let before = commit_and_check(&mut chain);
    chain.state.set_storage(addr(3), slot(17), U256::from(99));
    let after = commit_and_check(&mut chain);
    assert_ne!(before, after);
    chain.state.set_storage(addr(3), slot(17), U256::from(18));
    assert_eq!(commit_and_check(&mut chain), before, "restoring the value restores the root");
}

#[test]
fn deleting_a_slot_and_then_all_slots() {
    let mut chain = Chain::default();
    chain.state.set_account(addr(1), account(1));
    for s in 0..100 {
        chain.state.set_storage(addr(1), slot(s), U256::from(s + 1));
    }
    commit_and_check(&mut chain);
    chain.state.set_storage(addr(1), slot(5), U256::ZERO);
    commit_and_check(&mut chain);
    for s in 0..100 {
        chain.state.set_storage(addr(1), slot(s), U256::ZERO);
    }
    commit_and_check(&mut chain);
    assert!(chain.nodes.storage_nodes().is_empty());
}

#[test]
fn deleting_and_recreating_an_account_drops_its_old_storage() {
    let mut chain = Chain::default();
    for i in 0..50 {
        chain.state.set_account(addr(i), account(i + 1));
    }
    for s in 0..300 {
        chain.state.set_storage(addr(9), slot(s), U256::from(s + 1));
    }
    commit_and_check(&mut chain);
    chain.state.remove_account(addr(9));
    let deleted = commit_and_check(&mut chain);
    chain.state.set_account(addr(9), account(1));
    chain.state.set_storage(addr(9), slot(1000), U256::from(7));
    let recreated = commit_and_check(&mut chain);
    assert_ne!(deleted, recreated);
    // Delete and recreate within one block.
    chain.state.remove_account(addr(9));
    chain.state.set_account(addr(9), account(2));
    chain.state.set_storage(addr(9), slot(5), U256::from(5));
    commit_and_check(&mut chain);
    assert_eq!(chain.state.hashed_storage(alloy_primitives::keccak256(addr(9))).len(), 1);
}

#[test]
fn a_batch_without_changes_keeps_the_root_and_writes_nothing() {
    let mut chain = Chain::default();
    for i in 0..1000 {
        chain.state.set_account(addr(i), account(i + 1));
    }
    let root = commit_and_check(&mut chain);
    let out = chain.commit();
    assert_eq!(out.root, root);
    assert!(out.updates.is_empty());
    assert_eq!(rebuild_root(&chain.state), root);
}

#[test]
fn storage_written_before_its_account_exists_counts_once_the_account_does() {
    // Not reachable from the EVM, but the flat state allows it: the root stays right (the
    // storage trie is built from its leaves); its nodes are stored at its next storage change.
    let mut chain = Chain::default();
    chain.state.set_storage(addr(1), slot(1), U256::from(1));
    assert_eq!(chain.commit().root, EMPTY_TRIE_ROOT);
    chain.state.set_account(addr(1), account(1));
    assert_eq!(chain.commit().root, rebuild_root(&chain.state));
    for s in 2..100 {
        chain.state.set_storage(addr(1), slot(s), U256::from(s));
    }
    commit_and_check(&mut chain);
}

#[test]
fn unwinding_is_a_root_computation_over_the_reverted_keys() {
    // A reorg reverts the flat state, then recomputes the root with the keys the reverted
    // blocks changed: subtrees without such a key are the same in both states.
    let mut chain = Chain::default();
    for i in 0..2000 {
        chain.state.set_account(addr(i), account(i + 1));
    }
    for s in 0..200 {
        chain.state.set_storage(addr(5), slot(s), U256::from(s + 1));
    }
    let block1 = commit_and_check(&mut chain);
    let saved_state = chain.state.clone();
    let mut reverted = ChangeSet::new();
    for block in 0..3u64 {
        for i in (block * 7..2000).step_by(13) {
            chain.state.set_account(addr(i), account(i + 100 + block));
        }
        chain.state.remove_account(addr(40 + block));
        chain.state.set_storage(addr(5), slot(block), U256::ZERO);
        chain.state.set_storage(addr(5), slot(500 + block), U256::from(9));
        let changes = chain.state.take_changes();
        reverted.extend(&changes);
        let out = state_root(&chain.nodes, &chain.state, &changes).unwrap();
        chain.nodes.apply(&out.updates);
        assert_eq!(out.root, rebuild_root(&chain.state));
    }
    // Unwind to block 1: restore the flat state; every touched account's storage is rebuilt.
    chain.state = saved_state;
    let out = state_root(&chain.nodes, &chain.state, &reverted).unwrap();
    chain.nodes.apply(&out.updates);
    assert_eq!(out.root, block1);
    let (_, model) = rebuild(&chain.state, true);
    assert!(model.matches(&chain.nodes), "nodes after unwinding differ from a rebuild's");
}

#[test]
fn proofs_at_an_older_block_from_current_nodes_and_the_older_flat_state() {
    let mut chain = Chain::default();
    for i in 0..1500 {
        chain.state.set_account(addr(i), account(i + 1));
    }
    for s in 0..150 {
        chain.state.set_storage(addr(5), slot(s), U256::from(s + 1));
        chain.state.set_storage(addr(6), slot(s), U256::from(s + 2));
    }
    let old_root = commit_and_check(&mut chain);
    let old_state = chain.state.clone();
    let mut since = ChangeSet::new();
    for block in 0..3u64 {
        for i in (block..1500).step_by(11) {
            chain.state.set_account(addr(i), account(i + 50 + block));
        }
        chain.state.remove_account(addr(40 + block));
        chain.state.set_storage(addr(5), slot(block), U256::from(77));
        chain.state.set_storage(addr(6), slot(block + 10), U256::ZERO);
        let changes = chain.state.take_changes();
        since.extend(&changes);
        let out = state_root(&chain.nodes, &chain.state, &changes).unwrap();
        chain.nodes.apply(&out.updates);
    }
    let slots = [slot(0), slot(1), slot(10), slot(11), slot(999)];
    for a in [addr(5), addr(6), addr(40), addr(41), addr(7), addr(100_000)] {
        let (root, proof) =
            account_proof_with_changes(&chain.nodes, &old_state, &since, a, &slots).unwrap();
        assert_eq!(root, old_root);
        let proven = verify_account_proof(old_root, &proof).unwrap();
        assert_eq!(proven.account.map(|t| t.nonce), old_state.account(a).map(|o| o.nonce));
        for (slot, value) in &proven.storage {
            let hashed = (keccak256(a), keccak256(slot));
            let expected = old_state.hashed_storage(hashed.0).get(&hashed.1).copied();
            let expected = expected.filter(|_| old_state.account(a).is_some());
            assert_eq!(*value, expected.unwrap_or_default(), "{a} slot {slot}");
        }
    }
}
