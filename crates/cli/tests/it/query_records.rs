//! `block`, `tx`, `receipt` and `stats` against the committed blocks.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use alloy_primitives::hex;
use chainstore_chain::{BlockCommit, Transaction};
use chainstore_engine::backend::KeyRange;
use serde_json::Value;

use crate::query_fixture::{Fixture, assert_keys, h, q};

const TX_KEYS: [&str; 8] =
    ["hash", "from", "to", "nonce", "raw", "blockNumber", "blockHash", "transactionIndex"];

/// A transaction's JSON against the committed transaction and its position.
fn check_tx(v: &Value, tx: &Transaction, block: &BlockCommit, index: usize) {
    assert_keys(v, &TX_KEYS);
    assert_eq!(v["hash"], h(tx.hash));
    assert_eq!(v["from"], h(tx.from));
    match tx.to {
        Some(to) => assert_eq!(v["to"], h(to)),
        None => assert!(v["to"].is_null(), "{v}"),
    }
    assert_eq!(v["nonce"], q(tx.nonce));
    assert_eq!(v["raw"], h(&tx.raw));
    assert_eq!(v["blockNumber"], q(block.number));
    assert_eq!(v["blockHash"], h(block.hash));
    assert_eq!(v["transactionIndex"], q(index as u64));
}

#[test]
fn block_by_number_or_hash_is_the_committed_block() {
    let f = Fixture::new();
    for n in [0usize, 4, 11] {
        let b = &f.blocks[n];
        let v = f.json(&["block", &n.to_string()]);
        assert_keys(
            &v,
            &["number", "hash", "parentHash", "timestamp", "stateRoot", "transactions"],
        );
        assert_eq!(v["number"], q(b.number));
        assert_eq!(v["hash"], h(b.hash));
        assert_eq!(v["parentHash"], h(b.parent_hash));
        assert_eq!(v["timestamp"], q(b.timestamp));
        assert_eq!(v["stateRoot"], h(f.roots[n]));
        let txs = v["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), b.transactions.len());
        for (i, (json, tx)) in txs.iter().zip(&b.transactions).enumerate() {
            check_tx(json, tx, b, i);
        }
        // The same block by hex number and by hash, with or without 0x, in any case.
        assert_eq!(f.json(&["block", &q(b.number)]), v);
        assert_eq!(f.json(&["block", &h(b.hash)]), v);
        assert_eq!(f.json(&["block", &hex::encode_upper(b.hash)]), v);
    }
}

#[test]
fn tx_of_every_transaction_is_the_committed_one_with_its_location() {
    let f = Fixture::new();
    for n in [1usize, 11] {
        let b = &f.blocks[n];
        assert!(!b.transactions.is_empty());
        for (i, tx) in b.transactions.iter().enumerate() {
            check_tx(&f.json(&["tx", &h(tx.hash)]), tx, b, i);
        }
    }
    // Without 0x and in upper case.
    let tx = &f.blocks[3].transactions[2];
    check_tx(&f.json(&["tx", &hex::encode_upper(tx.hash)]), tx, &f.blocks[3], 2);
}

#[test]
fn receipt_has_the_committed_logs_status_and_gas() {
    let f = Fixture::new();
    for n in [2usize, 11] {
        let b = &f.blocks[n];
        for (i, (tx, r)) in b.transactions.iter().zip(&b.receipts).enumerate() {
            let v = f.json(&["receipt", &h(tx.hash)]);
            assert_keys(
                &v,
                &[
                    "transactionHash",
                    "status",
                    "gasUsed",
                    "logs",
                    "blockNumber",
                    "blockHash",
                    "transactionIndex",
                ],
            );
            assert_eq!(v["transactionHash"], h(tx.hash));
            assert_eq!(v["status"], q(r.status));
            assert_eq!(v["gasUsed"], q(r.gas_used));
            assert_eq!(v["blockNumber"], q(b.number));
            assert_eq!(v["blockHash"], h(b.hash));
            assert_eq!(v["transactionIndex"], q(i as u64));
            let logs = v["logs"].as_array().unwrap();
            assert_eq!(logs.len(), r.logs.len(), "{v}");
            for (json, log) in logs.iter().zip(&r.logs) {
                assert_keys(json, &["address", "topics", "data"]);
                assert_eq!(json["address"], h(log.address));
                let topics: Vec<String> = log.topics.iter().map(h).collect();
                assert_eq!(json["topics"], serde_json::json!(topics));
                assert_eq!(json["data"], h(&log.data));
            }
        }
    }
}

#[test]
fn stats_counts_every_table() {
    let f = Fixture::new();
    let v = f.json(&["stats"]);
    // The backend file after `stats` (closing the store, it may have grown past what `stats`
    // saw; opening it below may grow it again).
    let redb = std::fs::metadata(f.dir.path().join("data.redb")).unwrap().len();
    assert_keys(
        &v,
        &[
            "backend",
            "head",
            "checkpoint",
            "visibleSeq",
            "logBytes",
            "memtableBytes",
            "backendBytes",
            "space",
            "tables",
        ],
    );
    let head = f.head();
    assert_eq!(v["backend"], "redb");
    assert_eq!(v["head"]["number"], q(head.number));
    assert_eq!(v["head"]["hash"], h(head.hash));
    assert_eq!(v["head"]["stateRoot"], h(*f.roots.last().unwrap()));
    for key in ["checkpoint", "visibleSeq", "logBytes", "memtableBytes", "backendBytes"] {
        let text = v[key].as_str().unwrap();
        assert!(u64::from_str_radix(&text[2..], 16).is_ok(), "{key}: {text}");
    }
    // Closing indexed everything, and block commits are the only commits.
    assert_eq!(v["checkpoint"], v["visibleSeq"]);
    assert_eq!(v["memtableBytes"], "0x0");
    assert_ne!(v["backendBytes"], "0x0");

    let rows = |name: &str| {
        let t = v["tables"].as_array().unwrap().iter().find(|t| t["name"] == name);
        t.unwrap_or_else(|| panic!("no table {name} in {v}"))["rows"].clone()
    };
    let txs: usize = f.blocks.iter().map(|b| b.transactions.len()).sum();
    let logs: usize = f.blocks.iter().flat_map(|b| &b.receipts).map(|r| r.logs.len()).sum();
    assert_eq!(rows("headers"), q(f.blocks.len() as u64));
    assert_eq!(rows("block_numbers"), q(f.blocks.len() as u64));
    assert_eq!(rows("transactions"), q(txs as u64));
    assert_eq!(rows("receipts"), q(txs as u64));
    assert_eq!(rows("logs_by_address"), q(logs as u64));

    // Every table's rows and bytes against a scan through the library.
    let store = f.open();
    let read = store.database().begin_read();
    let names = read.tables().unwrap();
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), names.len());
    let mut live = 0;
    for (t, name) in tables.iter().zip(&names) {
        assert_keys(t, &["name", "rows", "bytes"]);
        assert_eq!(t["name"], name.as_str());
        let (mut n, mut bytes) = (0u64, 0u64);
        for pair in read.range(name, KeyRange::all(), false).unwrap() {
            let (k, v) = pair.unwrap();
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        assert_eq!(t["rows"], q(n), "{name}");
        assert_eq!(t["bytes"], q(bytes), "{name}");
        live += bytes;
    }

    // Space: live bytes are the tables' bytes; the backend's are its file's.
    let space = &v["space"];
    let number = |key: &str| u64::from_str_radix(&space[key].as_str().unwrap()[2..], 16).unwrap();
    assert_eq!(number("liveBytes"), live);
    let backend = number("backendBytes");
    assert!(backend > 0 && backend <= redb, "{space}, the file has {redb} bytes");
    let amplification = space["backendAmplification"].as_f64().unwrap();
    assert!((amplification - backend as f64 / live as f64).abs() <= 0.005, "{space}");
    assert!(number("logDiskBytes") >= number("logLiveBytes"), "{space}");
    assert!(number("logDiskBytes") > 0, "{space}");

    // redb's own count of its file: the store was closed, so every row is in it, and it stores
    // the tables' bytes plus the checkpoint's few bytes, in the leaf pages of its allocation.
    let pages = &space["backendPages"];
    let page = |key: &str| u64::from_str_radix(&pages[key].as_str().unwrap()[2..], 16).unwrap();
    let (allocated, stored) = (page("allocatedBytes"), page("storedBytes"));
    assert_eq!(page("pageSize"), 4096, "{pages}");
    assert!(allocated <= backend && page("freeBytes") == backend - allocated, "{space}");
    assert!(page("leafBytes") + page("branchBytes") <= allocated, "{pages}");
    assert!(stored <= page("leafBytes"), "{pages}");
    assert!((live..=live + 64).contains(&stored), "{stored} stored for {live} live: {pages}");
}

#[test]
fn without_json_the_output_is_readable_lines() {
    let f = Fixture::new();
    let b = &f.blocks[11];
    let out = f.run(&["block", "11"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "number      : 11", "{text}");
    assert!(lines.contains(&format!("hash        : {}", h(b.hash)).as_str()), "{text}");
    assert!(lines.contains(&format!("timestamp   : {}", b.timestamp).as_str()), "{text}");
    // The contract creation has no recipient.
    assert!(text.contains("\n    to              : -\n"), "{text}");

    // Stats: the counters, then a table of rows and bytes.
    let out = f.run(&["stats"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("backend      : redb\n"), "{text}");
    let headers = text.lines().find(|l| l.starts_with("headers ")).unwrap();
    let columns: Vec<&str> = headers.split_whitespace().collect();
    assert_eq!(columns[..2], ["headers", "12"], "{text}");
}

/// `txs ADDR` lists, in chain order, every committed transaction the address sent or received
/// (a scan of the input), each with its location; `--from`/`--to` cut the range.
#[test]
fn txs_of_an_address_are_the_committed_ones_in_chain_order() {
    let f = Fixture::new();
    // The busiest sender.
    let mut counts = std::collections::BTreeMap::new();
    for tx in f.blocks.iter().flat_map(|b| &b.transactions) {
        *counts.entry(tx.from).or_insert(0) += 1;
    }
    let address = *counts.iter().max_by_key(|(_, n)| **n).unwrap().0;
    let mine = |from: u64, to: u64| -> Vec<(String, u64, usize)> {
        let mut out = Vec::new();
        for b in &f.blocks[from as usize..=to as usize] {
            for (i, tx) in b.transactions.iter().enumerate() {
                if tx.from == address || tx.to == Some(address) {
                    out.push((h(tx.hash), b.number, i));
                }
            }
        }
        out
    };
    let listed = |v: Value| -> Vec<(String, u64, usize)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let block = &f.blocks
                    [usize::from_str_radix(&t["blockNumber"].as_str().unwrap()[2..], 16).unwrap()];
                let index =
                    usize::from_str_radix(&t["transactionIndex"].as_str().unwrap()[2..], 16)
                        .unwrap();
                check_tx(t, &block.transactions[index], block, index);
                (t["hash"].as_str().unwrap().to_string(), block.number, index)
            })
            .collect()
    };
    let head = f.head().number;
    let all = mine(0, head);
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(listed(f.json(&["txs", &h(address)])), all);
    assert_eq!(listed(f.json(&["txs", &h(address), "--from", "3", "--to", "0x6"])), mine(3, 6));
    let e = f.fail(&["txs", &h(address), "--from", "5", "--to", "4"]);
    assert!(e.contains("--from 5 is above --to 4"), "{e}");
    let e = f.fail(&["txs", "0x1234"]);
    assert!(e.contains("invalid address \"0x1234\""), "{e}");
}
