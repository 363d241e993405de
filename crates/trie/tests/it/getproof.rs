//! Real `eth_getProof` responses verify with our verifier; tampered copies are rejected.

use crate::common::{b256, read_json, testdata};
use alloy_primitives::{B256, U256, keccak256};
use chainstore_trie::{AccountProof, verify_account_proof};
use serde_json::Value;

fn parse_proof(json: &Value) -> AccountProof {
    serde_json::from_value(json.clone()).expect("EIP-1186 JSON")
}

/// The `result` of the response line (`<<`) of an execution-apis `.io` file.
fn io_result(relative: &str) -> Value {
    let text = std::fs::read_to_string(testdata(relative)).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("<< ")).expect("response line");
    serde_json::from_str::<Value>(line).unwrap()["result"].clone()
}

/// Every fixture with the root it must verify against.
fn fixtures() -> Vec<(String, B256, AccountProof)> {
    let mut all = Vec::new();
    let helios_block = read_json("eth-getproof/helios-mainnet-21925176/block.json");
    let helios_root = b256(helios_block["stateRoot"].as_str().unwrap());
    for file in ["proof.json", "block_miner_proof.json"] {
        let proof =
            parse_proof(&read_json(&format!("eth-getproof/helios-mainnet-21925176/{file}")));
        all.push((format!("helios/{file}"), helios_root, proof));
    }
    let head = io_result("eth-getproof/execution-apis-hive/eth_getBlockByNumber-get-latest.io");
    assert_eq!(head["number"], "0x36");
    let hive_root = b256(head["stateRoot"].as_str().unwrap());
    for name in ["blockhash", "default-block", "latest", "with-storage"] {
        let file = format!("eth-getproof/execution-apis-hive/get-account-proof-{name}.io");
        all.push((format!("hive/{name}"), hive_root, parse_proof(&io_result(&file))));
    }
    for name in ["validAccount", "nonexistentAccount", "contractWithStorage"] {
        let proof = parse_proof(&read_json(&format!(
            "eth-getproof/ethereumjs-ropsten/ropsten_{name}.json"
        )));
        // No header survives for Ropsten: the root is the hash of the first proof node.
        let root = keccak256(&proof.account_proof[0]);
        all.push((format!("ropsten/{name}"), root, proof));
    }
    all
}

#[test]
fn every_fixture_verifies_and_returns_its_values() {
    let all = fixtures();
    assert_eq!(all.len(), 9);
    let ropsten_root = all[6].1;
    assert!(all[6..].iter().all(|(_, root, _)| *root == ropsten_root), "one Ropsten root");
    for (name, root, proof) in &all {
        let proven = verify_account_proof(*root, proof)
            .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
        let expected_storage: Vec<_> =
            proof.storage_proof.iter().map(|s| (s.key, s.value)).collect();
        assert_eq!(proven.storage, expected_storage, "{name}");
        match proven.account {
            Some(account) => {
                assert_eq!(account.balance, proof.balance, "{name}");
                assert_eq!(account.storage_root, proof.storage_hash, "{name}");
            }
            None => assert_eq!(name, "ropsten/nonexistentAccount", "only this one is absent"),
        }
    }
}

#[test]
fn absent_slot_is_proven_absent() {
    let all = fixtures();
    let (_, root, proof) = all.iter().find(|(n, ..)| n == "ropsten/contractWithStorage").unwrap();
    let proven = verify_account_proof(*root, proof).unwrap();
    assert_eq!(proven.storage.len(), 2);
    assert!(!proven.storage[0].1.is_zero());
    assert_eq!(proven.storage[1].1, U256::ZERO);
}

fn rejected(name: &str, root: B256, proof: &AccountProof, what: &str) {
    assert!(verify_account_proof(root, proof).is_err(), "{name}: {what} was accepted");
}

#[test]
fn flipped_bytes_are_rejected() {
    for (name, root, proof) in fixtures() {
        for i in 0..proof.account_proof.len() {
            let mut bad = proof.clone();
            let mut node = bad.account_proof[i].to_vec();
            let at = node.len() / 2;
            node[at] ^= 0x01;
            bad.account_proof[i] = node.into();
            rejected(&name, root, &bad, &format!("account node {i} with a flipped byte"));
        }
        for (s, slot) in proof.storage_proof.iter().enumerate() {
            for i in 0..slot.proof.len() {
                let mut bad = proof.clone();
                let mut node = bad.storage_proof[s].proof[i].to_vec();
                let last = node.len() - 1;
                node[last] ^= 0x80;
                bad.storage_proof[s].proof[i] = node.into();
                rejected(&name, root, &bad, &format!("slot {s} node {i} with a flipped byte"));
            }
        }
    }
}

#[test]
fn dropped_or_added_nodes_are_rejected() {
    for (name, root, proof) in fixtures() {
        for i in 0..proof.account_proof.len() {
            let mut bad = proof.clone();
            bad.account_proof.remove(i);
            rejected(&name, root, &bad, &format!("account proof without node {i}"));
        }
        let mut longer = proof.clone();
        longer.account_proof.push(proof.account_proof[0].clone());
        rejected(&name, root, &longer, "account proof with an extra node");
        for (s, slot) in proof.storage_proof.iter().enumerate() {
            for i in 0..slot.proof.len() {
                let mut bad = proof.clone();
                bad.storage_proof[s].proof.remove(i);
                rejected(&name, root, &bad, &format!("slot {s} proof without node {i}"));
            }
        }
    }
}

#[test]
fn changed_values_are_rejected() {
    for (name, root, proof) in fixtures() {
        let mut bad = proof.clone();
        bad.balance += U256::from(1);
        rejected(&name, root, &bad, "a changed balance");
        let mut bad = proof.clone();
        bad.nonce += 1;
        rejected(&name, root, &bad, "a changed nonce");
        let mut bad = proof.clone();
        bad.code_hash = B256::repeat_byte(7);
        rejected(&name, root, &bad, "a changed code hash");
        for s in 0..proof.storage_proof.len() {
            let mut bad = proof.clone();
            bad.storage_proof[s].value += U256::from(1);
            rejected(&name, root, &bad, &format!("a changed value of slot {s}"));
            let mut bad = proof.clone();
            bad.storage_proof[s].key = B256::repeat_byte(3);
            rejected(&name, root, &bad, &format!("a changed key of slot {s}"));
        }
        rejected(&name, B256::repeat_byte(1), &proof, "a different root");
    }
}

#[test]
fn json_round_trips_in_the_rpc_shape() {
    for (name, _, proof) in fixtures() {
        let json = serde_json::to_value(&proof).unwrap();
        for field in ["address", "balance", "codeHash", "nonce", "storageHash", "accountProof"] {
            assert!(json.get(field).is_some(), "{name}: missing {field}");
        }
        let nonce = json["nonce"].as_str().unwrap();
        assert!(nonce == "0x0" || !nonce.starts_with("0x0"), "{name}: nonce {nonce} not minimal");
        assert_eq!(parse_proof(&json), proof, "{name}");
    }
    let short_key = serde_json::json!({"key": "0x0", "value": "56", "proof": []});
    let slot: chainstore_trie::StorageProof = serde_json::from_value(short_key).unwrap();
    assert_eq!((slot.key, slot.value), (B256::ZERO, U256::from(56)));
    let long_key =
        serde_json::json!({"key": format!("0x{}", "11".repeat(33)), "value": 1, "proof": []});
    assert!(serde_json::from_value::<chainstore_trie::StorageProof>(long_key).is_err());
}
