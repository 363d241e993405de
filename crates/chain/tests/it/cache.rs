//! The head-state cache changes nothing but speed: random chains (synthetic blocks and blocks
//! with deletions, recreations and zero writes), unwinds, prunes and reopenings applied to three
//! stores, with the cache large, off (budget 0: every block reloads what it reads) and squeezed
//! (a budget far below the state, so that every block evicts), give the same roots and proofs,
//! equal to an independent model, and the same content in every table.

use std::path::Path;

use alloy_primitives::B256;
use chainstore_chain::synth::{SplitMix64 as Rng, SynthChain};
use chainstore_chain::{BlockCommit, ChainStore, Retention};
use chainstore_engine::db::Options;
use chainstore_trie::memory::MemoryState;
use chainstore_trie::{rebuild_state_root, verify_account_proof};

use crate::common::{ADDRESSES, address, apply_to_model, dump, random_block, small_config};

const BUDGETS: [usize; 3] = [512 << 20, 0, 24 << 10];

fn open_with(dir: &Path, cache_bytes: usize) -> ChainStore {
    ChainStore::open(dir, Options { cache_bytes, ..Options::default() }).unwrap()
}

/// The model's state root, computed from scratch in memory.
fn model_root(model: &MemoryState) -> B256 {
    rebuild_state_root(model).unwrap().root
}

/// Re-parents `block` onto the head of `store`.
fn on_head(store: &ChainStore, mut block: BlockCommit, fork: u64) -> BlockCommit {
    let head = store.head().unwrap();
    block.number = head.as_ref().map_or(0, |h| h.number + 1);
    block.parent_hash = head.map_or(B256::ZERO, |h| h.hash);
    block.hash = alloy_primitives::keccak256(format!("cache test {} fork {fork}", block.number));
    block
}

#[test]
fn roots_proofs_and_tables_do_not_depend_on_the_cache() {
    let runs = if std::env::var_os("CI").is_some() { 3 } else { 2 };
    for seed in 0..runs {
        let dirs: Vec<_> = BUDGETS.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let mut stores: Vec<ChainStore> =
            BUDGETS.iter().zip(&dirs).map(|(b, d)| open_with(d.path(), *b)).collect();
        let mut rng = Rng(seed);
        let mut synth = SynthChain::new(small_config(seed));
        // The model state after each block, for unwinds.
        let mut states: Vec<MemoryState> = Vec::new();
        let mut fork = 0;
        for step in 0..60 {
            match rng.below(10) {
                0 if states.len() > 3 => {
                    let back = 1 + rng.below(3);
                    let target = states.len() as u64 - 1 - back;
                    for s in &stores {
                        s.unwind_to(target).unwrap();
                    }
                    states.truncate(target as usize + 1);
                    fork += 1;
                }
                1 => {
                    let retention = Retention { history: Some(8), ..Retention::default() };
                    for s in &stores {
                        s.prune(&retention, 50, &mut |_| {}).unwrap();
                    }
                }
                2 => {
                    stores.clear();
                    stores =
                        BUDGETS.iter().zip(&dirs).map(|(b, d)| open_with(d.path(), *b)).collect();
                }
                _ => {
                    let block = if rng.below(2) == 0 {
                        synth.next_block()
                    } else {
                        random_block(&mut rng, 0, B256::ZERO, fork)
                    };
                    let block = on_head(&stores[0], block, fork);
                    for s in &stores {
                        s.commit_block(&block).unwrap();
                    }
                    let mut model = states.last().cloned().unwrap_or_default();
                    apply_to_model(&mut model, &block);
                    states.push(model);
                }
            }
            check_equal(&stores, states.last(), seed, step);
        }
        let stats = stores[0].cache_stats();
        assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
        assert!(stores[2].cache_stats().evictions > 0, "the squeezed cache never evicted");
    }
}

fn check_equal(stores: &[ChainStore], model: Option<&MemoryState>, seed: u64, step: usize) {
    let what = format!("seed {seed}, step {step}");
    let heads: Vec<_> = stores.iter().map(|s| s.head().unwrap()).collect();
    assert!(heads.iter().all(|h| *h == heads[0]), "{what}: heads differ: {heads:?}");
    let Some(head) = &heads[0] else { return };
    if let Some(model) = model {
        assert_eq!(head.state_root, model_root(model), "{what}: root differs from the model");
    }
    let first = dump(&stores[0]);
    for s in &stores[1..] {
        assert!(dump(s) == first, "{what}: tables differ between cache budgets");
    }
    for i in 0..ADDRESSES {
        let proofs: Vec<_> = stores.iter().map(|s| s.proof(address(i), &[]).unwrap()).collect();
        assert!(proofs.iter().all(|p| *p == proofs[0]), "{what}: proofs differ");
        verify_account_proof(head.state_root, &proofs[0]).unwrap();
    }
}
