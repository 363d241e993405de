//! `chainstore bench ingest`: sustained blocks/s and state updates/s committing a long synthetic
//! chain through `ChainStore::commit_block` (each block durable before the next starts) with the
//! background indexer keeping up, against the same writes committed synchronously into raw redb.
//!
//! The state is first grown to the configured size (untimed) and the store's redb file copied as
//! the baseline. Then the store commits `blocks` blocks of the `commit-latency` shape (3,000 state
//! updates each); the commit-log record of each is captured and, after the store's run, the raw
//! redb copy commits the same write sets, one durable write transaction per block. The memtable is
//! sampled after every block; the indexer lag (commits not yet in the backend) is read at the end,
//! then the time to drain it (`updates/s incl. drain` counts it). `logged per block` is the size
//! of a block's commit-log record. `written per block` is what
//! the process sent to storage from the first block to the end of the drain (for NOMT, of its
//! blocks), over the blocks: the write amplification in bytes. `cores busy` is CPU time over
//! wall time of the committing thread and of the whole process (committer plus indexer).
//! `resident max (store)` is the process's peak resident memory while committing, less the
//! buffers holding the commit-log writes captured for the baseline (faulted in before the timed
//! loop, so that the capture's page faults are not timed as the store's), against the memory budgets
//! (memtable, state cache and backend cache). With the `rocksdb` feature the same run is
//! repeated on the RocksDB backend, against the same write sets committed synchronously (one
//! synced `WriteBatch` per block) into raw RocksDB loaded with the same grown state.
//!
//! Last, NOMT (the peer a user would pick instead, in [`crate::nomt_peer`]'s shape) grows to the
//! same number of keys as there are accounts and commits the same number of blocks of the same
//! number of updates, each durable before the next starts. `commit p50`/`p99` is the latency of
//! one block: `commit_block` for chainstore, the whole session for NOMT.

use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::Arc;

use chainstore_chain::{ChainError, ChainStore};
use chainstore_engine::db::{BackendChoice, Options};
use cpu_time::ThreadTime;

use crate::BenchError;
use crate::commit_latency::{
    CaptureFs, RawRedb, Result, UPDATES_PER_BLOCK, Workload, WriteOp, ratio,
};
use crate::nomt_peer::{NOMT, NomtPeer};
use crate::report::{Goal, Report, Row, commit_percentile_rows};
use crate::system;

/// The capture buffer faulted in per measured block: above the 4.1 MiB of a block's commit-log
/// record at 1M accounts (`logged per block`); a larger record still fits, in a fresh buffer.
const CAPTURE_PER_BLOCK: usize = 6 << 20;

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

/// Runs the scenario in `dir` (an existing directory): chainstore on redb against synchronous
/// redb, then (with the `rocksdb` feature) chainstore on RocksDB against synchronous RocksDB.
pub fn run(config: &IngestConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let case = format!("{} blocks, {} accounts", config.blocks, config.accounts);
    let mut rows = Vec::new();
    let side =
        Side { system: CS, baseline: REDB, backend: BackendChoice::Redb(Default::default()) };
    let redb =
        side.measure(config, &dir.join("redb"), &case, &mut rows, progress, &|store, path| {
            Ok(Box::new(RawRedb::copy_of(store, path)?))
        })?;
    crate::remove_measured(&dir.join("redb"))?;
    #[cfg(feature = "rocksdb")]
    {
        let side = Side {
            system: "chainstore on rocksdb",
            baseline: "rocksdb sync (no WAL)",
            backend: BackendChoice::Rocksdb(Default::default()),
        };
        side.measure(config, &dir.join("rocksdb"), &case, &mut rows, progress, &raw_rocksdb_copy)?;
        crate::remove_measured(&dir.join("rocksdb"))?;
    }
    let nomt = measure_nomt(config, &dir.join("nomt"), &case, &mut rows, progress)?;
    let updates = UPDATES_PER_BLOCK as f64;
    let budget = Options::default().memtable_bytes as f64;
    let mut goals = vec![
        Goal::at_least(
            "blocks/s ÷ redb sync blocks/s".into(),
            ratio(redb.rate, redb.baseline_rate),
            3.0,
        ),
        Goal::at_least("state updates/s (thousands)".into(), redb.rate * updates / 1e3, 200.0),
        Goal::at_most("memtable max ÷ memtable budget".into(), redb.memtable_max / budget, 1.0),
        Goal::at_least(
            "chainstore updates/s ÷ NOMT updates/s".into(),
            ratio(redb.rate * updates, nomt.updates_per_s),
            4.0,
        ),
        // The floor, on the stricter rate: the indexer's lag drained.
        Goal::at_least(
            "updates/s incl. drain ÷ NOMT updates/s".into(),
            ratio(redb.sustained_rate * updates, nomt.updates_per_s),
            1.0,
        ),
        Goal::at_most(
            "chainstore commit p50 ÷ NOMT commit p50".into(),
            ratio(redb.p50.as_secs_f64(), nomt.p50.as_secs_f64()),
            1.0,
        ),
    ];
    if let Some(r) = redb.resident_ratio {
        goals.push(Goal::at_most("resident max ÷ memory budgets".into(), r, 1.25));
    }
    Ok(Report { scenario: "ingest".into(), hardware, rows, goals })
}

/// A store that commits each block's write set durably and synchronously, with no commit log.
trait SyncBaseline {
    fn commit(&self, ops: &[WriteOp]) -> Result<()>;
}

impl SyncBaseline for RawRedb {
    fn commit(&self, ops: &[WriteOp]) -> Result<()> {
        RawRedb::commit(self, ops)
    }
}

/// Makes the baseline of a store whose state has been grown: a copy of its data at `path`.
type BaselineOf<'a> = dyn Fn(&ChainStore, &Path) -> Result<Box<dyn SyncBaseline>> + 'a;

/// One backend's run: chainstore on it and its synchronous baseline.
struct Side {
    system: &'static str,
    baseline: &'static str,
    backend: BackendChoice,
}

/// What the goals need from a side's run.
struct Measured {
    rate: f64,
    baseline_rate: f64,
    memtable_max: f64,
    /// Blocks/s counting the time to drain the indexer's lag at the end.
    sustained_rate: f64,
    /// Peak resident memory while committing, less the benchmark's captured write sets, ÷ (memtable
    /// + state cache + backend cache budgets).
    resident_ratio: Option<f64>,
    /// Median latency of one block.
    p50: Duration,
}

impl Side {
    /// Grows the state, commits the measured blocks through chainstore and the same write sets
    /// into the baseline, and adds the rows.
    fn measure(
        &self,
        config: &IngestConfig,
        dir: &Path,
        case: &str,
        rows: &mut Vec<Row>,
        progress: &mut dyn FnMut(&str),
        baseline_of: &BaselineOf<'_>,
    ) -> Result<Measured> {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let capture = CaptureFs::default();
        let options = Options {
            vfs: Arc::new(capture.clone()),
            backend: self.backend.clone(),
            ..Options::default()
        };
        let store = ChainStore::open(dir.join("store"), options)?;
        let mut work = Workload::new(2);
        progress(&format!(
            "ingest, {}: growing the state to {} accounts",
            self.system, config.accounts
        ));
        work.grow_to(&store, &capture, config.accounts)?;
        let baseline = baseline_of(&store, &dir.join("baseline"))?;
        progress(&format!("ingest, {}: committing {} blocks", self.system, config.blocks));
        let mut captured_writes = Vec::with_capacity(config.blocks);
        let mut memtable_max = 0u64;
        capture.prefault(config.blocks, CAPTURE_PER_BLOCK);
        // The capture's buffers are the benchmark's, not the store's memory.
        let store_resident = |taken: usize| {
            let held = (taken + capture.held_bytes()) as u64;
            system::resident_bytes().map(|r| r.saturating_sub(held))
        };
        let (mut resident_max, mut logged, mut taken) = (store_resident(0), 0usize, 0usize);
        let mut latencies = Vec::with_capacity(config.blocks);
        let (started, committer_cpu) = (Instant::now(), ThreadTime::now());
        let process_cpu = system::process_cpu_time();
        let written = system::written_bytes();
        for _ in 0..config.blocks {
            let block = work.next_block();
            let commit_started = Instant::now();
            store.commit_block(&block)?;
            latencies.push(commit_started.elapsed());
            // Decoded after the timed loop: decoding here would be timed as the store's.
            let writes = capture.take_writes();
            (logged, taken) = (logged + writes.len(), taken + writes.held_bytes());
            captured_writes.push((block.number, writes));
            memtable_max = memtable_max.max(store.database().stats().memtable_bytes);
            resident_max = resident_max.max(store_resident(taken));
        }
        let (elapsed, committer_cpu) = (started.elapsed(), committer_cpu.elapsed());
        let process_cpu =
            system::process_cpu_time().zip(process_cpu).map(|(a, b)| a.saturating_sub(b));
        let stats = store.database().stats();
        let lag = stats.visible_seq - stats.checkpoint;
        let drain_started = Instant::now();
        store.database().flush().map_err(ChainError::from)?;
        let drain = drain_started.elapsed();
        let written = system::written_bytes().zip(written).map(|(a, b)| a.saturating_sub(b));
        let live = crate::live_bytes(store.database())?;
        store.close()?;
        let disk = crate::dir_bytes(&dir.join("store"))?;
        progress(&format!("ingest, {}: {} blocks", self.baseline, config.blocks));
        let write_sets = captured_writes
            .into_iter()
            .map(|(block, writes)| Ok(writes.one_record(block)?.ops))
            .collect::<Result<Vec<_>>>()?;
        let started = Instant::now();
        for ops in &write_sets {
            baseline.commit(ops)?;
        }
        let baseline_elapsed = started.elapsed();
        let per_s = |d: Duration| config.blocks as f64 / d.as_secs_f64();
        let updates = UPDATES_PER_BLOCK as f64;
        for (system, d) in [(self.system, elapsed), (self.baseline, baseline_elapsed)] {
            rows.push(Row::new(system, case, "blocks/s", per_s(d), "1/s"));
            rows.push(Row::new(system, case, "updates/s", per_s(d) * updates, "1/s"));
            rows.push(Row::new(system, case, "time", d.as_secs_f64(), "s"));
        }
        let cs = self.system;
        let latency = commit_percentile_rows(rows, cs, case, &mut latencies);
        let defaults = Options::default();
        let budget = defaults.memtable_bytes as f64;
        rows.push(Row::new(cs, case, "memtable max", memtable_max as f64 / MIB, "MiB"));
        rows.push(Row::new(cs, case, "memtable cap", budget / MIB, "MiB"));
        let busy = |cpu: Duration| cpu.as_secs_f64() / elapsed.as_secs_f64();
        rows.push(Row::new(cs, case, "committer", busy(committer_cpu), "cores busy"));
        if let Some(cpu) = process_cpu.filter(|c| !c.is_zero()) {
            rows.push(Row::new(cs, case, "process", busy(cpu), "cores busy"));
        }
        rows.push(Row::new(cs, case, "lag at end", lag as f64, "commits"));
        rows.push(Row::new(cs, case, "drain", drain.as_secs_f64() * 1e3, "ms"));
        let sustained_rate = per_s(elapsed + drain);
        rows.push(Row::new(cs, case, "updates/s incl. drain", sustained_rate * updates, "1/s"));
        let memory_budget =
            (defaults.memtable_bytes + defaults.cache_bytes + self.backend.cache_bytes()) as f64;
        let per_block = |bytes: usize| bytes as f64 / config.blocks as f64 / MIB;
        rows.push(Row::new(cs, case, "logged per block", per_block(logged), "MiB"));
        if let Some(written) = written {
            rows.push(Row::new(cs, case, "written per block", per_block(written as usize), "MiB"));
        }
        rows.push(Row::new(cs, case, "disk", disk as f64 / MIB, "MiB"));
        rows.push(Row::new(cs, case, "live", live as f64 / MIB, "MiB"));
        rows.push(Row::new(cs, case, "memory budget", memory_budget / MIB, "MiB"));
        if let Some(resident) = resident_max {
            rows.push(Row::new(cs, case, "resident max (store)", resident as f64 / MIB, "MiB"));
        }
        Ok(Measured {
            sustained_rate,
            resident_ratio: resident_max.map(|r| r as f64 / memory_budget),
            rate: per_s(elapsed),
            baseline_rate: per_s(baseline_elapsed),
            memtable_max: memtable_max as f64,
            p50: latency.p50,
        })
    }
}

/// What the goals need from NOMT's run.
struct NomtMeasured {
    updates_per_s: f64,
    p50: Duration,
}

/// Grows NOMT to `config.accounts` keys and commits `config.blocks` blocks; adds its rows.
fn measure_nomt(
    config: &IngestConfig,
    dir: &Path,
    case: &str,
    rows: &mut Vec<Row>,
    progress: &mut dyn FnMut(&str),
) -> Result<NomtMeasured> {
    let max_keys = NomtPeer::keys_reached(config.accounts, config.blocks);
    let mut peer = NomtPeer::create(dir, max_keys)?;
    progress(&format!("ingest, {NOMT}: growing the state to {} keys", config.accounts));
    peer.grow_to(config.accounts)?;
    progress(&format!("ingest, {NOMT}: committing {} blocks", config.blocks));
    let written = system::written_bytes();
    let mut run = peer.run(0, config.blocks)?;
    let written = system::written_bytes().zip(written).map(|(a, b)| a.saturating_sub(b));
    let secs = run.elapsed.as_secs_f64();
    let updates_per_s = run.updates as f64 / secs;
    rows.push(Row::new(NOMT, case, "blocks/s", config.blocks as f64 / secs, "1/s"));
    rows.push(Row::new(NOMT, case, "updates/s", updates_per_s, "1/s"));
    rows.push(Row::new(NOMT, case, "time", secs, "s"));
    let latency = commit_percentile_rows(rows, NOMT, case, &mut run.latencies);
    if let Some(written) = written {
        let per_block = written as f64 / config.blocks as f64 / MIB;
        rows.push(Row::new(NOMT, case, "written per block", per_block, "MiB"));
    }
    Ok(NomtMeasured { updates_per_s, p50: latency.p50 })
}

#[cfg(feature = "rocksdb")]
impl SyncBaseline for crate::raw_rocksdb::RawRocksdb {
    fn commit(&self, ops: &[WriteOp]) -> Result<()> {
        let ops = ops.iter().map(|(t, k, v)| (t.as_str(), k.as_slice(), v.as_deref()));
        Ok(crate::raw_rocksdb::RawRocksdb::commit(self, ops)?)
    }
}

/// A raw RocksDB at `path` holding every row of `store` (loaded unsynced, then flushed).
#[cfg(feature = "rocksdb")]
fn raw_rocksdb_copy(store: &ChainStore, path: &Path) -> Result<Box<dyn SyncBaseline>> {
    const LOAD_BATCH: usize = 10_000;
    let raw = crate::raw_rocksdb::RawRocksdb::create(path)?;
    let read = store.database().begin_read();
    for table in read.tables().map_err(ChainError::from)? {
        let mut rows = read.prefix(&table, b"").map_err(ChainError::from)?.peekable();
        while rows.peek().is_some() {
            let chunk: Vec<(Vec<u8>, Vec<u8>)> = rows
                .by_ref()
                .take(LOAD_BATCH)
                .collect::<std::result::Result<_, _>>()
                .map_err(ChainError::from)?;
            raw.write(
                chunk.iter().map(|(k, v)| (table.as_str(), k.as_slice(), Some(v.as_slice()))),
                false,
            )?;
        }
    }
    raw.flush()?;
    Ok(Box::new(raw))
}
