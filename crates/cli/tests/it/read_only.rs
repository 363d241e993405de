//! The query commands open the store read-only: after a writer is killed with acknowledged
//! blocks its indexer had not written yet, `head` and `block` show every acknowledged block,
//! and running them changes no byte of the commit log.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::path::Path;
use std::time::Duration;

use chainstore_engine::backend::{Backend, RedbBackend, RedbOptions};
use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::{RecoveryMode, inspect};

use crate::crash::killed_run;
use crate::support::{json_lines, lines, run_ok, synth_blocks};

/// Every file of the commit log with its contents.
fn log_files(data: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// Whether the log holds records the backend does not (blocks only in the log).
fn log_ahead_of_backend(data: &Path) -> bool {
    let mut last = 0;
    inspect(&RealFs, &data.join("wal"), RecoveryMode::TolerateTornTail, &mut |r| last = r.seq)
        .unwrap();
    let backend = RedbBackend::open(&RealFs, &data.join("data.redb"), RedbOptions::default());
    last > backend.unwrap().snapshot().unwrap().checkpoint()
}

#[test]
fn queries_after_a_killed_writer_show_every_acknowledged_block_and_change_nothing() {
    let blocks = synth_blocks(60, 15);
    let reference = tempfile::tempdir().unwrap();
    let expected =
        json_lines(&run_ok(reference.path(), &["ingest", "-"], lines(&blocks).as_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(data, &["ingest", "-"], lines(&blocks[..5]).as_bytes());
    let (mut next, mut only_in_log) = (5, 0);
    for round in 0..8 {
        if next + 4 >= blocks.len() {
            break;
        }
        // Killed right after an acknowledgement: the last blocks are usually not indexed yet
        // (the indexer writes every 200 ms).
        let run = killed_run(data, lines(&blocks[next..]), 1 + round % 3, Duration::ZERO);
        let acked_to = next + run.acks.len();
        let before = log_files(data);
        let head = &json_lines(&run_ok(data, &["head"], b""))[0];
        let number = head["number"].as_str().unwrap();
        let number = u64::from_str_radix(number.trim_start_matches("0x"), 16).unwrap() as usize;
        assert!(number + 1 >= acked_to, "round {round}: acknowledged block {} lost", acked_to - 1);
        assert!(number <= acked_to, "round {round}: head {number}, acknowledged to {acked_to}");
        assert_eq!(head, &expected[number], "round {round}");
        let block = &json_lines(&run_ok(data, &["block", &number.to_string(), "--json"], b""))[0];
        assert_eq!(block["hash"], expected[number]["hash"], "round {round}");
        assert_eq!(log_files(data), before, "round {round}: a query changed the commit log");
        only_in_log += usize::from(log_ahead_of_backend(data));
        next = number + 1;
    }
    assert!(only_in_log > 0, "no round left blocks only in the log");
}
