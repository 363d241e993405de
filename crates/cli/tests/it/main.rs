//! Integration tests of the `chainstore` binary.

use std::process::Command;

use serde_json::Value;

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
    for system in ["chainstore", "raw redb"] {
        assert!(has(system, "fill sequential", "keys/s"), "{system}: no fill sequential");
        assert!(has(system, "fill random", "keys/s"), "{system}: no fill random");
        assert!(has(system, "batch 1000", "commit p99"), "{system}: no batch 1000");
        assert!(has(system, "read random", "reads/s"), "{system}: no read random");
        assert!(has(system, "scan 100", "scans/s"), "{system}: no scan");
        // Two sizes in a quick run: 100K and 200K keys.
        assert!(has(system, "commit 1 MiB at 100K", "p99"), "{system}: no latency at 100K");
        assert!(has(system, "commit 1 MiB at 200K", "p99"), "{system}: no latency at 200K");
        assert!(has(system, "after growth", "disk"), "{system}: no disk bytes");
    }
    for metric in ["memtable", "indexer lag"] {
        assert!(rows.iter().any(|r| r["system"] == "chainstore" && r["metric"] == metric));
    }
    let goals = v["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 3, "{goals:?}");
    for goal in goals {
        assert!(!goal["goal"].as_str().unwrap().is_empty());
        assert!(goal["measured"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["target"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["met"].is_boolean(), "{goal}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
