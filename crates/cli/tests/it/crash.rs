//! SIGKILL crash loop on `chainstore ingest -` (DESIGN.md section 8): every acknowledged block
//! survives with its state root, at most one unacknowledged block appears, nothing is
//! half-applied, ingesting resumes from head + 1, and the end state equals an uninterrupted run.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chainstore_chain::BlockCommit;
use chainstore_chain::synth::{SplitMix64 as Rng, SynthChain};
use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::{RecoveryMode, inspect};
use serde_json::Value;

use crate::support::{
    assert_verifies, chainstore, head, json_lines, line, lines, run_ok, synth_blocks,
    synth_large_blocks,
};

/// `CHAINSTORE_CRASH_SEED`, or the clock: the seed of a crash loop's kill moments.
pub(crate) fn crash_seed() -> u64 {
    std::env::var("CHAINSTORE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
    })
}

/// What one killed run acknowledged.
pub(crate) struct Run {
    pub(crate) acks: Vec<Value>,
}

/// Starts `ingest -` fed with `input`, waits for `acks` acknowledgements (or the end of the
/// output), lets it run `delay` longer, kills it with SIGKILL, and collects every complete
/// acknowledgement line it printed.
pub(crate) fn killed_run(data: &Path, input: String, acks: usize, delay: Duration) -> Run {
    let mut child = chainstore(data)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Write errors are expected once the child is killed.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut text = String::new();
    while printed.len() < acks {
        text.clear();
        if out.read_line(&mut text).unwrap() == 0 {
            break;
        }
        printed.push(text.clone());
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    loop {
        text.clear();
        if out.read_line(&mut text).unwrap() == 0 {
            break;
        }
        printed.push(text.clone());
    }
    let _ = writer.join().unwrap();
    // Only complete lines are acknowledgements.
    printed.retain(|l| l.ends_with('\n'));
    Run { acks: printed.iter().map(|l| serde_json::from_str(l).unwrap()).collect() }
}

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_block() {
    let iterations = if std::env::var_os("CI").is_some() { 50 } else { 15 };
    ingest_crash_loop("crash loop", &synth_blocks(iterations * 5, 11), iterations);
}

/// The same loop with blocks whose write sets are over 1 MiB: a kill lands mid-commit (root
/// computation, log append, memtable) far more often, and recovery replays large records.
#[test]
fn sigkill_during_large_block_ingest_loses_no_acknowledged_block() {
    let iterations = if std::env::var_os("CI").is_some() { 25 } else { 8 };
    let blocks = synth_large_blocks(iterations * 3, 13);
    let largest = largest_write_set(&blocks[..3]);
    assert!(largest >= 1 << 20, "the largest write set is {largest} bytes");
    eprintln!("large blocks: write sets up to {largest} bytes");
    ingest_crash_loop("large-block crash loop", &blocks, iterations);
}

/// The largest write set (commit-log record payload) of committing `blocks` to a new store.
/// The log keeps its active segment (64 MiB), so the records of a few blocks are all in it.
fn largest_write_set(blocks: &[BlockCommit]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::support::open(dir.path());
    for block in blocks {
        store.commit_block(block).unwrap();
    }
    store.close().unwrap();
    let mut largest = 0;
    let wal = dir.path().join("wal");
    inspect(&RealFs, &wal, RecoveryMode::Strict, &mut |r| largest = largest.max(r.payload.len()))
        .unwrap();
    largest
}

/// Ingests `blocks` through `iterations` killed runs of `chainstore ingest -`, checking after
/// each kill; then ingests the rest and compares with an uninterrupted run.
fn ingest_crash_loop(name: &str, blocks: &[BlockCommit], iterations: usize) {
    let seed = crash_seed();
    eprintln!("{name} seed {seed} (set CHAINSTORE_CRASH_SEED to repeat)");
    let mut rng = Rng(seed);

    // The uninterrupted run gives the expected acknowledgement of every block.
    let reference = tempfile::tempdir().unwrap();
    let expected =
        json_lines(&run_ok(reference.path(), &["ingest", "-"], lines(blocks).as_bytes()));
    assert_eq!(expected.len(), blocks.len());

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut next = 0usize; // the first block not in the store
    let mut unacknowledged = 0;
    for _ in 0..iterations {
        if next == blocks.len() {
            break;
        }
        let input = lines(&blocks[next..]);
        let wait_for = (rng.next_u64() % 4) as usize;
        let delay = Duration::from_micros(rng.next_u64() % 15_000);
        let run = killed_run(data, input, wait_for, delay);
        // Acknowledgements are consecutive blocks from head + 1, with the reference roots.
        for (i, ack) in run.acks.iter().enumerate() {
            assert_eq!(ack, &expected[next + i], "acknowledgement {i} of a run from block {next}");
        }
        let acked_to = next + run.acks.len(); // blocks below this index are acknowledged
        let store_next = head(data).map_or(0, |h| h.number as usize + 1);
        assert!(store_next >= acked_to, "acknowledged block {} is lost", acked_to - 1);
        assert!(
            store_next <= acked_to + 1,
            "{} unacknowledged blocks appeared",
            store_next - acked_to
        );
        unacknowledged += store_next - acked_to;
        // Nothing half-applied: every block in the store has its reference root and hash.
        if store_next > 0 {
            let store = crate::support::open(data);
            let from = next.saturating_sub(1);
            for (n, want) in expected.iter().enumerate().take(store_next).skip(from) {
                let h = store.header(n as u64).unwrap().expect("a block below the head");
                assert_eq!(crate::support::head_json(&h), *want, "block {n}");
            }
        }
        next = store_next;
    }
    eprintln!(
        "{name}: resumed at block {next} of {}, {unacknowledged} unacknowledged commits",
        blocks.len()
    );
    // Resume without interruption to the end: the same final state as the reference.
    let rest = blocks[next..].iter().map(line).collect::<String>();
    let acks = json_lines(&run_ok(data, &["ingest", "-"], rest.as_bytes()));
    assert_eq!(acks.as_slice(), &expected[next..]);
    let final_head = head(data).unwrap();
    assert_eq!(crate::support::head_json(&final_head), *expected.last().unwrap());
    same_state(reference.path(), data);
    assert_verifies(data);
}

/// The flat state (accounts and token balances) of the two stores is the same.
fn same_state(a: &Path, b: &Path) {
    let (a, b) = (crate::support::open(a), crate::support::open(b));
    let holders: Vec<_> = (0..crate::support::SYNTH_ACCOUNTS).map(SynthChain::account).collect();
    for holder in &holders {
        assert_eq!(a.account(*holder).unwrap(), b.account(*holder).unwrap(), "{holder}");
    }
    for token in (0..crate::support::SYNTH_TOKENS).map(SynthChain::token) {
        assert_eq!(a.account(token).unwrap(), b.account(token).unwrap(), "{token}");
        for holder in &holders {
            let slot = holder.into_word();
            assert_eq!(a.storage(token, slot).unwrap(), b.storage(token, slot).unwrap());
        }
    }
}

/// SIGKILL loop on `chainstore prune` with small batches: after every kill the store verifies
/// (history, indexes, and the state as of the oldest retained block recomputed from history),
/// the markers never move back, and every retained height still reads as in an unpruned copy.
#[test]
fn sigkill_during_prune_leaves_a_consistent_store() {
    let iterations = if std::env::var_os("CI").is_some() { 25 } else { 8 };
    let seed = crash_seed();
    eprintln!("prune crash loop seed {seed} (set CHAINSTORE_CRASH_SEED to repeat)");
    let mut rng = Rng(seed);
    let blocks = synth_blocks(120, 12);
    let input = lines(&blocks);
    let (reference, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(reference.path(), &["ingest", "-"], input.as_bytes());
    run_ok(dir.path(), &["ingest", "-"], input.as_bytes());
    let data = dir.path();
    let head_number = head(data).unwrap().number;
    let mut oldest = 0;
    let mut keep = head_number;
    for i in 0..iterations {
        // Each run asks for a little more; some runs finish, most are killed part-way.
        keep = keep.saturating_sub(1 + rng.next_u64() % 8);
        let keep_text = keep.to_string();
        let mut child = chainstore(data)
            .args(["prune", "--keep", &keep_text, "--receipts", &keep_text, "--tx-index"])
            .arg(&keep_text)
            .args(["--batch-ops", "40"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(5_000 + rng.next_u64() % 60_000));
        child.kill().unwrap(); // SIGKILL (a no-op if it already finished)
        child.wait().unwrap();
        let store = crate::support::open(data);
        let now = store.oldest_available(chainstore_chain::Prunable::History).unwrap();
        assert!(now >= oldest, "run {i}: the history window moved back from {oldest} to {now}");
        oldest = now;
        // Retained heights read as in the unpruned reference.
        let reference = crate::support::open(reference.path());
        for n in [oldest, (oldest + head_number) / 2, head_number] {
            for a in [SynthChain::account(0), SynthChain::account(3), SynthChain::token(0)] {
                assert_eq!(store.account_at(a, n).unwrap(), reference.account_at(a, n).unwrap());
            }
        }
        drop((store, reference));
        assert_verifies(data);
    }
    eprintln!("prune crash loop: history kept from block {oldest} of {head_number}");
    run_ok(data, &["prune", "--keep", "5"], b"");
    assert_eq!(head(data).unwrap().number, head_number);
    assert_verifies(data);
}
