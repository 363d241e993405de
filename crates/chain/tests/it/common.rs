//! Helpers: small synthetic chains, an independent state model, table dumps.

use std::collections::BTreeMap;

use alloy_primitives::keccak256;
use chainstore_chain::synth::{SynthChain, SynthConfig};
use chainstore_chain::{BlockCommit, ChainStore};
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
