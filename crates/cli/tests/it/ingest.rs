//! `chainstore ingest` of a generated chain from a file and from stdin.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use serde_json::Value;

use crate::support::{
    assert_verifies, chainstore, head, json_lines, line, lines, open, run_ok, synth_blocks,
};

const BLOCKS: usize = 30;

#[test]
fn ingest_from_a_file_and_from_stdin_agree_with_the_store() {
    let blocks = synth_blocks(BLOCKS, 3);
    // The reference: the same blocks committed through the library, uninterrupted.
    let reference = tempfile::tempdir().unwrap();
    let roots: Vec<_> = {
        let store = open(reference.path());
        blocks.iter().map(|b| store.commit_block(b).unwrap().state_root).collect()
    };

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.jsonl");
    // Empty lines are skipped.
    std::fs::write(&file, lines(&blocks).replacen('\n', "\n\n", 3)).unwrap();
    let from_file = dir.path().join("from-file");
    let stdout = run_ok(&from_file, &["ingest", file.to_str().unwrap()], b"");
    check_acks(&from_file, &json_lines(&stdout), &blocks, &roots);

    // From stdin, each line also carrying its expected root (which must then be accepted).
    let from_stdin = dir.path().join("from-stdin");
    let input: String = blocks
        .iter()
        .zip(&roots)
        .map(|(b, root)| {
            line(&chainstore_chain::BlockCommit { expected_state_root: Some(*root), ..b.clone() })
        })
        .collect();
    let stdout_stdin = run_ok(&from_stdin, &["ingest", "-"], input.as_bytes());
    assert_eq!(stdout_stdin, stdout);
    check_acks(&from_stdin, &json_lines(&stdout_stdin), &blocks, &roots);
}

/// One acknowledgement per block, in order, each matching the reopened store and the reference.
fn check_acks(
    data: &std::path::Path,
    acks: &[Value],
    blocks: &[chainstore_chain::BlockCommit],
    roots: &[alloy_primitives::B256],
) {
    assert_eq!(acks.len(), blocks.len());
    let store = open(data);
    for ((ack, block), root) in acks.iter().zip(blocks).zip(roots) {
        assert_eq!(ack["number"], format!("{:#x}", block.number));
        assert_eq!(ack["hash"], Value::String(block.hash.to_string()));
        assert_eq!(ack["stateRoot"], Value::String(root.to_string()), "block {}", block.number);
        let header = store.header(block.number).unwrap().expect("an acknowledged block");
        assert_eq!(header.state_root, *root);
    }
    drop(store);
    let last = acks.last().unwrap();
    let stored = head(data).unwrap();
    assert_eq!(Value::String(stored.state_root.to_string()), last["stateRoot"]);
    let out = chainstore(data).args(["head", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_head: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(&cli_head, last);
    assert_verifies(data);
}
