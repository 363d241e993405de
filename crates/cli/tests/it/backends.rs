//! `--backend`: every command works on RocksDB (when built with the `rocksdb` feature) and gives
//! the same answers as on redb for the same blocks; a store refuses the other backend.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::path::Path;

use crate::support::run;

/// Runs `chainstore --backend BACKEND --data DATA ARGS...` and returns (success, stdout, stderr).
fn on(backend: &str, data: &Path, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let all: Vec<&str> = ["--backend", backend].iter().chain(args).copied().collect();
    let out = run(data, &all, stdin);
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// Runs a command that must succeed; returns its stdout.
#[cfg(feature = "rocksdb")]
fn ok(backend: &str, data: &Path, args: &[&str], stdin: &[u8]) -> String {
    let (success, stdout, stderr) = on(backend, data, args, stdin);
    assert!(success, "--backend {backend} {args:?} failed: {stderr}");
    stdout
}

#[cfg(not(feature = "rocksdb"))]
#[test]
fn rocksdb_in_a_build_without_it_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (success, _, stderr) = on("rocksdb", dir.path(), &["demo", "--blocks", "1"], b"");
    assert!(!success);
    assert!(stderr.contains("built without the rocksdb backend"), "{stderr}");
}

#[cfg(feature = "rocksdb")]
#[test]
fn every_command_on_rocksdb_answers_as_on_redb() {
    use serde_json::Value;

    use crate::support::{lines, synth_blocks};

    let dir = tempfile::tempdir().unwrap();
    let blocks = synth_blocks(12, 7);
    let input = lines(&blocks);
    let stores = [("redb", dir.path().join("redb")), ("rocksdb", dir.path().join("rocksdb"))];
    let tx = blocks[5].transactions[0].hash.to_string();
    let address = blocks[5].receipts[0].logs[0].address.to_string();
    let account = blocks[3].transactions[0].from.to_string();
    let slot = "0x0000000000000000000000000000000000000000000000000000000000000001";
    let hash = blocks[4].hash.to_string();
    let queries: Vec<Vec<&str>> = vec![
        vec!["head", "--json"],
        vec!["block", "6", "--json"],
        vec!["block", &hash, "--json"],
        vec!["tx", &tx, "--json"],
        vec!["receipt", &tx, "--json"],
        vec!["logs", "--from", "2", "--to", "9", "--address", &address, "--json"],
        vec!["account", &account, "--json"],
        vec!["storage", &address, slot, "--json"],
        vec!["proof", &account, slot, "--json"],
        vec!["verify"],
    ];
    let answers = |backend: &str, data: &Path| -> Vec<String> {
        queries.iter().map(|q| ok(backend, data, q, b"")).collect()
    };
    let mut results = Vec::new();
    for (backend, data) in &stores {
        let acks = ok(backend, data, &["ingest", "-"], input.as_bytes());
        assert_eq!(acks.lines().count(), blocks.len());
        let mut out = answers(backend, data);
        let stats: Value =
            serde_json::from_str(&ok(backend, data, &["stats", "--json"], b"")).unwrap();
        assert_eq!(stats["backend"], *backend);
        out.push(stats["tables"].to_string());
        ok(backend, data, &["compact"], b"");
        assert_eq!(answers(backend, data), out[..queries.len()], "{backend}: compact changed data");
        assert!(ok(backend, data, &["wal", "inspect"], b"").starts_with("clean:"));
        ok(backend, data, &["unwind", "8"], b"");
        out.push(ok(backend, data, &["head", "--json"], b""));
        out.push(ok(backend, data, &["account", &account, "--json"], b""));
        // Committing resumes after the unwind.
        let again = lines(&blocks[9..]);
        assert_eq!(ok(backend, data, &["ingest", "-"], again.as_bytes()).lines().count(), 3);
        out.push(ok(backend, data, &["verify"], b""));
        results.push(out);
    }
    for (i, (redb, rocks)) in results[0].iter().zip(&results[1]).enumerate() {
        assert_eq!(redb, rocks, "answer {i} differs between redb and rocksdb");
    }

    // Each store refuses the other backend, naming both.
    for ((made, data), other) in stores.iter().zip(["rocksdb", "redb"]) {
        let (success, _, stderr) = on(other, data, &["head", "--json"], b"");
        assert!(!success, "{made} store opened with --backend {other}");
        assert!(
            stderr.contains(&format!("uses the {made} backend, not {other}"))
                && stderr.contains(&format!("--backend {made}")),
            "{stderr}"
        );
    }

    // genesis and demo on fresh RocksDB stores.
    let genesis = crate::support::testdata("mainnet-genesis/sepolia.json");
    let printed =
        ok("rocksdb", &dir.path().join("g"), &["genesis", genesis.to_str().unwrap()], b"");
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        printed["stateRoot"],
        "0x5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494"
    );
    let demo = dir.path().join("demo");
    let args = ["demo", "--blocks", "4", "--accounts", "100", "--txs", "5"];
    let stdout = ok("rocksdb", &demo, &args, b"");
    assert!(stdout.contains("backend rocksdb") && stdout.contains("consistent"), "{stdout}");
    let repaired = ok("rocksdb", &demo, &["wal", "repair", "--json"], b"");
    assert!(repaired.contains("\"state\""), "{repaired}");
}
