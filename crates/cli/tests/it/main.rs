//! Integration tests of the `chainstore` binary.

mod bench_chain;

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
