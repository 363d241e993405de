//! `logs` against a brute-force scan of the committed receipts (the `eth_getLogs` rules).

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use alloy_primitives::{Address, B256};
use chainstore_chain::synth::{SynthChain, transfer_topic};
use chainstore_chain::{BlockCommit, LogFilter};
use serde_json::{Value, json};

use crate::query_fixture::{Fixture, assert_keys, created_contract, h, q};

/// A filter as the test states it.
#[derive(Debug, Clone, Default)]
struct Filter {
    from: Option<u64>,
    to: Option<u64>,
    addresses: Vec<Address>,
    topics: [Vec<B256>; 4],
}

impl Filter {
    fn args(&self) -> Vec<String> {
        let mut args = vec!["logs".to_string()];
        // Block numbers once in decimal, once in hex: both are accepted.
        if let Some(from) = self.from {
            args.extend(["--from".to_string(), from.to_string()]);
        }
        if let Some(to) = self.to {
            args.extend(["--to".to_string(), q(to)]);
        }
        for a in &self.addresses {
            args.extend(["--address".to_string(), h(a)]);
        }
        for (position, topics) in self.topics.iter().enumerate() {
            for t in topics {
                args.extend([format!("--topic{position}"), h(t)]);
            }
        }
        args
    }
}

/// Every log of the committed blocks that `filter` selects, in the output shape.
fn brute_force(blocks: &[BlockCommit], filter: &Filter) -> Vec<Value> {
    let mut out = Vec::new();
    for b in blocks {
        let in_range =
            filter.from.is_none_or(|f| b.number >= f) && filter.to.is_none_or(|t| b.number <= t);
        let mut log_index = 0u64;
        for (tx_index, receipt) in b.receipts.iter().enumerate() {
            for log in &receipt.logs {
                let address_ok =
                    filter.addresses.is_empty() || filter.addresses.contains(&log.address);
                let mut topics_ok = true;
                for (position, wanted) in filter.topics.iter().enumerate() {
                    if wanted.is_empty() {
                        continue;
                    }
                    match log.topics.get(position) {
                        Some(t) if wanted.contains(t) => {}
                        _ => topics_ok = false,
                    }
                }
                if in_range && address_ok && topics_ok {
                    let topics: Vec<String> = log.topics.iter().map(h).collect();
                    out.push(json!({
                        "blockNumber": q(b.number),
                        "blockHash": h(b.hash),
                        "transactionHash": h(receipt.transaction_hash),
                        "transactionIndex": q(tx_index as u64),
                        "logIndex": q(log_index),
                        "address": h(log.address),
                        "topics": topics,
                        "data": h(&log.data),
                    }));
                }
                log_index += 1;
            }
        }
    }
    out
}

/// The filters of the test, each with a floor on how many logs it must find (so that a
/// filter that finds nothing by mistake is noticed).
fn cases(f: &Fixture) -> Vec<(&'static str, Filter, usize)> {
    let first = &f.blocks[5].receipts[0].logs[0];
    let (sender, recipient) = (first.topics[1], first.topics[2]);
    let other_sender = f.blocks[7].receipts[3].logs[0].topics[1];
    let topics = |t0: Vec<B256>, t1: Vec<B256>, t2: Vec<B256>, t3: Vec<B256>| [t0, t1, t2, t3];
    let none = Vec::new;
    let all = Filter::default();
    vec![
        ("everything", all.clone(), 60),
        ("address only", Filter { addresses: vec![SynthChain::token(1)], ..all.clone() }, 1),
        (
            "two addresses",
            Filter { addresses: vec![SynthChain::token(0), created_contract()], ..all.clone() },
            2,
        ),
        (
            "topic0 only",
            Filter {
                topics: topics(vec![transfer_topic()], none(), none(), none()),
                ..all.clone()
            },
            60,
        ),
        (
            "topic0 and topic2",
            Filter {
                topics: topics(vec![transfer_topic()], none(), vec![recipient], none()),
                ..all.clone()
            },
            1,
        ),
        (
            "two senders at topic1",
            Filter {
                topics: topics(none(), vec![sender, other_sender], none(), none()),
                ..all.clone()
            },
            2,
        ),
        (
            "block range and topic0",
            Filter {
                from: Some(3),
                to: Some(6),
                topics: topics(vec![transfer_topic()], none(), none(), none()),
                ..all.clone()
            },
            24,
        ),
        (
            "topic1 in the last block",
            Filter {
                from: Some(11),
                topics: topics(none(), vec![B256::repeat_byte(1)], none(), none()),
                ..all.clone()
            },
            2,
        ),
        (
            "topic3",
            Filter {
                topics: topics(none(), none(), none(), vec![B256::repeat_byte(3)]),
                ..all.clone()
            },
            2,
        ),
        (
            "address and topic1",
            Filter {
                addresses: vec![SynthChain::token(0)],
                topics: topics(none(), vec![B256::repeat_byte(9)], none(), none()),
                ..all.clone()
            },
            1,
        ),
        ("to the genesis", Filter { to: Some(0), ..all.clone() }, 0),
        ("above the head", Filter { from: Some(20), ..all.clone() }, 0),
        (
            "unknown address",
            Filter { addresses: vec![Address::repeat_byte(0x77)], ..all.clone() },
            0,
        ),
        (
            "topic2 that is never at position 2",
            Filter {
                topics: topics(none(), none(), vec![transfer_topic()], none()),
                ..all.clone()
            },
            0,
        ),
    ]
}

#[test]
fn logs_match_a_brute_force_scan_of_the_committed_receipts() {
    let f = Fixture::new();
    let cases = cases(&f);
    let mut outputs = Vec::new();
    for (name, filter, at_least) in &cases {
        let args = filter.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = f.json(&args);
        let got = v.as_array().unwrap_or_else(|| panic!("{name}: not an array: {v}"));
        let expected = brute_force(&f.blocks, filter);
        assert!(expected.len() >= *at_least, "{name}: the case finds only {}", expected.len());
        assert_eq!(got, &expected, "{name}: {args:?}");
        for log in got {
            assert_keys(
                log,
                &[
                    "blockNumber",
                    "blockHash",
                    "transactionHash",
                    "transactionIndex",
                    "logIndex",
                    "address",
                    "topics",
                    "data",
                ],
            );
        }
        outputs.push(got.len());
    }
    // The library's answers agree.
    let store = f.open();
    for ((name, filter, _), n) in cases.iter().zip(outputs) {
        let library = LogFilter {
            from_block: filter.from,
            to_block: filter.to,
            addresses: filter.addresses.clone(),
            topics: filter.topics.clone(),
        };
        assert_eq!(store.logs(&library).unwrap().len(), n, "{name}");
    }
}

#[test]
fn log_index_counts_within_the_block() {
    let f = Fixture::new();
    let v = f.json(&["logs", "--from", "11", "--to", "11"]);
    let indexes: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["transactionIndex"].as_str().unwrap(), l["logIndex"].as_str().unwrap()))
        .collect();
    // Transaction 0 has two logs, transaction 1 none, transaction 2 three.
    let expected = [("0x0", "0x0"), ("0x0", "0x1"), ("0x2", "0x2"), ("0x2", "0x3"), ("0x2", "0x4")];
    assert_eq!(indexes, expected);
}

#[test]
fn logs_rejects_bad_filters_naming_the_option() {
    let f = Fixture::new();
    let e = f.fail(&["logs", "--from", "5", "--to", "2"]);
    assert!(e.contains("--from 5 is above --to 2"), "{e}");
    let e = f.fail(&["logs", "--topic1", "0x1234"]);
    assert!(e.contains("--topic1") && e.contains("\"0x1234\""), "{e}");
    let e = f.fail(&["logs", "--address", "0x12"]);
    assert!(e.contains("--address") && e.contains("\"0x12\""), "{e}");
    let e = f.fail(&["logs", "--from", "ten"]);
    assert!(e.contains("--from") && e.contains("\"ten\""), "{e}");
}
