//! `chainstore bench snapshot`: state snapshot export and import (`docs/snapshot.md`) in
//! accounts/s and MB/s, against raw sequential write and read of the same bytes.
//!
//! A store gets its state in one pass (the benchmarks' workload, imported as block 0) and is
//! flushed. Then, in each of [`SnapshotConfig::rounds`] rounds, in turn:
//!
//! 1. `export`: [`ChainStore::export_snapshot`] of the head's state to a new file (written as
//!    `FILE.partial`, synced, renamed);
//! 2. `raw write`: the same bytes written to a new file in 1 MiB writes, then `fdatasync`
//!    ([`system::write_file`]);
//! 3. `raw read`: that file read sequentially in 1 MiB reads ([`system::read_files`]);
//! 4. `import`: [`ChainStore::import_snapshot`] into a new store: the whole file checked, the
//!    tries built in one sorted pass and the root compared with the header's, every row
//!    committed durably; the new store is then removed.
//!
//! In the documented run the page cache is dropped (as root) before the export and before the
//! raw read, so both read from the disk; `--quick` keeps it warm. MB/s counts the snapshot
//! file's bytes (compressed). The import's accounts/s counts accounts
//! only; the state also holds `accounts / 10` storage slots and 20 contracts' code.

use std::path::Path;
use std::time::{Duration, Instant};

use chainstore_chain::ChainStore;

use crate::commit_latency::{CaptureFs, Result, Workload, open_store, ratio};
use crate::report::{Goal, Report, Row};
use crate::{BenchError, remove_measured, system};

/// Sizes of one `snapshot` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Accounts in the state.
    pub accounts: u64,
    /// Export, raw write, raw read and import rounds (the best of each is reported).
    pub rounds: usize,
    /// Drop the page cache before the export and the raw read (if the process may).
    pub cold: bool,
}

impl SnapshotConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 20_000, rounds: 1, cold: false }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self { accounts: 1_000_000, rounds: 3, cold: true }
    }
}

const CS: &str = "chainstore snapshot";
const RAW: &str = "raw file";
const MB: f64 = 1_000_000.0;

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &SnapshotConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let mut hardware = system::hardware(dir, 30, "warm")?;
    let capture = CaptureFs::default();
    let source_dir = dir.join("source");
    let store = open_store(&source_dir, &capture)?;
    progress(&format!("snapshot: importing a state of {} accounts", config.accounts));
    Workload::new(5).grow_to(&store, &capture, config.accounts)?;
    let mut best = [Duration::MAX; 4];
    let mut cold = config.cold;
    let mut file_bytes = 0;
    let mut accounts = 0;
    for round in 1..=config.rounds {
        progress(&format!("snapshot: round {round}/{}", config.rounds));
        let file = dir.join("state.snapshot");
        cold = cold && system::drop_page_cache();
        let started = Instant::now();
        let summary = store.export_snapshot(&file, None, &mut |_| {})?;
        best[0] = best[0].min(started.elapsed());
        file_bytes = summary.file_bytes;
        accounts = summary.accounts;

        let bytes = std::fs::read(&file).map_err(BenchError::io(&file))?;
        let copy = dir.join("raw.copy");
        best[1] = best[1].min(system::write_file(&copy, &bytes)?);
        cold = cold && system::drop_page_cache();
        let started = Instant::now();
        system::read_files(&[(copy.clone(), bytes.len() as u64)])?;
        best[2] = best[2].min(started.elapsed());
        std::fs::remove_file(&copy).map_err(BenchError::io(&copy))?;

        let target_dir = dir.join("imported");
        let target = ChainStore::open(&target_dir, Default::default())?;
        let started = Instant::now();
        let info = target.import_snapshot(&file, &mut |_| {})?;
        best[3] = best[3].min(started.elapsed());
        if info.state_root != summary.state_root {
            return Err(BenchError::Check(format!(
                "imported root {} is not the exported {}",
                info.state_root, summary.state_root
            ))
            .into());
        }
        target.close()?;
        remove_measured(&target_dir)?;
        std::fs::remove_file(&file).map_err(BenchError::io(&file))?;
    }
    store.close()?;
    remove_measured(&source_dir)?;
    if cold {
        hardware.page_cache = "dropped".into();
    }

    let mbs = |d: Duration| file_bytes as f64 / MB / d.as_secs_f64();
    let per_second = |d: Duration| accounts as f64 / d.as_secs_f64();
    let case = format!("{} accounts", config.accounts);
    let rows = vec![
        Row::new(CS, &case, "file", file_bytes as f64 / MB, "MB"),
        Row::new(CS, &case, "export accounts/s", per_second(best[0]), "1/s"),
        Row::new(CS, &case, "export", mbs(best[0]), "MB/s"),
        Row::new(CS, &case, "import accounts/s", per_second(best[3]), "1/s"),
        Row::new(CS, &case, "import", mbs(best[3]), "MB/s"),
        Row::new(RAW, &case, "write + fdatasync", mbs(best[1]), "MB/s"),
        Row::new(RAW, &case, "sequential read", mbs(best[2]), "MB/s"),
        Row::new(CS, &case, "export ÷ raw read", ratio(mbs(best[0]), mbs(best[2])), "x"),
        Row::new(CS, &case, "import ÷ raw write", ratio(mbs(best[3]), mbs(best[1])), "x"),
    ];
    let goals = vec![
        Goal::at_least(
            "snapshot import ≥ 500K accounts/s (trie built in the same pass)".into(),
            per_second(best[3]),
            500_000.0,
        ),
        Goal::at_least(
            "snapshot export ≥ 50 % of raw sequential read bandwidth".into(),
            ratio(mbs(best[0]), mbs(best[2])),
            0.5,
        ),
    ];
    Ok(Report { scenario: "snapshot".into(), hardware, rows, goals })
}
