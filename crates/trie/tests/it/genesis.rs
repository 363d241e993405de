//! Genesis allocations reach their known state roots through the incremental path: the
//! accounts go in over several batches, persisting node updates between batches.

use crate::common::{Chain, b256, hex_bytes, quantity, read_json, rebuild};
use alloy_primitives::{Address, B256, U256, b256, keccak256};
use alloy_trie::{HashBuilder, Nibbles, proof::verify_proof};
use chainstore_trie::{Account, account_proof, rebuild_state_root, verify_account_proof};
use serde_json::Value;

const MAINNET_ROOT: B256 =
    b256!("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544");

/// One genesis account: address, account fields, non-zero storage.
type Alloc = (Address, Account, Vec<(B256, U256)>);

fn parse_alloc(genesis: &Value) -> Vec<Alloc> {
    let alloc = genesis["alloc"].as_object().expect("alloc object");
    alloc.iter().map(|(address, entry)| parse_account(address, entry)).collect()
}

fn parse_account(address: &str, entry: &Value) -> Alloc {
    let address = Address::from_slice(&hex_bytes(address));
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    let nonce = field("nonce").map_or(U256::ZERO, quantity);
    let code = field("code").map(hex_bytes).unwrap_or_default();
    let account = Account {
        nonce: nonce.try_into().expect("nonce fits u64"),
        balance: field("balance").map_or(U256::ZERO, quantity),
        code_hash: keccak256(&code),
    };
    let storage = entry.get("storage").and_then(Value::as_object);
    let slots = storage.into_iter().flatten().map(|(slot, value)| {
        (b256(slot), U256::from_be_bytes(b256(value.as_str().expect("hex value")).0))
    });
    (address, account, slots.filter(|(_, value)| !value.is_zero()).collect())
}

/// Commits the allocation in `batches` interleaved batches and checks every intermediate root
/// and node set against a full rebuild; returns the final root.
fn commit_in_batches(alloc: &[Alloc], batches: usize) -> (B256, Chain) {
    let mut chain = Chain::default();
    for batch in 0..batches {
        for (address, account, slots) in alloc.iter().skip(batch).step_by(batches) {
            chain.state.set_account(*address, *account);
            for (slot, value) in slots {
                chain.state.set_storage(*address, *slot, *value);
            }
        }
        let out = chain.commit();
        let (root, model) = rebuild(&chain.state, true);
        assert_eq!(out.root, root, "batch {batch}: incremental root differs from a rebuild");
        assert!(model.matches(&chain.nodes), "batch {batch}: stored nodes differ");
    }
    let root = chain.commit().root;
    (root, chain)
}

fn check_network(file: &str, accounts: usize, expected: B256) {
    let genesis = read_json(&format!("mainnet-genesis/{file}"));
    if let Some(root) = genesis.get("stateRoot").and_then(Value::as_str) {
        assert_eq!(b256(root), expected, "{file}: README and file disagree");
    }
    let alloc = parse_alloc(&genesis);
    assert_eq!(alloc.len(), accounts, "{file}: account count");
    let (root, chain) = commit_in_batches(&alloc, 7);
    assert_eq!(root, expected, "{file}: state root");
    // The one-pass rebuild (import, verify) gives the same root and exactly the stored nodes.
    let rebuilt = rebuild_state_root(&chain.state).unwrap();
    assert_eq!(rebuilt.root, expected, "{file}: rebuild_state_root");
    let mut fresh = chainstore_trie::MemoryTrieNodes::new();
    fresh.apply(&rebuilt.updates);
    assert_eq!(fresh, chain.nodes, "{file}: rebuilt nodes differ from the incremental ones");
    // Our own proofs of every tenth genesis account (and its first slots, plus an absent one)
    // verify under alloy-trie's verifier, against leaves built from the allocation itself.
    let sampled =
        alloc.iter().enumerate().filter(|(i, (.., slots))| i % 10 == 0 || !slots.is_empty());
    let mut with_storage = 0;
    for (_, (address, account, slots)) in sampled {
        with_storage += usize::from(!slots.is_empty());
        let mut keys: Vec<B256> = slots.iter().take(3).map(|(slot, _)| *slot).collect();
        keys.push(B256::repeat_byte(0xee));
        let proof = account_proof(&chain.nodes, &chain.state, *address, &keys).unwrap();
        let storage_root = independent_storage_root(slots);
        assert_eq!(proof.storage_hash, storage_root, "{file}: storage root of {address}");
        let leaf = alloy_rlp::encode(account.to_trie_account(storage_root));
        let key = Nibbles::unpack(keccak256(address));
        verify_proof(expected, key, Some(leaf), &proof.account_proof).unwrap();
        for (slot, proven) in keys.iter().zip(&proof.storage_proof) {
            let value = slots.iter().find(|(s, _)| s == slot).map(|(_, v)| alloy_rlp::encode(v));
            let key = Nibbles::unpack(keccak256(slot));
            verify_proof(storage_root, key, value, &proven.proof).unwrap();
        }
        assert!(verify_account_proof(expected, &proof).is_ok());
    }
    let expected_with_storage = alloc.iter().filter(|(.., slots)| !slots.is_empty()).count();
    assert_eq!(with_storage, expected_with_storage, "{file}: every account with storage proven");
    let absent =
        account_proof(&chain.nodes, &chain.state, Address::repeat_byte(0xab), &[]).unwrap();
    let key = Nibbles::unpack(keccak256(Address::repeat_byte(0xab)));
    verify_proof(expected, key, None, &absent.account_proof).unwrap();
}

fn independent_storage_root(slots: &[(B256, U256)]) -> B256 {
    let sorted: std::collections::BTreeMap<B256, U256> =
        slots.iter().map(|(slot, value)| (keccak256(slot), *value)).collect();
    let mut builder = HashBuilder::default();
    for (key, value) in sorted {
        builder.add_leaf(Nibbles::unpack(key), &alloy_rlp::encode(value));
    }
    builder.root()
}

#[test]
fn mainnet_genesis_root() {
    check_network("mainnet.json", 8893, MAINNET_ROOT);
}

#[test]
fn mainnet_genesis_root_matches_the_genesis_block_header() {
    // Independent source of the expected root: the genesis block RLP from ethereum/tests,
    // whose header hashes to mainnet's genesis hash and holds the state root as field 4.
    let test = read_json("mainnet-genesis/genesishashestest.json");
    let block = hex_bytes(test["genesis_rlp_hex"].as_str().unwrap());
    let mut rest = &block[..];
    let outer = alloy_rlp::Header::decode(&mut rest).unwrap();
    assert!(outer.list);
    let header_start = rest;
    let header = alloy_rlp::Header::decode(&mut rest).unwrap();
    let header_len = header.length() + header.payload_length;
    let header_hash = keccak256(&header_start[..header_len]);
    assert_eq!(
        header_hash,
        b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
    );
    let _parent: B256 = alloy_rlp::Decodable::decode(&mut rest).unwrap();
    let _ommers: B256 = alloy_rlp::Decodable::decode(&mut rest).unwrap();
    let _coinbase: Address = alloy_rlp::Decodable::decode(&mut rest).unwrap();
    let state_root: B256 = alloy_rlp::Decodable::decode(&mut rest).unwrap();
    assert_eq!(state_root, MAINNET_ROOT);
    let alloc = parse_alloc(&read_json("mainnet-genesis/mainnet.json"));
    assert_eq!(commit_in_batches(&alloc, 3).0, state_root);
}

#[test]
fn sepolia_genesis_root() {
    let root = b256!("5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494");
    check_network("sepolia.json", 15, root);
}

#[test]
fn holesky_genesis_root() {
    let root = b256!("69d8c9d72f6fa4ad42d4702b433707212f90db395eb54dc20bc85de253788783");
    check_network("holesky.json", 317, root);
}

#[test]
fn hoodi_genesis_root() {
    let root = b256!("da87d7f5f91c51508791bbcbd4aa5baf04917830b86985eeb9ad3d5bfb657576");
    check_network("hoodi.json", 335, root);
}
