//! The server over real HTTP, on a small synthetic chain. Expected values come from the
//! committed input (a model replayed from the blocks), from alloy-trie's proof verifier, or
//! from the JSON-RPC specification.

#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

mod client;

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable as _;
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use chainstore_chain::synth::{SynthChain, SynthConfig};
use chainstore_chain::{BlockCommit, ChainStore, Retention};
use chainstore_rpc::{Limits, RpcConfig, RpcServer, StartError};
use serde_json::{Value, json};

use client::Client;

const BLOCKS: u64 = 6;

/// A store holding a small synthetic chain, its input, and a server on it.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<ChainStore>,
    blocks: Vec<BlockCommit>,
    roots: Vec<B256>,
    server: Option<RpcServer>,
    client: Client,
}

fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ChainStore::open(dir.path(), Default::default()).unwrap());
    let mut chain =
        SynthChain::new(SynthConfig { accounts: 30, tokens: 2, txs_per_block: 4, seed: 7 });
    let mut blocks = Vec::new();
    let mut roots = Vec::new();
    for _ in 0..=BLOCKS {
        let block = chain.next_block();
        roots.push(store.commit_block(&block).unwrap().state_root);
        blocks.push(block);
    }
    let config = RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        chain_id: 7,
        limits,
        ..Default::default()
    };
    let server = RpcServer::start(store.clone(), config).unwrap();
    let client = Client::new(server.local_addr());
    Fixture { _dir: dir, store, blocks, roots, server: Some(server), client }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

/// Balances and nonces after each block, replayed from the input.
fn model(blocks: &[BlockCommit]) -> Vec<BTreeMap<Address, (U256, u64)>> {
    let mut state: BTreeMap<Address, (U256, u64)> = BTreeMap::new();
    let mut out = Vec::new();
    for block in blocks {
        for (address, change) in &block.state {
            let Some(change) = change else {
                state.remove(address);
                continue;
            };
            let entry = state.entry(*address).or_default();
            if let Some(b) = change.balance {
                entry.0 = b;
            }
            if let Some(n) = change.nonce {
                entry.1 = n;
            }
        }
        out.push(state.clone());
    }
    out
}

#[test]
fn identity_and_head() {
    let f = fixture(Limits::default());
    assert_eq!(f.client.result("eth_chainId", json!([])), json!("0x7"));
    assert_eq!(f.client.result("net_version", json!([])), json!("7"));
    assert!(
        f.client
            .result("web3_clientVersion", json!([]))
            .as_str()
            .unwrap()
            .starts_with("chainstore/")
    );
    assert_eq!(f.client.result("eth_blockNumber", json!([])), json!(hex(BLOCKS)));
}

#[test]
fn blocks_transactions_and_receipts_match_the_input() {
    let f = fixture(Limits::default());
    let input = &f.blocks[3];
    let block = f.client.result("eth_getBlockByNumber", json!([hex(3), false]));
    assert_eq!(block["hash"], json!(input.hash));
    assert_eq!(block["parentHash"], json!(input.parent_hash));
    assert_eq!(block["timestamp"], json!(hex(input.timestamp)));
    assert_eq!(block["stateRoot"], json!(f.roots[3]));
    let hashes: Vec<Value> = input.transactions.iter().map(|t| json!(t.hash)).collect();
    assert_eq!(block["transactions"], Value::Array(hashes));
    let gas: u64 = input.receipts.iter().map(|r| r.gas_used).sum();
    assert_eq!(block["gasUsed"], json!(hex(gas)));

    let full = f.client.result("eth_getBlockByHash", json!([input.hash, true]));
    for (i, tx) in input.transactions.iter().enumerate() {
        let got = &full["transactions"][i];
        assert_eq!(got["hash"], json!(tx.hash));
        assert_eq!(got["from"], json!(tx.from));
        assert_eq!(got["to"], json!(tx.to));
        assert_eq!(got["nonce"], json!(hex(tx.nonce)));
        assert_eq!(got["transactionIndex"], json!(hex(i as u64)));
        assert_eq!(got["blockNumber"], json!(hex(3)));
    }
    let count = f.client.result("eth_getBlockTransactionCountByHash", json!([input.hash]));
    assert_eq!(count, json!(hex(input.transactions.len() as u64)));
    let by_index =
        f.client.result("eth_getTransactionByBlockNumberAndIndex", json!([hex(3), "0x1"]));
    assert_eq!(by_index["hash"], json!(input.transactions[1].hash));
    let out_of_range =
        f.client.result("eth_getTransactionByBlockNumberAndIndex", json!([hex(3), "0x63"]));
    assert_eq!(out_of_range, Value::Null);

    let receipts = f.client.result("eth_getBlockReceipts", json!([hex(3)]));
    let mut cumulative = 0;
    let mut log_index = 0;
    for (i, r) in input.receipts.iter().enumerate() {
        cumulative += r.gas_used;
        let got = &receipts[i];
        assert_eq!(got["transactionHash"], json!(r.transaction_hash));
        assert_eq!(got["status"], json!(hex(r.status)));
        assert_eq!(got["gasUsed"], json!(hex(r.gas_used)));
        assert_eq!(got["cumulativeGasUsed"], json!(hex(cumulative)));
        for (j, log) in r.logs.iter().enumerate() {
            assert_eq!(got["logs"][j]["address"], json!(log.address));
            assert_eq!(got["logs"][j]["logIndex"], json!(hex(log_index)));
            log_index += 1;
        }
        let single = f.client.result("eth_getTransactionReceipt", json!([r.transaction_hash]));
        assert_eq!(&single, got);
    }
    let unknown = B256::repeat_byte(0xee);
    assert_eq!(f.client.result("eth_getTransactionByHash", json!([unknown])), Value::Null);
    assert_eq!(f.client.result("eth_getBlockByHash", json!([unknown, false])), Value::Null);
    assert_eq!(f.client.result("eth_getBlockByNumber", json!(["0x64", false])), Value::Null);
}

#[test]
fn logs_match_an_independent_scan_of_the_input() {
    let f = fixture(Limits::default());
    let token = SynthChain::token(0);
    let sender = f.blocks[2].transactions[0].from.into_word();
    let filter = json!([{ "fromBlock": "0x1", "toBlock": "latest", "address": [token],
                          "topics": [null, [sender, B256::repeat_byte(1)]] }]);
    let got = f.client.result("eth_getLogs", filter);
    let mut expected = Vec::new();
    for block in &f.blocks[1..] {
        for (tx_index, r) in block.receipts.iter().enumerate() {
            for log in &r.logs {
                if log.address == token && log.topics.get(1) == Some(&sender) {
                    expected.push((block.number, tx_index, log.data.clone()));
                }
            }
        }
    }
    assert!(!expected.is_empty());
    let got: Vec<_> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                u64::from_str_radix(&l["blockNumber"].as_str().unwrap()[2..], 16).unwrap(),
                usize::from_str_radix(&l["transactionIndex"].as_str().unwrap()[2..], 16).unwrap(),
                l["data"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let by_hash = f.client.result("eth_getLogs", json!([{ "blockHash": f.blocks[2].hash }]));
    let in_block: usize = f.blocks[2].receipts.iter().map(|r| r.logs.len()).sum();
    assert_eq!(by_hash.as_array().unwrap().len(), in_block);
}

#[test]
fn state_at_every_block_matches_the_input_and_proofs_verify() {
    let f = fixture(Limits::default());
    let states = model(&f.blocks);
    let sender = f.blocks[2].transactions[0].from;
    for n in [1, 2, BLOCKS] {
        let (balance, nonce) = states[n as usize][&sender];
        let got = f.client.result("eth_getBalance", json!([sender, hex(n)]));
        assert_eq!(got, json!(balance), "balance at {n}");
        let got = f.client.result("eth_getTransactionCount", json!([sender, hex(n)]));
        assert_eq!(got, json!(hex(nonce)), "nonce at {n}");
        let proof = f.client.result("eth_getProof", json!([sender, [], hex(n)]));
        let account = TrieAccount {
            nonce,
            balance,
            storage_root: proof["storageHash"].as_str().unwrap().parse().unwrap(),
            code_hash: proof["codeHash"].as_str().unwrap().parse().unwrap(),
        };
        let mut encoded = Vec::new();
        account.encode(&mut encoded);
        let nodes: Vec<alloy_primitives::Bytes> =
            serde_json::from_value(proof["accountProof"].clone()).unwrap();
        let key = Nibbles::unpack(keccak256(sender));
        verify_proof(f.roots[n as usize], key, Some(encoded), &nodes).unwrap();
    }
    let latest = f.client.result("eth_getBalance", json!([sender, "latest"]));
    assert_eq!(latest, json!(states[BLOCKS as usize][&sender].0));
    let by_hash =
        f.client.result("eth_getBalance", json!([sender, { "blockHash": f.blocks[1].hash }]));
    assert_eq!(by_hash, json!(states[1][&sender].0));
    let code = f.client.result("eth_getCode", json!([SynthChain::token(1), "earliest"]));
    assert_eq!(code, json!(keccak256("token code 1")));
    let absent = Address::repeat_byte(0x42);
    assert_eq!(f.client.result("eth_getBalance", json!([absent, "latest"])), json!("0x0"));
    assert_eq!(f.client.result("eth_getCode", json!([absent, "latest"])), json!("0x"));
}

/// `--rpc-max-logs-results`: a query with exactly the limit's logs is answered, one with more
/// is refused (the server stops reading at the first log past the limit).
#[test]
fn the_logs_result_limit_is_exact() {
    let f = fixture(Limits::default());
    let in_block: usize = f.blocks[2].receipts.iter().map(|r| r.logs.len()).sum();
    assert!(in_block > 1, "block 2 has {in_block} logs");
    let query = json!([{ "blockHash": f.blocks[2].hash }]);
    drop(f);
    let exact = fixture(Limits { max_logs_results: in_block, ..Default::default() });
    assert_eq!(
        exact.client.result("eth_getLogs", query.clone()).as_array().unwrap().len(),
        in_block
    );
    drop(exact);
    let below = fixture(Limits { max_logs_results: in_block - 1, ..Default::default() });
    let e = below.client.error("eth_getLogs", query);
    assert_eq!(e["code"], -32005, "{e}");
    let limit = format!("more than {}", in_block - 1);
    assert!(e["message"].as_str().unwrap().contains(&limit), "{e}");
}

#[test]
fn errors_name_what_is_wrong() {
    let f = fixture(Limits { max_logs_range: 3, max_batch: 2, ..Default::default() });
    let e = f.client.error("eth_getBalance", json!(["0x1234", "latest"]));
    assert_eq!(e["code"], -32602);
    assert!(e["message"].as_str().unwrap().contains("params[0] (address)"), "{e}");
    let e = f.client.error("eth_getBalance", json!([Address::ZERO, "0xzz"]));
    assert!(e["message"].as_str().unwrap().contains("params[1] (block)"), "{e}");
    let e = f.client.error("eth_getBalance", json!([Address::ZERO, "0x64"]));
    assert_eq!(e["code"], -32000, "{e}");
    let e = f.client.error("eth_getBalance", json!([Address::ZERO, { "blockHash": B256::ZERO }]));
    assert_eq!(e["code"], -32001, "{e}");
    let e = f.client.error("eth_sendRawTransaction", json!(["0x00"]));
    assert_eq!(e["code"], -32601);
    let e = f.client.error("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": "0x5" }]));
    assert_eq!(e["code"], -32005);
    assert!(e["message"].as_str().unwrap().contains("at most 3 blocks"), "{e}");
    let e = f.client.error("eth_getBlockByNumber", json!(["safe", false]));
    assert_eq!(e["code"], -32602);

    let broken = f.client.raw(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
    assert_eq!(broken["error"]["code"], -32700, "{broken}");
    let call = |id: u64| json!({ "jsonrpc": "2.0", "id": id, "method": "eth_blockNumber" });
    let batch = f.client.raw(json!([call(1), call(2)]).to_string().as_bytes());
    let ids: Vec<u64> =
        batch.as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(batch.as_array().unwrap().iter().all(|r| r["result"] == json!(hex(BLOCKS))));
    let too_many = f.client.raw(json!([call(1), call(2), call(3)]).to_string().as_bytes());
    assert_eq!(too_many["error"]["code"], -32010, "{too_many}");
}

#[test]
fn pruned_heights_name_the_oldest_available_block() {
    let f = fixture(Limits::default());
    let retention = Retention { history: Some(2), receipts: Some(2), tx_index: None };
    f.store.prune(&retention, 1000, &mut |_| {}).unwrap();
    let e = f.client.error("eth_getBalance", json!([Address::ZERO, "0x1"]));
    assert_eq!(e["code"], -32002, "{e}");
    assert_eq!(e["data"]["oldestAvailable"], json!(hex(BLOCKS - 2)), "{e}");
    let e = f.client.error("eth_getLogs", json!([{ "fromBlock": "0x1", "toBlock": "0x2" }]));
    assert_eq!(e["code"], -32002, "{e}");
    let old_tx = f.blocks[1].transactions[0].hash;
    let e = f.client.error("eth_getTransactionReceipt", json!([old_tx]));
    assert_eq!(e["code"], -32002, "{e}");
}

#[test]
fn otterscan_pages_cover_an_address_newest_first() {
    let f = fixture(Limits::default());
    let address = f.blocks[1].transactions[0].from;
    let mut expected: Vec<B256> = f
        .blocks
        .iter()
        .flat_map(|b| &b.transactions)
        .filter(|t| t.from == address || t.to == Some(address))
        .map(|t| t.hash)
        .collect();
    expected.reverse();
    let page = f.client.result("ots_searchTransactionsBefore", json!([address, 0, 1000]));
    let hashes: Vec<B256> = page["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hash"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(hashes, expected);
    assert_eq!((page["firstPage"].as_bool(), page["lastPage"].as_bool()), (Some(true), Some(true)));
    assert_eq!(page["receipts"].as_array().unwrap().len(), expected.len());
    let after = f.client.result("ots_searchTransactionsAfter", json!([address, 0, 1]));
    let oldest = after["txs"].as_array().unwrap().last().unwrap()["hash"].clone();
    assert_eq!(oldest, json!(expected.last().unwrap()));
    assert_eq!(after["lastPage"], json!(true));
}

#[test]
fn a_remote_address_needs_to_be_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ChainStore::open(dir.path(), Default::default()).unwrap());
    let config = RpcConfig { addr: "0.0.0.0:0".parse().unwrap(), ..Default::default() };
    let e = RpcServer::start(store, config).unwrap_err();
    assert!(matches!(e, StartError::Remote(_)), "{e}");
    assert!(e.to_string().contains("--rpc-allow-remote"), "{e}");
}

/// `max_connections`: while one request is in progress (its body still arriving), a second is
/// answered HTTP 429; once the first completes, requests are served again.
#[test]
fn one_request_more_than_max_connections_is_answered_429() {
    use std::io::{Read as _, Write as _};
    use std::time::Duration;
    let f = fixture(Limits { max_connections: 1, ..Default::default() });
    let addr = f.server.as_ref().unwrap().local_addr();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber" }).to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The first request: headers and half the body, then it waits.
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    first.write_all(head.as_bytes()).unwrap();
    first.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    first.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let mut second = std::net::TcpStream::connect(addr).unwrap();
    second.write_all(head.as_bytes()).unwrap();
    second.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    second.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");

    // The first completes and is answered; then the slot is free again.
    first.write_all(&body.as_bytes()[body.len() / 2..]).unwrap();
    let mut response = String::new();
    first.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&format!("\"result\":\"{}\"", hex(BLOCKS))), "{response}");
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(f.client.result("eth_blockNumber", json!([])), json!(hex(BLOCKS)));
}

/// The per-request timeout: a call whose work outlasts it is answered with the limit error
/// naming it. The work is an `eth_getLogs` returning 100,000 logs
/// (tens of milliseconds at least) against a timeout of 1 ms.
#[test]
fn a_call_that_outlasts_the_timeout_gets_the_limit_error() {
    use chainstore_chain::{Log, Receipt, Transaction};
    use std::time::Duration;
    const LOGS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ChainStore::open(dir.path(), Default::default()).unwrap());
    let tx = keccak256("the transaction");
    let log =
        Log { address: Address::repeat_byte(1), topics: vec![B256::ZERO], data: Vec::new().into() };
    let block = BlockCommit {
        number: 0,
        hash: keccak256("block 0"),
        transactions: vec![Transaction {
            hash: tx,
            from: Address::repeat_byte(2),
            to: None,
            nonce: 0,
            raw: vec![1].into(),
        }],
        receipts: vec![Receipt {
            transaction_hash: tx,
            status: 1,
            gas_used: 21_000,
            logs: vec![log; LOGS],
        }],
        ..Default::default()
    };
    store.commit_block(&block).unwrap();
    let limits =
        Limits { max_logs_results: LOGS, timeout: Duration::from_millis(1), ..Default::default() };
    let config = RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), limits, ..Default::default() };
    let server = RpcServer::start(store, config).unwrap();
    let client = Client::new(server.local_addr());
    let e = client.error("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": "0x0" }]));
    assert_eq!(e["code"], -32005, "{e}");
    assert!(e["message"].as_str().unwrap().contains("limit of 1 ms per request"), "{e}");
    server.stop();
}
