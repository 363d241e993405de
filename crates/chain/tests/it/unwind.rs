//! Unwinding: back to an earlier state exactly, with no stale index entries.

use chainstore_chain::synth::SynthChain;
use chainstore_chain::{ChainError, Prunable, Retention};

use crate::common::{blocks, dump, open, small_config};

#[test]
fn unwind_then_recommit_equals_never_unwound() {
    let chain = blocks(7, 20);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let unwound = open(a.path());
    let straight = open(b.path());
    for block in &chain {
        unwound.commit_block(block).unwrap();
        straight.commit_block(block).unwrap();
    }
    let before = dump(&straight);
    let root10 = unwound.header(10).unwrap().unwrap().state_root;
    unwound.unwind_to(10).unwrap();
    assert_eq!(unwound.head().unwrap().unwrap().state_root, root10);
    assert!(unwound.block(11).unwrap().is_none());
    assert!(unwound.transaction(chain[15].transactions[0].hash).unwrap().is_none());
    for block in &chain[11..] {
        unwound.commit_block(block).unwrap();
    }
    assert_eq!(dump(&unwound), before);
}

#[test]
fn unwind_then_other_blocks_leaves_no_stale_entry() {
    let x = blocks(8, 21);
    let mut y = blocks(9, 21);
    y[11].parent_hash = x[10].hash;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let reorged = open(a.path());
    let direct = open(b.path());
    for block in &x {
        reorged.commit_block(block).unwrap();
    }
    reorged.unwind_to(10).unwrap();
    for block in x[..=10].iter().chain(&y[11..]) {
        if block.number > 10 {
            reorged.commit_block(block).unwrap();
        }
        direct.commit_block(block).unwrap();
    }
    assert_eq!(dump(&reorged), dump(&direct));
}

#[test]
fn unwinding_above_the_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for block in blocks(1, 3) {
        store.commit_block(&block).unwrap();
    }
    assert!(matches!(store.unwind_to(5), Err(ChainError::UnwindAboveHead { target: 5, head: 2 })));
    store.unwind_to(2).unwrap();
    store.unwind_to(0).unwrap();
    assert_eq!(store.head().unwrap().unwrap().number, 0);
}

/// Found by the soak: unwinding below the receipts (or transaction-index) prune point, then
/// committing other blocks, left a marker that called the new blocks' receipts pruned.
#[test]
fn unwinding_below_the_receipts_prune_point_keeps_new_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let chain = blocks(1, 31);
    for b in &chain {
        store.commit_block(b).unwrap();
    }
    let retention = Retention { history: Some(20), receipts: Some(2), tx_index: Some(2) };
    store.prune(&retention, 1000, &mut |_| {}).unwrap();
    assert_eq!(store.oldest_available(Prunable::Receipts).unwrap(), 29);
    store.unwind_to(20).unwrap();
    assert_eq!(store.oldest_available(Prunable::Receipts).unwrap(), 21);
    assert_eq!(store.oldest_available(Prunable::TxIndex).unwrap(), 21);
    let mut other = SynthChain::resume(small_config(99), 21, chain[20].hash);
    for _ in 0..5 {
        store.commit_block(&other.next_block()).unwrap();
    }
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems.first());
}
