//! `chainstore torture`: the crash soak (`docs/reliability.md`) runs clean, and refuses a
//! directory that holds something else.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::process::Command;

use crate::crash::crash_seed;

fn torture(args: &[&str], dir: &std::path::Path, seed: u64) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .arg("torture")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .args(["--seed", &seed.to_string()])
        .output()
        .unwrap()
}

/// Kills the child 50 times under CI (15 otherwise) and finds nothing lost or refused.
#[test]
fn torture_loses_nothing_acknowledged() {
    let kills = if std::env::var_os("CI").is_some() { 50 } else { 15 };
    let seed = crash_seed();
    eprintln!("torture seed {seed} (set CHAINSTORE_CRASH_SEED to repeat)");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = torture(&["--kills", &kills.to_string()], &store, seed);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary =
        stdout.lines().find(|l| l.starts_with(&format!("torture: {kills} kills"))).unwrap();
    assert!(summary.contains(" 0 lost, 0 refused reopenings"), "{summary}");
    let acknowledged: u64 =
        summary.split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(acknowledged > 0, "{summary}");
    // A second soak continues the same store.
    let again = torture(&["--kills", "2"], &store, seed + 1);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn torture_refuses_a_directory_of_something_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious"), b"x").unwrap();
    let out = torture(&["--kills", "1"], dir.path(), 1);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds something other than a store"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
