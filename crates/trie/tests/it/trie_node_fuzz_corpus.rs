//! The `trie_node` target's entry point ([`crate::trie_node_fuzz_check::check`]) on stable Rust:
//! over the committed corpus `fuzz/corpus/trie_node/` and a few thousand pseudo-random and
//! mutated inputs. The seeds are stored nodes, their paths and storage proofs of a small state,
//! made by the crate's own root computation and prover.

use alloy_primitives::{Address, B256, U256};
use chainstore_trie::{Account, account_proof, encode_node, encode_path};

use crate::common::Chain;
use crate::stable::Stable;
use crate::trie_node_fuzz_check::{NODE, PATH, PROOF, check, proof_input};

const INPUTS: usize = 5000;

/// A state of 60 accounts, one of them with 40 storage slots, committed.
fn chain() -> (Chain, Address) {
    let mut chain = Chain::default();
    for i in 1..=60u64 {
        let account = Account { nonce: i, balance: U256::from(i * 1000), ..Account::default() };
        chain.state.set_account(Address::with_last_byte(i as u8), account);
    }
    let contract = Address::with_last_byte(7);
    for slot in 1..=40u64 {
        chain.state.set_storage(contract, B256::from(U256::from(slot)), U256::from(slot * slot));
    }
    chain.commit();
    (chain, contract)
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let (chain, contract) = chain();
    let with = |selector: u8, bytes: &[u8]| [&[selector][..], bytes].concat();
    let mut seeds = Vec::new();
    let storage = chain.nodes.storage_nodes().values().next().expect("a storage trie");
    let nodes = chain.nodes.account_nodes().iter().take(3).chain(storage.iter().take(2));
    for (i, (path, node)) in nodes.enumerate() {
        seeds.push((format!("node-{i}"), with(NODE, &encode_node(node))));
        seeds.push((format!("path-{i}"), with(PATH, &encode_path(path))));
    }
    let (present, absent) = (B256::from(U256::from(3)), B256::from(U256::from(1000)));
    let proof = account_proof(&chain.nodes, &chain.state, contract, &[present, absent]).unwrap();
    for (name, slot) in ["proof-present", "proof-absent"].into_iter().zip(&proof.storage_proof) {
        seeds.push((name.into(), with(PROOF, &proof_input(slot.key, slot.value, &slot.proof))));
    }
    let node = seeds[0].1.clone();
    let damaged = |at: usize, byte: u8| {
        let mut bytes = node.clone();
        bytes[1 + at] = byte;
        bytes
    };
    seeds.extend([
        ("node-version-2".into(), damaged(0, 2)),
        ("node-hash-mask-outside-state".into(), damaged(6, node[1 + 6] | !node[1 + 2])),
        ("node-root-flag-2".into(), damaged(7, 2)),
        ("node-truncated".into(), node[..node.len() - 1].to_vec()),
        ("path-nibble-16".into(), vec![PATH, 1, 16]),
        ("path-65-nibbles".into(), with(PATH, &[0; 65])),
    ]);
    seeds
}

#[test]
fn corpus_and_mutations() {
    let stable = Stable { target: "trie_node", seeds: seeds(), tokens: &[], inputs: INPUTS };
    let outcomes = stable.run(check);
    for outcome in ["node", "bad node", "path", "bad path", "bad proof"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 100, "{outcomes:?}");
    }
}
