//! Integration tests of the `chainstore` binary.

mod backends;
mod backup;
mod bench_chain;
mod block_line_fuzz_check;
mod block_line_fuzz_corpus;
mod crash;
mod genesis;
mod genesis_fuzz_check;
mod genesis_fuzz_corpus;
mod ingest;
mod malformed;
mod pipeline;
mod query_errors;
mod query_fixture;
mod query_logs;
mod query_records;
mod query_state;
mod read_only;
mod snapshot;
mod support;
mod torture;

/// The stable half of every fuzz target: corpus, seeds and mutations.
#[path = "../../../../fuzz/stable.rs"]
mod stable;

use std::process::Command;

use serde_json::Value;
// The parsers, where the fuzz checks find them (`super::json_in`, as in the fuzz crate).
use support::{genesis_file, json_in};

/// `bench wal --quick --json` prints one JSON object of the documented shape.
#[test]
fn bench_wal_quick_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["bench", "wal", "--quick", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "not one JSON line: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["scenario"], "wal");
    let hw = &v["hardware"];
    assert!(hw["cores"].as_u64().unwrap() >= 1, "{hw}");
    assert!(hw["fdatasync_p50_us"].as_f64().unwrap() > 0.0, "{hw}");
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.len() >= 20, "{} rows", rows.len());
    for row in rows {
        for key in ["system", "case", "metric", "unit"] {
            assert!(!row[key].as_str().unwrap().is_empty(), "{row}");
        }
        assert!(row["value"].as_f64().unwrap() > 0.0, "{row}");
    }
    for system in ["chainstore wal", "raw write+fdatasync", "raw sequential read"] {
        assert!(rows.iter().any(|r| r["system"] == system), "no {system} rows");
    }
    let goals = v["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 5, "{goals:?}");
    for goal in goals {
        assert!(!goal["goal"].as_str().unwrap().is_empty());
        assert!(goal["measured"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["target"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["met"].is_boolean(), "{goal}");
    }
    // The work directory inside --dir is removed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bench_state_root_quick_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["bench", "state-root", "--quick", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let v: Value = serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(v["scenario"], "state-root");
    let rows = v["rows"].as_array().unwrap();
    for system in ["chainstore-trie", "full-rebuild", "eth_trie"] {
        assert!(rows.iter().any(|r| r["system"] == system), "no {system} rows: {rows:?}");
    }
    assert!(rows.iter().all(|r| r["value"].as_f64().unwrap() > 0.0));
    let goals = v["goals"].as_array().unwrap();
    assert!(!goals.is_empty());
    assert!(
        goals.iter().all(|g| g["met"].is_boolean() && g["target"].as_f64().is_some()),
        "{goals:?}"
    );
}

/// The README's main command, at a small size: it runs, explains itself and verifies its proof.
#[test]
fn demo_runs_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["demo", "--blocks", "8", "--accounts", "200", "--txs", "10", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "blocks/s",
        "commit latency",
        "verified against stateRoot",
        "verified against that block's stateRoot",
        "verify            consistent",
        "of live rows",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    // A second run starts over in the directory the first one made.
    let again = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["demo", "--blocks", "2", "--accounts", "50", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    // A directory that is not a demo's is refused.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("precious"), b"x").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["demo", "--data"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(other.join("precious").exists());
}

/// `wal inspect` reports damage and what recovery would do; `wal repair` fixes it.
#[test]
fn wal_inspect_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_chainstore"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["demo", "--blocks", "3", "--accounts", "20", "--txs", "3"]).status.success());
    let clean = run(&["wal", "inspect"]);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).starts_with("clean:"));
    // Damage the first record of the (only) segment: a good record follows, so it is not a torn tail.
    let segment = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[56 + 30] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let damaged = run(&["wal", "inspect"]);
    assert!(!damaged.status.success());
    let text = String::from_utf8_lossy(&damaged.stdout);
    assert!(
        text.contains("damage:")
            && text.contains("checksum mismatch")
            && text.contains("refuses to open"),
        "{text}"
    );
    let repaired = run(&["wal", "repair", "--json"]);
    assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
    let v: Value = serde_json::from_slice(&repaired.stdout).unwrap();
    assert_eq!(v["state"], "repaired");
    assert!(v["dropped"]["bytes"].as_u64().unwrap() > 0);
    assert!(run(&["wal", "inspect"]).status.success(), "still damaged after repair");
}
/// `bench kv --quick --json` prints one JSON object of the documented shape.
#[test]
fn bench_kv_quick_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["bench", "kv", "--quick", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "not one JSON line: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["scenario"], "kv");
    let hw = &v["hardware"];
    assert!(hw["cores"].as_u64().unwrap() >= 1, "{hw}");
    assert!(hw["fdatasync_p50_us"].as_f64().unwrap() > 0.0, "{hw}");
    let rows = v["rows"].as_array().unwrap();
    for row in rows {
        for key in ["system", "case", "metric", "unit"] {
            assert!(!row[key].as_str().unwrap().is_empty(), "{row}");
        }
        // Memtable bytes and indexer lag may be zero; every rate and latency is positive.
        let value = row["value"].as_f64().unwrap();
        assert!(value >= 0.0 && (value > 0.0 || row["unit"] != "us"), "{row}");
    }
    let has = |system: &str, case: &str, metric: &str| {
        rows.iter().any(|r| {
            r["system"] == system
                && r["case"].as_str().unwrap().starts_with(case)
                && r["metric"] == metric
                && r["value"].as_f64().unwrap() > 0.0
        })
    };
    let mut systems = vec!["chainstore", "raw redb"];
    if cfg!(feature = "rocksdb") {
        systems.extend(["chainstore on rocksdb", "raw rocksdb"]);
    }
    for system in systems {
        assert!(has(system, "fill sequential", "keys/s"), "{system}: no fill sequential");
        assert!(has(system, "fill random", "keys/s"), "{system}: no fill random");
        assert!(has(system, "batch 1000", "commit p99"), "{system}: no batch 1000");
        assert!(has(system, "read random", "reads/s"), "{system}: no read random");
        assert!(has(system, "scan 100", "scans/s"), "{system}: no scan");
        // Two sizes in a quick run: 100K and 200K keys.
        assert!(has(system, "commit 1 MiB at 100K", "p99"), "{system}: no latency at 100K");
        assert!(has(system, "commit 1 MiB at 200K", "p99"), "{system}: no latency at 200K");
        assert!(has(system, "after growth", "disk"), "{system}: no disk bytes");
        if system.starts_with("chainstore") {
            assert!(has(system, "after growth", "live"), "{system}: no live bytes");
        }
    }
    for metric in ["memtable", "indexer lag"] {
        assert!(rows.iter().any(|r| r["system"] == "chainstore" && r["metric"] == metric));
    }
    let goals = v["goals"].as_array().unwrap();
    // With RocksDB: also batch writes against raw RocksDB.
    assert_eq!(goals.len(), if cfg!(feature = "rocksdb") { 4 } else { 3 }, "{goals:?}");
    for goal in goals {
        assert!(!goal["goal"].as_str().unwrap().is_empty());
        assert!(goal["measured"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["target"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["met"].is_boolean(), "{goal}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
