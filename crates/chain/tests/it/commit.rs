//! Committing blocks: roots equal an independent full rebuild, proofs verify, bad blocks change
//! nothing.

use alloy_primitives::{Address, B256, U256};
use chainstore_chain::{AccountChange, BlockCommit, ChainError, Receipt};
use chainstore_trie::{memory::MemoryState, rebuild_state_root, verify_account_proof};

use crate::common::{apply_to_model, blocks, dump, open};

#[test]
fn every_root_equals_a_full_rebuild_of_an_independent_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut model = MemoryState::new();
    for block in blocks(1, 15) {
        let info = store.commit_block(&block).unwrap();
        apply_to_model(&mut model, &block);
        let expected = rebuild_state_root(&model).unwrap().root;
        assert_eq!(info.state_root, expected, "block {}", block.number);
        assert_eq!(store.head().unwrap().unwrap().state_root, expected);
    }
}

#[test]
fn deletions_and_recreation_follow_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut model = MemoryState::new();
    let a = Address::repeat_byte(0xaa);
    let slot = |i: u8| B256::repeat_byte(i);
    let with_storage = |n: u64, slots: Vec<(B256, U256)>| AccountChange {
        nonce: Some(n),
        storage: slots,
        ..Default::default()
    };
    let states: Vec<Vec<(Address, Option<AccountChange>)>> = vec![
        vec![(
            a,
            Some(with_storage(1, vec![(slot(1), U256::from(10)), (slot(2), U256::from(20))])),
        )],
        vec![(a, Some(with_storage(2, vec![(slot(1), U256::ZERO)])))], // delete one slot
        vec![(a, None)],                                               // delete account + storage
        vec![(a, Some(with_storage(3, vec![(slot(3), U256::from(30))])))], // recreate
        vec![(a, None), (a, Some(with_storage(4, vec![(slot(4), U256::from(40))])))], // both in one block
    ];
    let mut parent = B256::ZERO;
    for (n, state) in states.into_iter().enumerate() {
        let block = BlockCommit {
            number: n as u64,
            hash: B256::with_last_byte(n as u8 + 1),
            parent_hash: parent,
            state,
            ..Default::default()
        };
        parent = block.hash;
        let info = store.commit_block(&block).unwrap();
        apply_to_model(&mut model, &block);
        assert_eq!(info.state_root, rebuild_state_root(&model).unwrap().root, "block {n}");
    }
    assert_eq!(store.storage(a, slot(3)).unwrap(), U256::ZERO, "recreation wiped old storage");
    assert_eq!(store.storage(a, slot(4)).unwrap(), U256::from(40));
    let root = store.head().unwrap().unwrap().state_root;
    let proof = store.proof(a, &[slot(4), slot(3)]).unwrap();
    let verified = verify_account_proof(root, &proof).unwrap();
    assert_eq!(verified.storage, vec![(slot(4), U256::from(40)), (slot(3), U256::ZERO)]);
}

#[test]
fn proofs_of_present_and_absent_accounts_verify_against_the_head_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let chain = blocks(3, 6);
    for b in &chain {
        store.commit_block(b).unwrap();
    }
    let root = store.head().unwrap().unwrap().state_root;
    let token = chainstore_chain::synth::SynthChain::token(0);
    let holder = chain[5].transactions[0].from.into_word();
    let proof = store.proof(token, &[holder, B256::repeat_byte(0x77)]).unwrap();
    let verified = verify_account_proof(root, &proof).unwrap();
    assert!(verified.account.is_some());
    assert_eq!(verified.storage[0].1, store.storage(token, holder).unwrap());
    assert_eq!(verified.storage[1].1, U256::ZERO);
    let absent = store.proof(Address::repeat_byte(0x5e), &[]).unwrap();
    assert!(verify_account_proof(root, &absent).unwrap().account.is_none());
}

#[test]
fn invalid_blocks_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let chain = blocks(4, 3);
    store.commit_block(&chain[0]).unwrap();
    store.commit_block(&chain[1]).unwrap();
    let before = dump(&store);
    let good = chain[2].clone();
    let mut cases: Vec<(&str, BlockCommit)> = Vec::new();
    let mut b = good.clone();
    b.number = 5;
    cases.push(("skipped number", b));
    let mut b = good.clone();
    b.parent_hash = B256::repeat_byte(9);
    cases.push(("wrong parent", b));
    let mut b = good.clone();
    b.receipts.push(Receipt::default());
    cases.push(("more receipts", b));
    let mut b = good.clone();
    b.receipts[0].transaction_hash = B256::repeat_byte(1);
    cases.push(("receipt for another tx", b));
    let mut b = good.clone();
    b.expected_state_root = Some(B256::repeat_byte(3));
    cases.push(("root mismatch", b));
    let mut b = good.clone();
    b.transactions[1].hash = b.transactions[0].hash;
    b.receipts[1].transaction_hash = b.transactions[0].hash;
    cases.push(("duplicate tx", b));
    let mut b = good.clone();
    b.hash = chain[1].hash;
    cases.push(("duplicate block hash", b));
    for (what, block) in cases {
        let err = store.commit_block(&block).unwrap_err();
        assert!(!matches!(err, ChainError::Db(_) | ChainError::Trie(_)), "{what}: {err}");
        assert!(err.to_string().contains("nothing was changed"), "{what}: {err}");
        assert_eq!(dump(&store), before, "{what} changed the store");
    }
    // compute_state_root does not commit, and agrees with the commit.
    let root = store.compute_state_root(&good).unwrap();
    assert_eq!(dump(&store), before);
    assert_eq!(store.commit_block(&good).unwrap().state_root, root);
}
