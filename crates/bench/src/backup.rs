//! `chainstore bench backup`: a full backup (`docs/backup.md`) in rows/s and MB/s against raw
//! sequential write of as many bytes, and an incremental one against the bytes that changed.
//!
//! A store gets its state in one pass (the benchmarks' workload imported as block 0) and
//! commits [`BackupConfig::blocks`] blocks of the documented shape (1,000 accounts, 2,000 slots,
//! 200 transactions with receipts and logs), so every table holds rows. Then:
//!
//! 1. `full`: [`ChainStore::backup`] into an empty directory, timed; `raw write` writes as many
//!    bytes as the backup wrote to one file in 1 MiB writes, then `fdatasync`;
//! 2. the store commits `blocks` more blocks; their write sets are captured from the commit log,
//!    and the bytes that changed are counted once per key: for every key they wrote, its last
//!    value's length plus the key's (a deleted key counts its key);
//! 3. `incremental`: a second backup into the same directory, which writes only the chunks it
//!    does not hold; the goal compares its written bytes with the changed bytes.
//!
//! Both backups write compressed chunks and the changed bytes are raw, so a ratio of 1 would mean
//! the backup rewrote about as many bytes as changed, before compression.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::commit_latency::{CaptureFs, Result, Workload, open_store, ratio};
use crate::report::{Goal, Report, Row};
use crate::{BenchError, remove_measured, system};

/// Sizes of one `backup` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// Accounts in the state.
    pub accounts: u64,
    /// Blocks committed before the first backup, and again between the two backups.
    pub blocks: u64,
}

impl BackupConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 20_000, blocks: 3 }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self { accounts: 1_000_000, blocks: 10 }
    }
}

const CS: &str = "chainstore backup";
const RAW: &str = "raw file";
const MB: f64 = 1_000_000.0;

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &BackupConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let capture = CaptureFs::default();
    let store_dir = dir.join("store");
    let store = open_store(&store_dir, &capture)?;
    let mut work = Workload::new(9);
    progress(&format!("backup: importing a state of {} accounts", config.accounts));
    work.grow_to(&store, &capture, config.accounts)?;
    for _ in 0..config.blocks {
        store.commit_block(&work.next_block())?;
    }
    capture.clear();

    progress("backup: full backup");
    let dest = dir.join("backups");
    let started = Instant::now();
    let full = store.backup(&dest, None, &mut |_| {})?;
    let full_time = started.elapsed();
    let copy = dir.join("raw.copy");
    let filler = vec![0x5a; usize::try_from(full.totals.written_bytes).unwrap_or(usize::MAX)];
    let raw_time = system::write_file(&copy, &filler)?;
    std::fs::remove_file(&copy).map_err(BenchError::io(&copy))?;

    progress(&format!("backup: {} more blocks, then an incremental backup", config.blocks));
    let mut changed: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    for _ in 0..config.blocks {
        let block = work.next_block();
        store.commit_block(&block)?;
        for (table, key, value) in capture.take_one(block.number)?.ops {
            let len = key.len() + value.as_ref().map_or(0, Vec::len);
            changed.insert((table, key), len);
        }
    }
    let changed_bytes: usize = changed.values().sum();
    let started = Instant::now();
    let incremental = store.backup(&dest, None, &mut |_| {})?;
    let incremental_time = started.elapsed();
    store.close()?;
    remove_measured(&store_dir)?;
    remove_measured(&dest)?;

    let t = &full.totals;
    let i = &incremental.totals;
    let case = format!("{} accounts", config.accounts);
    let step = format!("{} blocks later", config.blocks);
    let mbs = |bytes: u64, d: Duration| bytes as f64 / MB / d.as_secs_f64();
    let written_per_changed = ratio(i.written_bytes as f64, changed_bytes as f64);
    let rows = vec![
        Row::new(CS, &case, "full: rows/s", t.rows as f64 / full_time.as_secs_f64(), "1/s"),
        Row::new(CS, &case, "full: raw MB/s", mbs(t.raw_bytes, full_time), "MB/s"),
        Row::new(CS, &case, "full: written", t.written_bytes as f64 / MB, "MB"),
        Row::new(CS, &case, "full: written MB/s", mbs(t.written_bytes, full_time), "MB/s"),
        Row::new(RAW, &case, "write + fdatasync", mbs(t.written_bytes, raw_time), "MB/s"),
        Row::new(CS, &step, "changed (raw, once per key)", changed_bytes as f64 / MB, "MB"),
        Row::new(CS, &step, "incremental: written", i.written_bytes as f64 / MB, "MB"),
        Row::new(CS, &step, "incremental: new chunks", i.new_chunks as f64, "chunks"),
        Row::new(CS, &step, "incremental: time", incremental_time.as_secs_f64(), "s"),
        Row::new(CS, &step, "written ÷ changed", written_per_changed, "x"),
        Row::new(
            CS,
            &step,
            "written ÷ full",
            ratio(i.written_bytes as f64, t.written_bytes as f64),
            "x",
        ),
    ];
    let goals = vec![Goal::at_most(
        "incremental backup ≤ 1.2 × the bytes that changed".into(),
        written_per_changed,
        1.2,
    )];
    Ok(Report { scenario: "backup".into(), hardware, rows, goals })
}
