//! chainstore's comparative benchmarks, run by `chainstore bench SCENARIO [--json]`.
//!
//! Each scenario measures the system under test and its baselines side by side in one run and
//! returns a [`Report`]: rows of measurements, the hardware line, and the scenario's goals
//! computed from the rows (DESIGN.md section 7). Absolute numbers are noisy on shared machines;
//! the ratios are what the goals are about.

use std::io;
use std::path::{Path, PathBuf};

pub mod backup;
pub mod bindings;
pub mod commit_latency;
pub mod history;
pub mod ingest;
pub mod kv;
pub mod metrics_cost;
mod nomt_peer;
#[cfg(feature = "rocksdb")]
mod raw_rocksdb;
pub mod reads;
pub mod report;
pub mod rpc;
pub mod snapshot;
pub mod state_root;
mod system;
pub mod wal;

pub use report::{Goal, Hardware, Report, Row};

/// An error that stopped a benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An I/O error on a benchmark file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// An error from the commit log under test.
    #[error("commit log: {0}")]
    Wal(#[from] chainstore_engine::wal::WalError),
    /// An error from the state-root benchmark.
    #[error("state-root benchmark: {0}")]
    StateRoot(#[from] state_root::StateRootBenchError),
    /// An error from the database under test.
    #[error("chainstore database: {0}")]
    Db(#[from] chainstore_engine::db::Error),
    /// An error from the raw redb baseline.
    #[error("raw redb: {0}")]
    Redb(#[from] redb::Error),
    /// An error from the raw RocksDB baseline.
    #[cfg(feature = "rocksdb")]
    #[error("raw rocksdb: {0}")]
    Rocksdb(#[from] rocksdb::Error),
    /// A store returned wrong data (a bug in the store or in the benchmark).
    #[error("wrong result: {0}")]
    Check(String),
}

/// Removes a measured system's files, so that the disk holds one system's state at a time (at
/// 10M accounts, chainstore with its baseline copy and NOMT's hash table together need more
/// than 40 GB).
pub(crate) fn remove_measured(dir: &Path) -> Result<(), BenchError> {
    std::fs::remove_dir_all(dir).map_err(BenchError::io(dir))
}

/// Bytes of the files under `dir` (their lengths, recursively).
pub fn dir_bytes(dir: &Path) -> Result<u64, BenchError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(BenchError::io(dir))? {
        let entry = entry.map_err(BenchError::io(dir))?;
        let meta = entry.metadata().map_err(BenchError::io(entry.path()))?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// Live bytes of a database: the keys and values of every row of every table, from one read
/// snapshot (what the files on disk hold, before any storage overhead).
pub fn live_bytes(db: &chainstore_engine::db::Database) -> Result<u64, BenchError> {
    let read = db.begin_read();
    let mut total = 0;
    for table in read.tables()? {
        for pair in read.range(&table, chainstore_engine::backend::KeyRange::all(), false)? {
            let (k, v) = pair?;
            total += (k.len() + v.len()) as u64;
        }
    }
    Ok(total)
}

impl BenchError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
