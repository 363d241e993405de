//! Helpers: small synthetic chains, an independent state model, table dumps.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_chain::synth::{SplitMix64 as Rng, SynthChain, SynthConfig};
use chainstore_chain::{AccountChange, BlockCommit, ChainStore};
use chainstore_engine::backend::KeyRange;
use chainstore_trie::{Account, memory::MemoryState};

pub(crate) fn small_config(seed: u64) -> SynthConfig {
    SynthConfig { accounts: 300, tokens: 6, txs_per_block: 25, seed }
}

pub(crate) fn blocks(seed: u64, n: usize) -> Vec<BlockCommit> {
    let mut chain = SynthChain::new(small_config(seed));
    (0..n).map(|_| chain.next_block()).collect()
}

pub(crate) fn open(dir: &std::path::Path) -> ChainStore {
    ChainStore::open(dir, Default::default()).unwrap()
}

/// Applies a block's state diff to an in-memory model (written from the diff's documented
/// meaning, independently of the store's code).
pub(crate) fn apply_to_model(model: &mut MemoryState, block: &BlockCommit) {
    for (address, change) in &block.state {
        match change {
            None => model.remove_account(*address),
            Some(c) => {
                let mut account = model.account(*address).unwrap_or_default();
                if let Some(n) = c.nonce {
                    account.nonce = n;
                }
                if let Some(b) = c.balance {
                    account.balance = b;
                }
                if let Some(code) = &c.code {
                    account.code_hash = if code.is_empty() {
                        Account::default().code_hash
                    } else {
                        keccak256(code)
                    };
                }
                model.set_account(*address, account);
                for (slot, value) in &c.storage {
                    model.set_storage(*address, *slot, *value);
                }
            }
        }
    }
}

/// Table name → every (key, value) row.
pub(crate) type Dump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

/// Every non-empty table's full content.
pub(crate) fn dump(store: &ChainStore) -> Dump {
    let r = store.database().begin_read();
    let mut out = BTreeMap::new();
    for table in r.tables().unwrap() {
        let rows: Vec<_> =
            r.range(&table, KeyRange::all(), false).unwrap().map(|p| p.unwrap()).collect();
        if !rows.is_empty() {
            out.insert(table, rows);
        }
    }
    out
}

pub(crate) const ADDRESSES: u8 = 10;
pub(crate) const SLOTS: u8 = 6;

pub(crate) fn address(i: u8) -> Address {
    Address::repeat_byte(0x10 + i)
}

pub(crate) fn slot(i: u8) -> B256 {
    B256::with_last_byte(i + 1)
}

/// A random block on top of `parent`: balance, nonce, code and storage writes (zeros among
/// them), account deletions and recreations.
pub(crate) fn random_block(rng: &mut Rng, number: u64, parent: B256, fork: u64) -> BlockCommit {
    let mut state = Vec::new();
    for _ in 0..1 + rng.below(5) {
        let a = address(rng.below(u64::from(ADDRESSES)) as u8);
        if rng.below(7) == 0 {
            state.push((a, None));
            continue;
        }
        let mut change = AccountChange::default();
        if rng.below(2) == 0 {
            change.balance = Some(U256::from(rng.below(1_000_000)));
        }
        if rng.below(3) == 0 {
            change.nonce = Some(rng.below(100));
        }
        if rng.below(8) == 0 {
            change.code = Some(Bytes::from(vec![0x60, rng.below(256) as u8]));
        }
        for _ in 0..rng.below(4) {
            let value = if rng.below(3) == 0 { 0 } else { 1 + rng.below(1000) };
            change.storage.push((slot(rng.below(u64::from(SLOTS)) as u8), U256::from(value)));
        }
        state.push((a, Some(change)));
    }
    BlockCommit {
        number,
        hash: keccak256(format!("history test block {number} fork {fork}")),
        parent_hash: parent,
        state,
        ..Default::default()
    }
}
