//! `chainstore snapshot export | import | inspect`: mainnet's genesis state through a snapshot
//! keeps its published root (an external vector), a damaged or lying snapshot leaves no
//! directory behind, and an import killed midway resumes to the same state.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::process::Stdio;
use std::time::Duration;

use alloy_primitives::{B256, U256, keccak256};
use chainstore_chain::{ImportBlock, StateEntry};
use chainstore_trie::Account;
use serde_json::Value;

use crate::support::{assert_verifies, chainstore, head, open, run, run_ok, testdata};

/// Mainnet's genesis state root (testdata/mainnet-genesis/README.md).
const MAINNET_ROOT: &str = "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544";

#[test]
fn mainnet_genesis_through_a_snapshot_keeps_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let genesis = testdata("mainnet-genesis/mainnet.json");
    run_ok(&src, &["genesis", genesis.to_str().unwrap()], b"");
    let file = dir.path().join("mainnet.snap");
    let file = file.to_str().unwrap();
    let exported: Value =
        serde_json::from_str(&run_ok(&src, &["snapshot", "export", file, "--json"], b"")).unwrap();
    assert_eq!(exported["stateRoot"], MAINNET_ROOT);
    assert_eq!(exported["accounts"], "0x22bd");
    let inspected: Value =
        serde_json::from_str(&run_ok(&src, &["snapshot", "inspect", file, "--json"], b"")).unwrap();
    assert_eq!(inspected, exported);

    let dst = dir.path().join("dst");
    let imported: Value =
        serde_json::from_str(&run_ok(&dst, &["snapshot", "import", file, "--json"], b"")).unwrap();
    assert_eq!(imported["stateRoot"], MAINNET_ROOT);
    assert_eq!(format!("{}", head(&dst).unwrap().state_root), MAINNET_ROOT);
    assert_verifies(&dst);

    // A flipped byte: refused, naming the chunk, and no directory is left.
    let mut bytes = std::fs::read(file).unwrap();
    bytes[200] ^= 1;
    let bad = dir.path().join("flipped.snap");
    std::fs::write(&bad, &bytes).unwrap();
    let fresh = dir.path().join("fresh");
    let out = run(&fresh, &["snapshot", "import", bad.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("chunk 0: checksum mismatch"), "{stderr}");
    assert!(!fresh.exists());

    // A header naming another root (its checksum fixed): refused after the import, which
    // removes the directory it created.
    let mut bytes = std::fs::read(file).unwrap();
    bytes[96..128].copy_from_slice(&[0x11; 32]);
    let crc = crc32c::crc32c(&bytes[..128]);
    bytes[128..132].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&bad, &bytes).unwrap();
    let out = run(&fresh, &["snapshot", "import", bad.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("state root"), "{stderr}");
    assert!(!fresh.exists(), "the refused import left {fresh:?}");
}

/// An account of a test state: hashed address, account, sorted slots.
type TestAccount = (B256, Account, Vec<(B256, U256)>);

/// A state of `accounts` accounts, a tenth with a few slots, imported into a store at `dir`.
fn big_store(dir: &std::path::Path, accounts: u64) {
    let mut state: Vec<TestAccount> = (0..accounts)
        .map(|i| {
            let account =
                Account { nonce: i % 7, balance: U256::from(i + 1), ..Account::default() };
            let slots = if i % 10 == 0 {
                let mut s: Vec<_> = (0..3u64)
                    .map(|j| (keccak256((i * 3 + j).to_be_bytes()), U256::from(j + 1)))
                    .collect();
                s.sort();
                s
            } else {
                Vec::new()
            };
            (keccak256(i.to_be_bytes()), account, slots)
        })
        .collect();
    state.sort_by_key(|(k, ..)| *k);
    let mut entries = state.into_iter().flat_map(|(hashed_address, account, slots)| {
        std::iter::once(StateEntry::Account { hashed_address, account, code: None })
            .chain(
                slots
                    .into_iter()
                    .map(|(hashed_slot, value)| StateEntry::Slot { hashed_slot, value }),
            )
            .map(Ok)
    });
    let block = ImportBlock {
        number: 5,
        hash: B256::repeat_byte(5),
        parent_hash: B256::repeat_byte(4),
        timestamp: 1,
        state_root: None,
    };
    let store = open(dir);
    store.import_state(&block, &mut entries, &mut |_| {}).unwrap();
    store.close().unwrap();
}

#[test]
fn an_import_killed_midway_resumes_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    big_store(&src, 60_000);
    let file = dir.path().join("big.snap");
    let file = file.to_str().unwrap();
    let exported: Value =
        serde_json::from_str(&run_ok(&src, &["snapshot", "export", file, "--json"], b"")).unwrap();
    let mut stopped_midway = 0;
    for (attempt, delay) in [100u64, 250, 600].into_iter().enumerate() {
        let dst = dir.path().join(format!("dst{attempt}"));
        let mut child = chainstore(&dst)
            .args(["snapshot", "import", file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        if dst.join("FORMAT").exists() && head(&dst).is_none() {
            stopped_midway += 1;
        }
        let resumed: Value =
            serde_json::from_str(&run_ok(&dst, &["snapshot", "import", file, "--json"], b""))
                .unwrap();
        assert_eq!(resumed["stateRoot"], exported["stateRoot"], "attempt {attempt}");
        assert_verifies(&dst);
    }
    assert!(stopped_midway > 0, "no kill landed inside an import");
}
