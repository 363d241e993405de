//! `bench commit-latency`, `ingest`, `reads`, `history`, `rpc`, `snapshot`, `backup`,
//! `bindings` and `metrics` with `--quick --json`: one JSON object of the documented shape, with the expected
//! systems, positive measurements and goals.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::process::Command;

use serde_json::Value;

/// Runs `chainstore bench SCENARIO --quick --json --dir TMP` and checks the common shape; returns
/// the report.
fn run_quick(scenario: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .args(["bench", scenario, "--quick", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "not one JSON line: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["scenario"], scenario);
    let hw = &v["hardware"];
    assert!(hw["cores"].as_u64().unwrap() >= 1, "{hw}");
    assert!(hw["fdatasync_p50_us"].as_f64().unwrap() > 0.0, "{hw}");
    for row in v["rows"].as_array().unwrap() {
        for key in ["system", "case", "metric", "unit"] {
            assert!(!row[key].as_str().unwrap().is_empty(), "{row}");
        }
        let value = row["value"].as_f64().unwrap();
        // The indexer may have caught up completely: lag and drain time can be zero.
        let may_be_zero = ["lag at end", "drain"].contains(&row["metric"].as_str().unwrap());
        assert!(value > 0.0 || (may_be_zero && value == 0.0), "{row}");
    }
    for goal in v["goals"].as_array().unwrap() {
        assert!(!goal["goal"].as_str().unwrap().is_empty());
        assert!(goal["measured"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["target"].as_f64().unwrap() > 0.0, "{goal}");
        assert!(goal["met"].is_boolean(), "{goal}");
    }
    // The work directory inside --dir is removed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    v
}

fn systems(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["system"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s.dedup();
    s
}

fn metric(v: &Value, system: &str, case: &str, metric: &str) -> f64 {
    let rows = v["rows"].as_array().unwrap();
    let row =
        rows.iter().find(|r| r["system"] == system && r["case"] == case && r["metric"] == metric);
    row.unwrap_or_else(|| panic!("no {system} / {case} / {metric} row"))["value"].as_f64().unwrap()
}

#[test]
fn bench_commit_latency_quick_json() {
    let v = run_quick("commit-latency");
    assert_eq!(systems(&v), ["chainstore", "nomt", "raw write+fdatasync", "redb sync (no WAL)"]);
    for case in ["2000 accounts", "10000 accounts"] {
        assert_eq!(metric(&v, "chainstore", case, "blocks"), 8.0);
        let e2e = metric(&v, "chainstore", case, "e2e p50");
        let parts = metric(&v, "chainstore", case, "root p50");
        assert!(parts <= e2e, "root p50 {parts} > end-to-end p50 {e2e}");
        assert!(metric(&v, "raw write+fdatasync", case, "p99") > 0.0);
        assert!(metric(&v, "redb sync (no WAL)", case, "commit p99") > 0.0);
        let nomt_p50 = metric(&v, "nomt", case, "commit p50");
        assert!(nomt_p50 <= metric(&v, "nomt", case, "commit p99"));
    }
    // Append flatness, append vs raw at both sizes, end-to-end vs redb, end-to-end vs NOMT.
    assert_eq!(v["goals"].as_array().unwrap().len(), 5);
}

#[test]
fn bench_ingest_quick_json() {
    let v = run_quick("ingest");
    let mut expected = vec!["chainstore", "nomt", "redb sync (no WAL)"];
    let mut stores = vec!["chainstore"];
    if cfg!(feature = "rocksdb") {
        expected = vec![
            "chainstore",
            "chainstore on rocksdb",
            "nomt",
            "redb sync (no WAL)",
            "rocksdb sync (no WAL)",
        ];
        stores.push("chainstore on rocksdb");
        assert!(metric(&v, "rocksdb sync (no WAL)", "10 blocks, 2000 accounts", "blocks/s") > 0.0);
    }
    assert_eq!(systems(&v), expected);
    let case = "10 blocks, 2000 accounts";
    for store in stores {
        let blocks = metric(&v, store, case, "blocks/s");
        let updates = metric(&v, store, case, "updates/s");
        assert!(
            (updates - blocks * 3000.0).abs() <= 1e-9 * updates,
            "{store}: {updates} vs {blocks} blocks/s"
        );
        assert!(metric(&v, store, case, "lag at end") <= 10.0);
        assert!(metric(&v, store, case, "memtable max") > 0.0);
        // Counting the drain can only lower the rate.
        assert!(metric(&v, store, case, "updates/s incl. drain") <= updates, "{store}");
        assert!(metric(&v, store, case, "resident max (store)") > 0.0, "{store}");
        assert!(metric(&v, store, case, "memory budget") > 0.0, "{store}");
        // The files hold at least the live rows (plus history, pages, the log).
        let (disk, live) = (metric(&v, store, case, "disk"), metric(&v, store, case, "live"));
        assert!(live > 0.0 && disk >= live, "{store}: {disk} MiB on disk for {live} MiB live");
    }
    for system in ["chainstore", "nomt"] {
        let p50 = metric(&v, system, case, "commit p50");
        assert!(p50 <= metric(&v, system, case, "commit p99"), "{system}");
    }
    assert!(metric(&v, "nomt", case, "updates/s") > metric(&v, "nomt", case, "blocks/s"));
    // Blocks/s vs redb, updates/s, memtable bound, updates/s (without and with the drain) and
    // commit p50 vs NOMT, resident memory vs the budgets.
    assert_eq!(v["goals"].as_array().unwrap().len(), 7);
}

#[test]
fn bench_reads_quick_json() {
    let v = run_quick("reads");
    assert_eq!(systems(&v), ["chainstore", "engine snapshot", "raw redb get"]);
    for case in ["account hot", "account cold", "storage hot", "storage cold"] {
        for system in ["chainstore", "engine snapshot", "raw redb get"] {
            assert!(metric(&v, system, case, "reads/s") > 0.0);
        }
    }
    assert!(metric(&v, "chainstore", "account proof", "proofs/s") > 0.0);
    assert!(metric(&v, "chainstore", "account+slot proof", "proofs/s") > 0.0);
    // Hot reads/s, then overhead vs raw for each of the four cases.
    assert_eq!(v["goals"].as_array().unwrap().len(), 5);
}

#[test]
fn bench_history_quick_json() {
    let v = run_quick("history");
    assert_eq!(systems(&v), ["chainstore", "revert changesets"]);
    for case in ["1 blocks back", "1000 blocks back"] {
        for system in ["chainstore", "revert changesets"] {
            for what in ["account_at", "proof_at"] {
                assert!(metric(&v, system, case, &format!("{what} mean")) > 0.0);
                assert!(metric(&v, system, case, &format!("{what} 1st pass")) > 0.0);
            }
        }
    }
    let part = |p: &str| metric(&v, "chainstore", p, "bytes/block");
    let sum = part("state changesets (raw)")
        + part("state history index")
        + part("trie-node changesets")
        + part("trie-node history index");
    assert!((sum - part("all history")).abs() < 1e-6 * sum, "the parts add up");
    // Flatness (account, proof), 10 x at 1K (account, proof), space (state, all).
    assert_eq!(v["goals"].as_array().unwrap().len(), 6);
}

#[test]
fn bench_rpc_quick_json() {
    let v = run_quick("rpc");
    assert_eq!(systems(&v), ["chainstore rpc", "ingest thread", "library"]);
    for method in ["eth_getBalance", "eth_getProof", "eth_getLogs", "eth_getBlockByNumber"] {
        for phase in ["idle", "while ingesting"] {
            let case = format!("{method} {phase}");
            for system in ["chainstore rpc", "library"] {
                assert!(metric(&v, system, &case, "requests/s") > 0.0);
                assert!(metric(&v, system, &case, "p50") <= metric(&v, system, &case, "p99"));
            }
        }
    }
    assert!(metric(&v, "ingest thread", "while ingesting", "blocks/s") > 0.0);
    // eth_getBalance rate and p99 while ingesting; eth_getProof rate and overhead.
    assert_eq!(v["goals"].as_array().unwrap().len(), 4);
}

#[test]
fn bench_snapshot_quick_json() {
    let v = run_quick("snapshot");
    assert_eq!(systems(&v), ["chainstore snapshot", "raw file"]);
    let case = "20000 accounts";
    for m in ["file", "export accounts/s", "export", "import accounts/s", "import"] {
        assert!(metric(&v, "chainstore snapshot", case, m) > 0.0, "{m}");
    }
    let read = metric(&v, "raw file", case, "sequential read");
    let export = metric(&v, "chainstore snapshot", case, "export");
    let ratio = metric(&v, "chainstore snapshot", case, "export ÷ raw read");
    assert!((ratio - export / read).abs() <= 1e-9 * ratio.max(1.0), "{ratio} vs {export}/{read}");
    // Import accounts/s and export against raw read.
    assert_eq!(v["goals"].as_array().unwrap().len(), 2);
}

#[test]
fn bench_backup_quick_json() {
    let v = run_quick("backup");
    assert_eq!(systems(&v), ["chainstore backup", "raw file"]);
    let full = metric(&v, "chainstore backup", "20000 accounts", "full: written");
    let changed = metric(&v, "chainstore backup", "3 blocks later", "changed (raw, once per key)");
    let written = metric(&v, "chainstore backup", "3 blocks later", "incremental: written");
    assert!(full > 0.0 && changed > 0.0 && written > 0.0);
    let ratio = metric(&v, "chainstore backup", "3 blocks later", "written ÷ changed");
    assert!((ratio - written / changed).abs() <= 1e-6 * ratio, "{ratio} vs {written}/{changed}");
    assert_eq!(v["goals"].as_array().unwrap().len(), 1);
}

#[test]
fn bench_bindings_quick_json() {
    let v = run_quick("bindings");
    // The Python rows are there only if the machine's python3 can import the package (CI's
    // python3 cannot; `.ci/bindings` runs the benchmark with its virtual environment's).
    let mut measured = vec!["C ABI", "rust library"];
    if systems(&v).iter().any(|s| s == "python package") {
        measured.push("python package");
    }
    assert_eq!(systems(&v), measured);
    let case = "2000 accounts";
    for system in &measured {
        let blocks = metric(&v, system, case, "block commits/s");
        let updates = metric(&v, system, case, "updates/s");
        assert!((updates - blocks * 3000.0).abs() <= 1e-9 * updates, "{system}");
        let (rate, per_read) =
            (metric(&v, system, case, "account reads/s"), metric(&v, system, case, "per read"));
        assert!((rate * per_read / 1e9 - 1.0).abs() < 1e-9, "{system}: {rate}/s, {per_read} ns");
    }
    // Reads and commits of each binding against Rust's.
    assert_eq!(v["goals"].as_array().unwrap().len(), 2 * (measured.len() - 1));
}

#[test]
fn bench_metrics_quick_json() {
    let v = run_quick("metrics");
    let off = "chainstore, metrics off";
    let on = "chainstore, metrics on";
    let scraped = "chainstore, metrics on, scraped at 1 Hz";
    let mut expected = [off, on, scraped];
    expected.sort();
    assert_eq!(systems(&v), expected);
    let case = "2000 accounts, 6 blocks per mode";
    // At least one scrape per scraped round, each rendering the library's metrics.
    assert!(metric(&v, scraped, case, "scrapes") >= 2.0);
    assert!(metric(&v, scraped, case, "exposition") > 1.0);
    let rate = |system| metric(&v, system, case, "updates/s");
    let goals = v["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 2);
    let on_ratio = goals[0]["measured"].as_f64().unwrap();
    assert!((on_ratio - rate(on) / rate(off)).abs() <= 1e-9 * on_ratio, "{on_ratio}");
    let scraped_ratio = goals[1]["measured"].as_f64().unwrap();
    assert!((scraped_ratio - rate(scraped) / rate(off)).abs() <= 1e-9 * scraped_ratio);
}
