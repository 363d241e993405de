//! Bad arguments and missing records: a message naming the input on stderr, nothing on
//! stdout, a non-zero exit.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use alloy_primitives::B256;
use chainstore_chain::synth::SynthChain;

use crate::query_fixture::{Fixture, chain, expect_failure, h, run_in};

#[test]
fn malformed_addresses_are_named() {
    let f = Fixture::new();
    let short = "0x1234";
    let long = format!("0x{}", "ab".repeat(21));
    let not_hex = format!("0x{}", "zz".repeat(20));
    for bad in [short, long.as_str(), not_hex.as_str(), ""] {
        for args in [vec!["account", bad], vec!["storage", bad, "0x0"], vec!["proof", bad]] {
            let e = f.fail(&args);
            assert!(e.contains(&format!("invalid address {bad:?}")), "{args:?}: {e}");
        }
    }
    let e = f.fail(&["account", short]);
    assert!(e.contains("expected 20 bytes (40 hex digits), got 4 digits"), "{e}");
}

#[test]
fn malformed_hashes_slots_and_numbers_are_named() {
    let f = Fixture::new();
    let a = h(SynthChain::token(0));
    let cases: [(&[&str], &str); 7] = [
        (&["tx", "0xabc"], "invalid transaction hash \"0xabc\""),
        (&["receipt", "0x12"], "invalid transaction hash \"0x12\""),
        (&["block", "twelve"], "invalid block \"twelve\""),
        (&["block", "0x-1"], "invalid block \"0x-1\""),
        (&["storage", &a, "0xgg"], "invalid slot \"0xgg\""),
        (&["proof", &a, "0x1", "nope"], "invalid slot #2 \"nope\""),
        (&["unwind", "1.5"], "invalid block number \"1.5\""),
    ];
    for (args, message) in cases {
        let e = f.fail(args);
        assert!(e.contains(message), "{args:?}: {e}");
    }
    let too_long = format!("0x1{}", "0".repeat(64));
    let e = f.fail(&["storage", &a, &too_long]);
    assert!(e.contains(&format!("invalid slot {too_long:?}")), "{e}");
}

#[test]
fn missing_records_fail_clearly() {
    let f = Fixture::new();
    let unknown = B256::repeat_byte(0x42);
    let e = f.fail(&["block", "99"]);
    assert!(e.contains("block 99 not found (the head is block 11)"), "{e}");
    let e = f.fail(&["block", &h(unknown)]);
    assert!(e.contains(&format!("block {} not found", h(unknown))), "{e}");
    let e = f.fail(&["tx", &h(unknown)]);
    assert!(e.contains(&format!("transaction {} not found", h(unknown))), "{e}");
    let e = f.fail(&["receipt", &h(unknown)]);
    assert!(e.contains(&format!("receipt of transaction {} not found", h(unknown))), "{e}");
}

#[test]
fn a_missing_data_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    for args in [
        vec!["block", "0"],
        vec!["tx", "0x0000000000000000000000000000000000000000000000000000000000000000"],
        vec!["logs"],
        vec!["account", "0x0000000000000000000000000000000000000000"],
        vec!["unwind", "0"],
        vec!["stats"],
    ] {
        let e = expect_failure(&run_in(&missing, &args), &args);
        assert!(e.contains(&format!("no chainstore data in {}", missing.display())), "{e}");
        assert!(!missing.exists(), "{args:?} created the directory");
    }
}

#[test]
fn a_block_without_receipts_has_transactions_but_no_receipts() {
    let mut blocks = chain();
    blocks.truncate(3);
    blocks[2].receipts.clear();
    let f = Fixture::with_blocks(blocks);
    let tx = &f.blocks[2].transactions[1];
    assert_eq!(f.json(&["tx", &h(tx.hash)])["transactionIndex"], "0x1");
    let e = f.fail(&["receipt", &h(tx.hash)]);
    assert!(e.contains(&format!("transaction {} has no receipt", h(tx.hash))), "{e}");
    assert_eq!(f.json(&["logs", "--from", "2"]), serde_json::json!([]));
    assert_eq!(f.json(&["logs"]).as_array().unwrap().len(), 6);
}

#[test]
fn an_empty_store_answers_without_a_head() {
    let f = Fixture::with_blocks(Vec::new());
    let e = f.fail(&["block", "0"]);
    assert!(e.contains("block 0 not found (the store is empty)"), "{e}");
    let e = f.fail(&["account", &h(SynthChain::account(0)), "--block", "0"]);
    assert!(e.contains("the store is empty"), "{e}");
    let e = f.fail(&["unwind", "0"]);
    assert!(e.contains("cannot unwind to block 0: the store is empty"), "{e}");
    assert_eq!(f.json(&["logs"]), serde_json::json!([]));
    assert!(f.json(&["stats"])["head"].is_null());
    assert_eq!(f.json(&["account", &h(SynthChain::account(0))])["nonce"], "0x0");
}

/// `serve` refuses a non-loopback address unless asked to serve remotely, and a directory
/// without a store when it is not ingesting, before it listens.
#[test]
fn serve_refuses_a_remote_address_and_a_missing_store() {
    let f = Fixture::new();
    let e = f.fail(&["serve", "--rpc", "0.0.0.0:0"]);
    assert!(e.contains("0.0.0.0:0 is not a loopback address"), "{e}");
    assert!(e.contains("--rpc-allow-remote"), "{e}");
    let e = f.fail(&["serve", "--rpc", "127.0.0.1:0", "--rpc-max-batch", "0"]);
    assert!(e.contains("invalid value '0' for '--rpc-max-batch <N>'"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let args = ["serve", "--rpc", "127.0.0.1:0"];
    let e = expect_failure(&run_in(&dir.path().join("none"), &args), &args);
    assert!(e.contains("no chainstore data"), "{e}");
    assert!(!dir.path().join("none").exists());
}
