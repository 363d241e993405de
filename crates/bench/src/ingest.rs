//! `chainstore bench ingest`: sustained blocks/s and state updates/s committing a long synthetic
//! chain through `ChainStore::commit_block` (each block durable before the next starts) with the
//! background indexer keeping up, against the same writes committed synchronously into raw redb.
//!
//! The state is first grown to the configured size (untimed) and the store's redb file copied as
//! the baseline. Then the store commits `blocks` blocks of the `commit-latency` shape (3,000 state
//! updates each); the commit-log record of each is captured and, after the store's run, the raw
//! redb copy commits the same write sets, one durable write transaction per block. The memtable is
//! sampled after every block; the indexer lag (commits not yet in the backend) is read at the end,
//! then the time to drain it. `cores busy` is CPU time over wall time of the committing thread
//! and of the whole process (committer plus indexer).

use std::path::Path;
use std::time::{Duration, Instant};

use chainstore_chain::ChainError;
use cpu_time::ThreadTime;

use crate::commit_latency::{
    CaptureFs, RawRedb, Result, UPDATES_PER_BLOCK, Workload, open_store, ratio,
};
use crate::report::{Goal, Report, Row};
use crate::system;

/// Sizes of one `ingest` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Accounts in the state before the measured chain.
    pub accounts: u64,
    /// Blocks committed.
    pub blocks: usize,
}

impl IngestConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 2_000, blocks: 10 }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self { accounts: 100_000, blocks: 200 }
    }
}

const CS: &str = "chainstore";
const REDB: &str = "redb sync (no WAL)";
const MIB: f64 = (1 << 20) as f64;

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &IngestConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let capture = CaptureFs::default();
    let store = open_store(&dir.join("store"), &capture)?;
    let mut work = Workload::new(2);
    progress(&format!("ingest: growing the state to {} accounts", config.accounts));
    work.grow_to(&store, &capture, config.accounts)?;
    let raw = RawRedb::copy_of(&store, &dir.join("raw.redb"))?;
    progress(&format!("ingest: committing {} blocks", config.blocks));
    let mut write_sets = Vec::with_capacity(config.blocks);
    let mut memtable_max = 0u64;
    let (started, committer_cpu) = (Instant::now(), ThreadTime::now());
    let process_cpu = system::process_cpu_time();
    for _ in 0..config.blocks {
        let block = work.next_block();
        store.commit_block(&block)?;
        write_sets.push(capture.take_one(block.number)?.ops);
        memtable_max = memtable_max.max(store.database().stats().memtable_bytes);
    }
    let (elapsed, committer_cpu) = (started.elapsed(), committer_cpu.elapsed());
    let process_cpu = system::process_cpu_time().zip(process_cpu).map(|(a, b)| a.saturating_sub(b));
    let stats = store.database().stats();
    let lag = stats.visible_seq - stats.checkpoint;
    let drain_started = Instant::now();
    store.database().flush().map_err(ChainError::from)?;
    let drain = drain_started.elapsed();
    store.close()?;
    progress(&format!("ingest: raw redb, {} blocks", config.blocks));
    let started = Instant::now();
    for ops in &write_sets {
        raw.commit(ops)?;
    }
    let redb_elapsed = started.elapsed();
    let case = format!("{} blocks, {} accounts", config.blocks, config.accounts);
    let mut rows = Vec::new();
    let per_s = |d: Duration| config.blocks as f64 / d.as_secs_f64();
    let updates = UPDATES_PER_BLOCK as f64;
    for (system, d) in [(CS, elapsed), (REDB, redb_elapsed)] {
        rows.push(Row::new(system, &case, "blocks/s", per_s(d), "1/s"));
        rows.push(Row::new(system, &case, "updates/s", per_s(d) * updates, "1/s"));
        rows.push(Row::new(system, &case, "time", d.as_secs_f64(), "s"));
    }
    let budget = chainstore_engine::db::Options::default().memtable_bytes as f64;
    rows.push(Row::new(CS, &case, "memtable max", memtable_max as f64 / MIB, "MiB"));
    rows.push(Row::new(CS, &case, "memtable cap", budget / MIB, "MiB"));
    let busy = |cpu: Duration| cpu.as_secs_f64() / elapsed.as_secs_f64();
    rows.push(Row::new(CS, &case, "committer", busy(committer_cpu), "cores busy"));
    if let Some(cpu) = process_cpu.filter(|c| !c.is_zero()) {
        rows.push(Row::new(CS, &case, "process", busy(cpu), "cores busy"));
    }
    rows.push(Row::new(CS, &case, "lag at end", lag as f64, "commits"));
    rows.push(Row::new(CS, &case, "drain", drain.as_secs_f64() * 1e3, "ms"));
    let cs_rate = per_s(elapsed);
    let goals = vec![
        Goal::at_least(
            "blocks/s ÷ redb sync blocks/s".into(),
            ratio(cs_rate, per_s(redb_elapsed)),
            3.0,
        ),
        Goal::at_least("state updates/s (thousands)".into(), cs_rate * updates / 1e3, 200.0),
        Goal::at_most("memtable max ÷ memtable budget".into(), memtable_max as f64 / budget, 1.0),
    ];
    Ok(Report { scenario: "ingest".into(), hardware, rows, goals })
}
