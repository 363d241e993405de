//! State as of any retained block: reads and proofs against a model that keeps every state,
//! and pruning.

use alloy_primitives::{Address, B256, U256, keccak256};
use chainstore_chain::revert;
use chainstore_chain::synth::{SplitMix64 as Rng, SynthChain};
use chainstore_chain::{
    AccountChange, BlockCommit, ChainError, ChainStore, LogFilter, Prunable, Retention,
};
use chainstore_trie::{memory::MemoryState, verify_account_proof};

use crate::common::{
    ADDRESSES, SLOTS, address, apply_to_model, dump, open, random_block, slot, small_config,
};

/// Commits `count` random blocks after the head, recording the model state after each.
fn extend(store: &ChainStore, rng: &mut Rng, states: &mut Vec<MemoryState>, count: u64, fork: u64) {
    for _ in 0..count {
        let head = store.head().unwrap();
        let number = head.as_ref().map_or(0, |h| h.number + 1);
        let parent = head.map_or(B256::ZERO, |h| h.hash);
        let block = random_block(rng, number, parent, fork);
        store.commit_block(&block).unwrap();
        let mut model = states.last().cloned().unwrap_or_default();
        apply_to_model(&mut model, &block);
        states.push(model);
    }
}

fn model_slot(model: &MemoryState, a: Address, s: B256) -> U256 {
    model.hashed_storage(keccak256(a)).get(&keccak256(s)).copied().unwrap_or_default()
}

/// Every account and slot at every height, and proofs at some, equal the model.
fn assert_history_matches(store: &ChainStore, states: &[MemoryState], from: usize) {
    for (n, model) in states.iter().enumerate().skip(from) {
        let n64 = n as u64;
        let root = store.header(n64).unwrap().unwrap().state_root;
        for i in 0..ADDRESSES {
            let a = address(i);
            let got = store.account_at(a, n64).unwrap();
            let want = model.account(a);
            assert_eq!(
                got.map(|g| (g.nonce, g.balance, g.code_hash)),
                want.map(|w| (w.nonce, w.balance, w.code_hash)),
                "account {i} at block {n}"
            );
            for j in 0..SLOTS {
                assert_eq!(
                    store.storage_at(a, slot(j), n64).unwrap(),
                    model_slot(model, a, slot(j)),
                    "slot {j} of account {i} at block {n}"
                );
            }
            let code = store.code_at(a, n64).unwrap();
            assert_eq!(
                code.map(|c| if c.is_empty() {
                    alloy_primitives::KECCAK256_EMPTY
                } else {
                    keccak256(&c)
                }),
                want.map(|w| w.code_hash)
            );
            if (n + usize::from(i)) % 4 == 0 {
                let slots = [slot(0), slot(3), slot(9)];
                let proof = store.proof_at(a, &slots, n64).unwrap();
                // The revert-changesets baseline reaches the same proof another way.
                assert_eq!(revert::proof_at(store, a, &slots, n64).unwrap(), proof, "block {n}");
                assert_eq!(revert::account_at(store, a, n64).unwrap(), got, "block {n}");
                let verified = verify_account_proof(root, &proof)
                    .unwrap_or_else(|e| panic!("proof of account {i} at block {n}: {e}"));
                assert_eq!(
                    verified.account.map(|t| (t.nonce, t.balance)),
                    want.map(|w| (w.nonce, w.balance))
                );
                if let Some(g) = got {
                    assert_eq!(
                        proof.storage_hash, g.storage_root,
                        "storage root of account {i} at block {n}"
                    );
                }
                for (s, v) in verified.storage {
                    assert_eq!(v, model_slot(model, a, s), "proven slot at block {n}");
                }
            }
        }
    }
}

#[test]
fn historical_reads_and_proofs_equal_a_model_of_every_state() {
    for seed in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut rng = Rng(seed);
        let mut states = Vec::new();
        extend(&store, &mut rng, &mut states, 30, 0);
        // A reorg: history above the fork point is replaced, below it stays.
        store.unwind_to(18).unwrap();
        states.truncate(19);
        extend(&store, &mut rng, &mut states, 15, 1);
        assert_history_matches(&store, &states, 0);
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(report.is_ok(), "seed {seed}: {:?}", report.problems);
    }
}

#[test]
fn above_the_head_and_empty_store_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(matches!(store.account_at(address(0), 0), Err(ChainError::Empty)));
    let mut states = Vec::new();
    extend(&store, &mut Rng(5), &mut states, 3, 0);
    let err = store.proof_at(address(0), &[], 3).unwrap_err();
    assert!(matches!(err, ChainError::AboveHead { number: 3, head: 2 }), "{err}");
}

#[test]
fn one_key_changed_in_every_block_spans_shards_through_unwind_and_prune() {
    let a = address(1);
    let block = |n: u64, fork: u64| BlockCommit {
        number: n,
        hash: keccak256(format!("shard block {n} {fork}")),
        parent_hash: if n == 0 {
            B256::ZERO
        } else {
            keccak256(format!("shard block {} {fork}", n - 1))
        },
        state: vec![(
            a,
            Some(AccountChange {
                balance: Some(U256::from(n * 10 + fork)),
                storage: vec![(slot(0), U256::from(n + 1))],
                ..Default::default()
            }),
        )],
        ..Default::default()
    };
    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (unwound, straight) = (open(x.path()), open(y.path()));
    for n in 0..200 {
        unwound.commit_block(&block(n, 0)).unwrap();
        straight.commit_block(&block(n, 0)).unwrap();
    }
    // Back across two shard boundaries (64 blocks per shard), then the same blocks again.
    unwound.unwind_to(60).unwrap();
    for n in 61..200 {
        unwound.commit_block(&block(n, 0)).unwrap();
    }
    assert_eq!(dump(&unwound), dump(&straight));
    for n in (0..200).step_by(7) {
        assert_eq!(unwound.account_at(a, n).unwrap().unwrap().balance, U256::from(n * 10));
        assert_eq!(unwound.storage_at(a, slot(0), n).unwrap(), U256::from(n + 1));
    }
    let report = unwound
        .prune(&Retention { history: Some(70), ..Default::default() }, 16, &mut |_| {})
        .unwrap();
    assert!(report.batches > 1, "{report:?}");
    assert_eq!(unwound.oldest_available(Prunable::History).unwrap(), 129);
    for n in 129..200 {
        assert_eq!(unwound.account_at(a, n).unwrap().unwrap().balance, U256::from(n * 10));
    }
    let err = unwound.account_at(a, 128).unwrap_err();
    assert!(
        matches!(err, ChainError::Pruned { requested: 128, oldest_available: 129, .. }),
        "{err}"
    );
    assert!(unwound.verify(&mut |_| {}).unwrap().is_ok());
}

#[test]
fn pruning_keeps_the_window_and_refuses_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut chain = SynthChain::new(small_config(3));
    let mut blocks = Vec::new();
    let mut model = MemoryState::new();
    let mut states = Vec::new();
    for _ in 0..40 {
        let block = chain.next_block();
        store.commit_block(&block).unwrap();
        apply_to_model(&mut model, &block);
        states.push(model.clone());
        blocks.push(block);
    }
    let retention = Retention { history: Some(10), receipts: Some(5), tx_index: Some(8) };
    let mut seen = Vec::new();
    let report = store.prune(&retention, 200, &mut |p| seen.push(*p)).unwrap();
    assert!(report.batches >= 3, "small batches: {report:?}");
    for what in Prunable::ALL {
        let mine: Vec<_> = seen.iter().filter(|p| p.what == what).collect();
        assert!(mine.windows(2).all(|w| w[0].done < w[1].done), "{what:?} progress ascends");
        let last = mine.last().unwrap();
        assert_eq!(last.done, last.total);
    }
    // History: head 39, keep 10 -> blocks 29..=39.
    assert_eq!(store.oldest_available(Prunable::History).unwrap(), 29);
    let sender = blocks[30].transactions[0].from;
    for n in 29..40u64 {
        let want = states[n as usize].account(sender).map(|a| a.nonce);
        assert_eq!(store.account_at(sender, n).unwrap().map(|a| a.nonce), want);
        let root = store.header(n).unwrap().unwrap().state_root;
        verify_account_proof(root, &store.proof_at(sender, &[], n).unwrap()).unwrap();
    }
    for err in [
        store.account_at(sender, 28).unwrap_err(),
        store.proof_at(sender, &[], 3).unwrap_err(),
        store.unwind_to(28).unwrap_err(),
    ] {
        assert!(
            matches!(err, ChainError::Pruned { what: "state history", oldest_available: 29, .. }),
            "{err}"
        );
    }
    // Receipts: keep 5 -> blocks 35..=39.
    let old_tx = blocks[34].transactions[0].hash;
    let err = store.receipt(old_tx).unwrap_err();
    assert!(
        matches!(err, ChainError::Pruned { what: "receipts", requested: 34, oldest_available: 35 }),
        "{err}"
    );
    assert!(store.transaction(old_tx).unwrap().is_some(), "the transaction itself stays");
    assert!(store.receipt(blocks[35].transactions[0].hash).unwrap().is_some());
    let err = store.logs(&LogFilter { from_block: Some(30), ..Default::default() }).unwrap_err();
    assert!(matches!(err, ChainError::Pruned { what: "receipts", .. }), "{err}");
    let logs = store.logs(&LogFilter::default()).unwrap();
    assert!(!logs.is_empty() && logs.iter().all(|l| l.block_number >= 35));
    // Transaction index: keep 8 -> blocks 32..=39.
    let err = store.transactions_by_address(sender, 31, 39).unwrap_err();
    assert!(
        matches!(err, ChainError::Pruned { what: "transaction index", oldest_available: 32, .. }),
        "{err}"
    );
    let found = store.transactions_by_address(sender, 32, 39).unwrap();
    assert!(found.iter().all(|t| t.block_number >= 32));
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // Nothing more to prune until the head moves; unwinding inside the window still works.
    assert!(store.prune(&retention, 200, &mut |_| {}).unwrap().pruned.is_empty());
    store.unwind_to(29).unwrap();
    assert_eq!(
        store.head().unwrap().unwrap().state_root,
        store.header(29).unwrap().unwrap().state_root
    );
    assert!(store.verify(&mut |_| {}).unwrap().is_ok());
}

#[test]
fn verify_finds_history_rows_and_change_lists_that_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut states = Vec::new();
    extend(&store, &mut Rng(9), &mut states, 12, 0);
    // A block's change list lost: its history rows are found missing from it.
    let mut txn = store.database().begin_write();
    txn.delete("storage_changes", &5u64.to_be_bytes()).unwrap();
    txn.commit().unwrap();
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.table == "storage_history"
            && p.detail.contains("block 5 missing from its change list")),
        "{:?}",
        report.problems
    );
    // A history row lost: its block's change list names a key without one.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    extend(&store, &mut Rng(9), &mut Vec::new(), 12, 0);
    let mut txn = store.database().begin_write();
    let (k, _) = txn.prefix("account_history", &[]).unwrap().next().unwrap().unwrap();
    txn.delete("account_history", &k).unwrap();
    txn.commit().unwrap();
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.table == "account_changes"
            && p.detail.contains("lists a key without a history row")),
        "{:?}",
        report.problems
    );
}

#[test]
fn pruning_runs_alongside_block_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut chain = SynthChain::new(small_config(4));
    for _ in 0..30 {
        store.commit_block(&chain.next_block()).unwrap();
    }
    let retention = Retention { history: Some(5), receipts: Some(5), tx_index: Some(5) };
    std::thread::scope(|s| {
        let pruner = s.spawn(|| {
            for _ in 0..20 {
                store.prune(&retention, 64, &mut |_| {}).unwrap();
            }
        });
        for _ in 0..30 {
            store.commit_block(&chain.next_block()).unwrap();
        }
        pruner.join().unwrap();
    });
    store.prune(&retention, 64, &mut |_| {}).unwrap();
    assert_eq!(store.oldest_available(Prunable::History).unwrap(), 54);
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
