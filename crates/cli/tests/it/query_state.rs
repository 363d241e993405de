//! `account`, `storage`, `proof` and `unwind` against a model of the state rebuilt from the
//! committed blocks.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use alloy_primitives::{Address, B256, U256, keccak256};
use chainstore_chain::synth::SynthChain;
use chainstore_trie::{AccountProof, verify_account_proof, verify_storage_proof};
use serde_json::Value;

use crate::query_fixture::{
    Fixture, Model, assert_keys, chain, created_contract, deleted_account, h, q,
};

/// keccak256 of empty code.
fn empty_code_hash() -> B256 {
    keccak256([])
}

/// The root of an empty trie: keccak256 of the RLP of an empty string.
fn empty_root() -> B256 {
    keccak256([0x80])
}

/// The `account` document the model predicts.
fn expected_account(model: &Model, address: Address) -> Value {
    let (nonce, balance, code_hash) = match model.account(address) {
        Some(a) => (a.nonce, a.balance, a.code_hash),
        None => (0, U256::ZERO, empty_code_hash()),
    };
    serde_json::json!({
        "address": h(address),
        "nonce": q(nonce),
        "balance": q(balance),
        "codeHash": h(code_hash),
        "storageHash": h(model.storage_root(address)),
    })
}

/// A 32-byte word.
fn word(value: U256) -> String {
    h(B256::from(value))
}

/// Addresses worth checking: hot and cold senders, tokens, the created and the deleted
/// account, and one that never existed.
fn addresses() -> Vec<Address> {
    vec![
        SynthChain::account(0),
        SynthChain::account(1),
        SynthChain::account(17),
        SynthChain::token(0),
        SynthChain::token(2),
        created_contract(),
        deleted_account(),
        Address::repeat_byte(0x55),
    ]
}

/// Slots of `address` worth checking (set, zeroed, never set).
fn slots() -> Vec<B256> {
    vec![
        SynthChain::account(0).into_word(),
        SynthChain::account(1).into_word(),
        SynthChain::account(3).into_word(),
        B256::with_last_byte(1),
        B256::repeat_byte(0xee),
        B256::with_last_byte(2),
    ]
}

#[test]
fn account_matches_the_model_present_or_absent() {
    let f = Fixture::new();
    assert!(f.model.account(deleted_account()).is_none());
    assert!(f.model.account(created_contract()).is_some());
    let store = f.open();
    let library: Vec<_> = addresses().iter().map(|a| store.account(*a).unwrap()).collect();
    store.close().unwrap();
    for (address, library) in addresses().into_iter().zip(library) {
        let v = f.json(&["account", &h(address)]);
        assert_keys(&v, &["address", "nonce", "balance", "codeHash", "storageHash"]);
        assert_eq!(v, expected_account(&f.model, address), "{address}");
        if let Some(a) = library {
            assert_eq!(v["storageHash"], h(a.storage_root));
            assert_eq!(v["codeHash"], h(a.code_hash));
        }
    }
    // Absent: zeros and the empty hashes.
    let v = f.json(&["account", &h(deleted_account())]);
    assert_eq!(v["balance"], "0x0");
    assert_eq!(v["codeHash"], h(empty_code_hash()));
    assert_eq!(v["storageHash"], h(empty_root()));
    // The created contract's code hash is that of its code.
    let v = f.json(&["account", &h(created_contract())]);
    assert_eq!(v["codeHash"], h(keccak256([0x60, 0x00])));
    assert_ne!(v["storageHash"], h(empty_root()));
}

#[test]
fn account_accepts_addresses_without_prefix_in_any_case() {
    let f = Fixture::new();
    let a = SynthChain::account(0);
    let expected = expected_account(&f.model, a);
    let bare = alloy_primitives::hex::encode(a);
    for text in [bare.to_uppercase(), format!("0X{}", bare.to_uppercase()), a.to_checksum(None)] {
        assert_eq!(f.json(&["account", &text]), expected, "{text}");
    }
}

#[test]
fn storage_matches_the_model_as_32_byte_words() {
    let f = Fixture::new();
    let mut nonzero = 0;
    for address in
        [SynthChain::token(0), SynthChain::token(1), created_contract(), deleted_account()]
    {
        for slot in slots() {
            let v = f.json(&["storage", &h(address), &h(slot)]);
            assert_keys(&v, &["address", "slot", "value"]);
            assert_eq!(v["address"], h(address));
            assert_eq!(v["slot"], h(slot));
            let expected = f.model.storage(address, slot);
            assert_eq!(v["value"], word(expected), "{address} {slot}");
            nonzero += usize::from(!expected.is_zero());
        }
    }
    assert!(nonzero >= 4, "only {nonzero} slots are set: the test checks too little");
    // A short slot is left-padded and printed as a 32-byte word; decimal works too.
    for slot in ["0x1", "0x01", "1"] {
        let v = f.json(&["storage", &h(created_contract()), slot]);
        assert_eq!(v["slot"], h(B256::with_last_byte(1)));
        assert_eq!(v["value"], word(U256::from(0x1234)));
    }
}

/// Parses a `proof` document, checks its shape and verifies it against `state_root`.
fn verified_proof(v: &Value, state_root: B256) -> AccountProof {
    assert_keys(
        v,
        &["address", "balance", "codeHash", "nonce", "storageHash", "accountProof", "storageProof"],
    );
    for s in v["storageProof"].as_array().unwrap() {
        assert_keys(s, &["key", "value", "proof"]);
    }
    let proof: AccountProof = serde_json::from_value(v.clone()).unwrap();
    verify_account_proof(state_root, &proof).unwrap();
    for s in &proof.storage_proof {
        assert_eq!(verify_storage_proof(proof.storage_hash, s).unwrap(), s.value);
    }
    proof
}

#[test]
fn proof_verifies_against_the_head_state_root() {
    let f = Fixture::new();
    let root = *f.roots.last().unwrap();
    let head = f.json(&["head"]);
    assert_eq!(head["stateRoot"], h(root));
    let slot_args: Vec<String> = slots().iter().map(h).collect();
    for address in [created_contract(), SynthChain::token(0), deleted_account(), Address::ZERO] {
        let mut args = vec!["proof".to_string(), h(address)];
        args.extend(slot_args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = f.json(&args);
        let proof = verified_proof(&v, root);
        let account = f.model.account(address);
        assert_eq!(proof.address, address);
        assert_eq!(proof.account().is_some(), account.is_some(), "{address}");
        assert_eq!(proof.nonce, account.map_or(0, |a| a.nonce));
        assert_eq!(proof.balance, account.map_or(U256::ZERO, |a| a.balance));
        assert_eq!(proof.storage_hash, f.model.storage_root(address));
        assert_eq!(proof.storage_proof.len(), slots().len());
        for (s, slot) in proof.storage_proof.iter().zip(slots()) {
            assert_eq!(s.key, slot);
            assert_eq!(s.value, f.model.storage(address, slot), "{address} {slot}");
        }
    }
    // An account proof without slots, a short slot normalized to 32 bytes.
    let v = f.json(&["proof", &h(created_contract()), "0x1"]);
    assert_eq!(v["storageProof"][0]["key"], h(B256::with_last_byte(1)));
    assert_eq!(v["storageProof"][0]["value"], "0x1234");
    let v = f.json(&["proof", &h(SynthChain::account(5))]);
    assert_eq!(verified_proof(&v, root).storage_proof.len(), 0);
    // A proof does not verify against another root (the check can fail).
    let proof: AccountProof = serde_json::from_value(v).unwrap();
    assert!(verify_account_proof(f.roots[3], &proof).is_err());
}

#[test]
fn block_option_answers_at_every_retained_block() {
    let f = Fixture::new();
    let head = f.head().number;
    let slot = B256::ZERO;
    let addresses =
        [SynthChain::token(0), SynthChain::account(1), deleted_account(), created_contract()];
    let mut model = Model::default();
    for (n, block) in f.blocks.iter().enumerate() {
        model.apply(block);
        let at = n.to_string();
        for a in addresses {
            let v = f.json(&["account", &h(a), "--block", &at]);
            assert_eq!(v, expected_account(&model, a), "account {a} at block {n}");
            let v = f.json(&["storage", &h(a), &h(slot), "--block", &q(n)]);
            assert_eq!(v["value"], word(model.storage(a, slot)), "slot of {a} at block {n}");
            let v = f.json(&["proof", &h(a), &h(slot), "--block", &at]);
            let proof = verified_proof(&v, f.roots[n]);
            assert_eq!(proof.storage_proof[0].value, model.storage(a, slot));
        }
    }
    // Without --block: the head.
    let a = h(SynthChain::token(0));
    let with_head = f.json(&["account", &a, "--block", &head.to_string()]);
    assert_eq!(f.json(&["account", &a]), with_head);
    let e = f.fail(&["account", &a, "--block", &(head + 1).to_string()]);
    assert!(e.contains(&format!("block {} is above the head (block {head})", head + 1)), "{e}");
    let e = f.fail(&["proof", &a, "--block", "latest"]);
    assert!(e.contains("--block") && e.contains("\"latest\""), "{e}");
    // After pruning, older blocks are refused by name, retained ones still answer.
    let v = f.json(&["prune", "--keep", "2"]);
    assert_eq!(v["oldestAvailable"]["stateHistory"], head - 2);
    for query in [vec!["account", &a], vec!["storage", &a, "0x0"], vec!["proof", &a]] {
        let e = f.fail(&[query.clone(), vec!["--block", &(head - 3).to_string()]].concat());
        let want = format!(
            "state history for block {} was pruned: the oldest available is block {}",
            head - 3,
            head - 2
        );
        assert!(e.contains(&want), "{e}");
        f.json(&[query, vec!["--block", &(head - 2).to_string()]].concat());
    }
}

#[test]
fn unwind_restores_head_and_state_of_the_target_block() {
    const TARGET: usize = 6;
    let blocks = chain();
    let mut model_at_target = Model::default();
    blocks[..=TARGET].iter().for_each(|b| model_at_target.apply(b));
    let f = Fixture::with_blocks(blocks);
    let target = &f.blocks[TARGET];
    // The later blocks create one account and delete another: the check below can fail.
    assert!(model_at_target.account(created_contract()).is_none());
    assert!(model_at_target.account(deleted_account()).is_some());

    let v = f.json(&["unwind", &TARGET.to_string()]);
    let expected_head = serde_json::json!({
        "number": q(TARGET as u64),
        "hash": h(target.hash),
        "stateRoot": h(f.roots[TARGET]),
    });
    assert_eq!(v, expected_head);
    assert_eq!(f.json(&["head"]), expected_head);
    assert_ne!(f.roots[TARGET], *f.roots.last().unwrap());

    let slot_args: Vec<String> = slots().iter().map(h).collect();
    for address in addresses() {
        let v = f.json(&["account", &h(address)]);
        assert_eq!(v, expected_account(&model_at_target, address), "{address}");
        // Every slot at once through a proof, which must verify against the target's root.
        let mut args = vec!["proof".to_string(), h(address)];
        args.extend(slot_args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proof = verified_proof(&f.json(&args), f.roots[TARGET]);
        for (s, slot) in proof.storage_proof.iter().zip(slots()) {
            assert_eq!(s.value, model_at_target.storage(address, slot), "{address} {slot}");
        }
    }
    for address in [SynthChain::token(0), SynthChain::token(1)] {
        for slot in slots() {
            let v = f.json(&["storage", &h(address), &h(slot)]);
            assert_eq!(v["value"], word(model_at_target.storage(address, slot)), "{address}");
        }
    }
    // What the reverted blocks added is gone.
    let later = &f.blocks[TARGET + 1];
    let e = f.fail(&["block", &(TARGET + 1).to_string()]);
    assert!(e.contains(&format!("the head is block {TARGET}")), "{e}");
    f.fail(&["tx", &h(later.transactions[0].hash)]);
    assert_eq!(f.json(&["logs", "--from", &(TARGET + 1).to_string()]), serde_json::json!([]));

    // The store takes the reverted blocks again.
    let store = f.open();
    for b in &f.blocks[TARGET + 1..] {
        assert_eq!(store.commit_block(b).unwrap().state_root, f.roots[b.number as usize]);
    }
    store.close().unwrap();
    assert_eq!(f.json(&["head"])["number"], q(f.head().number));
}

#[test]
fn unwind_above_the_head_fails_and_changes_nothing() {
    let f = Fixture::new();
    let head = f.json(&["head"]);
    let e = f.fail(&["unwind", "99"]);
    assert!(e.contains("cannot unwind to block 99: the head is block 11"), "{e}");
    let e = f.fail(&["unwind", "0xzz"]);
    assert!(e.contains("\"0xzz\""), "{e}");
    assert_eq!(f.json(&["head"]), head);
    // Unwinding to the head is a no-op that prints the head.
    assert_eq!(f.json(&["unwind", "11"]), head);
    let out = f.run(&["unwind", "11"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("number   : 11\n"), "{text}");
}
