//! Commands in a pipeline: a reader that goes away early (`chainstore logs | head`) ends the
//! command quietly, by `SIGPIPE` as Unix tools end, not with a panic.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use crate::support::{chainstore, lines, run_ok, synth_blocks};

/// `SIGPIPE` on Linux.
const SIGPIPE: i32 = 13;

/// The capacity of a Linux pipe: an output that fits in it (with the 4 KiB the test reads) can
/// be written in full before the reader goes away, and would not test anything.
const PIPE_CAPACITY: usize = 64 * 1024;

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let blocks = synth_blocks(300, 7);
    run_ok(&data, &["ingest", "-"], lines(&blocks).as_bytes());
    // The busiest sender: its `txs` output is long too.
    let sender = {
        let mut counts = std::collections::HashMap::new();
        for tx in blocks.iter().flat_map(|b| &b.transactions) {
            *counts.entry(tx.from).or_insert(0u32) += 1;
        }
        counts.into_iter().max_by_key(|&(_, n)| n).unwrap().0
    };
    let sender = format!("{sender:#x}");
    let commands: [&[&str]; 4] = [
        &["logs", "--from", "0", "--to", "299"],
        &["logs", "--from", "0", "--to", "299", "--json"],
        &["txs", &sender],
        &["txs", &sender, "--json"],
    ];
    for args in commands {
        let whole = run_ok(&data, args, b"");
        assert!(
            whole.len() > 2 * PIPE_CAPACITY,
            "{args:?} prints {} bytes: too little to fill a pipe",
            whole.len()
        );
        let mut child = chainstore(&data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first 4 KiB (`--json` prints one long line), then the reader goes away.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = vec![0; 4096];
        stdout.read_exact(&mut first).unwrap();
        assert!(whole.as_bytes().starts_with(&first), "{args:?}: a different beginning");
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(SIGPIPE),
            "{args:?}: {:?}, stderr: {stderr}",
            out.status
        );
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
    // The store is as it was: nothing half-written by a command that ended early.
    run_ok(&data, &["verify"], b"");
}

/// Empty lists keep their form when streamed: `[]` with `--json`, `(none)` without.
#[test]
fn an_empty_list_prints_its_empty_form() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    run_ok(&data, &["ingest", "-"], lines(&synth_blocks(2, 7)).as_bytes());
    let nobody = "0x00000000000000000000000000000000000000aa";
    assert_eq!(run_ok(&data, &["txs", nobody, "--json"], b""), "[]\n");
    assert_eq!(run_ok(&data, &["txs", nobody], b""), "(none)\n");
    let nothing = ["logs", "--address", nobody];
    assert_eq!(run_ok(&data, &[&nothing[..], &["--json"]].concat(), b""), "[]\n");
    assert_eq!(run_ok(&data, &nothing, b""), "(none)\n");
}
