//! `chainstore bench SCENARIO [--json] [--quick] [--dir DIR]`.

use std::path::PathBuf;

use anyhow::Context as _;
use chainstore_bench::Report;
use chainstore_bench::kv::KvBenchOptions;
use chainstore_bench::wal::WalBenchOptions;
use clap::{Args, Subcommand};

use crate::json_out::{out, outln};

/// Options of `chainstore bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// The commit log: append latency vs raw write+fdatasync, group commit scaling, recovery scan
    /// vs sequential read.
    Wal(CommonArgs),
    /// The generic database vs raw redb (and, built with `rocksdb`, on RocksDB vs raw RocksDB):
    /// fills, batch writes, point reads, scans, and commit latency as the database grows.
    Kv(KvArgs),
    /// The trie: incremental state root vs a full rebuild vs eth_trie (in memory).
    StateRoot(StateRootArgs),
    /// commit_block p50/p99 as the state grows, split into root and durable append, vs the same
    /// writes in synchronous redb vs raw write+fdatasync of the same bytes; NOMT's commit p50/p99
    /// at the same sizes.
    CommitLatency(CommitLatencyArgs),
    /// Sustained blocks/s and state updates/s with the indexer keeping up, vs synchronous redb and
    /// NOMT (and, built with `rocksdb`, on RocksDB vs synchronous RocksDB).
    Ingest(ChainArgs),
    /// Account and storage point reads (hot and cold) vs raw redb gets; proofs/s.
    Reads(ChainArgs),
    /// eth_getBalance, eth_getProof, eth_getLogs and eth_getBlockByNumber over HTTP with
    /// concurrent clients, idle and while ingesting, vs the same queries through the library.
    Rpc(ChainArgs),
    /// A full backup (rows/s, MB/s) vs raw write of as many bytes, and an incremental backup's
    /// written bytes vs the bytes that changed.
    Backup(ChainArgs),
    /// State snapshot export and import (accounts/s, MB/s) vs raw sequential write and read of
    /// the same bytes.
    Snapshot(ChainArgs),
    /// Account reads/s and block commits/s through the C ABI and the Python package vs the same
    /// calls through the Rust library.
    Bindings(BindingsArgs),
    /// Block commits/s with the Prometheus metrics off, on, and on with a scrape every second
    /// (`--blocks`: blocks per round and mode).
    Metrics(ChainArgs),
    /// account_at and proof_at 1, 1K and 100K blocks back vs reverting changesets; history
    /// bytes per block vs the raw changesets.
    History(ChainArgs),
}

#[derive(Debug, Args)]
struct ChainArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Small sizes (seconds, for CI).
    #[arg(long)]
    quick: bool,
    /// Accounts in the state (overrides the documented size).
    #[arg(long, value_name = "N")]
    accounts: Option<u64>,
    /// Blocks to measure (overrides the documented number).
    #[arg(long, value_name = "N")]
    blocks: Option<usize>,
    /// Directory on the disk to measure (default: the current directory). The benchmark works in
    /// a temporary directory inside it and removes it when done.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BindingsArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The Python interpreter whose environment has the `chainstore` package [default: python3,
    /// and the Python rows are skipped if it cannot import the package].
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CommitLatencyArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// State sizes to measure, smallest first (overrides the documented 10K and 1M accounts).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', conflicts_with = "accounts")]
    sizes: Vec<u64>,
    /// Add 10M accounts (needs many GiB of disk and a long time).
    #[arg(long, conflicts_with = "quick")]
    large: bool,
}

#[derive(Debug, Args)]
struct StateRootArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Small sizes (1K and 10K accounts; seconds, for CI).
    #[arg(long)]
    quick: bool,
    /// Add 10M accounts (needs several GiB of memory and many minutes).
    #[arg(long, conflicts_with = "quick")]
    large: bool,
}

/// Options every scenario has.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Small sizes and short runs (a few seconds, for CI); the page cache is not dropped.
    #[arg(long)]
    quick: bool,
    /// Directory on the disk to measure (default: the current directory). The benchmark works in
    /// a temporary directory inside it and removes it when done.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct KvArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Keys of the fill, batch, read and scan cases [default: 1000000, 20000 with --quick].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1_000..))]
    keys: Option<u64>,
    /// Database size the commit-latency case grows to [default: 20000000, 200000 with --quick].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(100_000..))]
    max_keys: Option<u64>,
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Wal(a) => {
            let work = work_dir(a.dir, "wal")?;
            let opts = WalBenchOptions { dir: work.path().to_path_buf(), quick: a.quick };
            let report = chainstore_bench::wal::run(&opts).context("wal benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Kv(a) => {
            let work = work_dir(a.common.dir, "kv")?;
            let opts = KvBenchOptions {
                dir: work.path().to_path_buf(),
                quick: a.common.quick,
                keys: a.keys,
                max_keys: a.max_keys,
            };
            let report = chainstore_bench::kv::run(&opts).context("kv benchmark failed")?;
            print(&report, a.common.json)
        }
        Scenario::StateRoot(a) => {
            use chainstore_bench::state_root::{StateRootConfig, report};
            let config = match (a.quick, a.large) {
                (true, _) => StateRootConfig::ci(),
                (_, true) => StateRootConfig::large(),
                _ => StateRootConfig::standard(),
            };
            let report = report(&config, &std::env::current_dir()?, &mut |m| eprintln!("{m}"))
                .context("state-root benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::CommitLatency(a) => {
            use chainstore_bench::commit_latency::{CommitLatencyConfig, run};
            let mut config = match (a.chain.quick, a.large) {
                (true, _) => CommitLatencyConfig::quick(),
                (_, true) => CommitLatencyConfig::large(),
                _ => CommitLatencyConfig::standard(),
            };
            if !a.sizes.is_empty() {
                config.accounts = a.sizes.clone();
            }
            if let Some(accounts) = a.chain.accounts {
                config.accounts = vec![accounts];
            }
            if let Some(blocks) = a.chain.blocks {
                config.blocks = blocks;
            }
            let work = work_dir(a.chain.dir.clone(), "commit-latency")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("commit-latency benchmark failed")?;
            print(&report, a.chain.json)
        }
        Scenario::Ingest(a) => {
            use chainstore_bench::ingest::{IngestConfig, run};
            let mut config = if a.quick { IngestConfig::quick() } else { IngestConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            config.blocks = a.blocks.unwrap_or(config.blocks);
            let work = work_dir(a.dir.clone(), "ingest")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("ingest benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Metrics(a) => {
            use chainstore_bench::metrics_cost::{MetricsConfig, run};
            let mut config =
                if a.quick { MetricsConfig::quick() } else { MetricsConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            config.blocks_per_round = a.blocks.unwrap_or(config.blocks_per_round);
            let work = work_dir(a.dir.clone(), "metrics")?;
            let exporter = crate::metrics::exporter()?;
            let report = run(&config, work.path(), exporter, &mut |m| eprintln!("{m}"))
                .context("metrics benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Reads(a) => {
            use chainstore_bench::reads::{ReadsConfig, run};
            if a.blocks.is_some() {
                anyhow::bail!("bench reads measures no blocks: --blocks does not apply");
            }
            let mut config = if a.quick { ReadsConfig::quick() } else { ReadsConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            let work = work_dir(a.dir.clone(), "reads")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("reads benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Rpc(a) => {
            use chainstore_bench::rpc::{RpcBenchConfig, run};
            let mut config =
                if a.quick { RpcBenchConfig::quick() } else { RpcBenchConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            config.blocks = a.blocks.map_or(config.blocks, |b| b as u64);
            let work = work_dir(a.dir.clone(), "rpc")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("rpc benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Backup(a) => {
            use chainstore_bench::backup::{BackupConfig, run};
            let mut config = if a.quick { BackupConfig::quick() } else { BackupConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            config.blocks = a.blocks.map_or(config.blocks, |b| b as u64);
            let work = work_dir(a.dir.clone(), "backup")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("backup benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Snapshot(a) => {
            use chainstore_bench::snapshot::{SnapshotConfig, run};
            if a.blocks.is_some() {
                anyhow::bail!("bench snapshot measures no blocks: --blocks does not apply");
            }
            let mut config =
                if a.quick { SnapshotConfig::quick() } else { SnapshotConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            let work = work_dir(a.dir.clone(), "snapshot")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("snapshot benchmark failed")?;
            print(&report, a.json)
        }
        Scenario::Bindings(a) => {
            use chainstore_bench::bindings::{BindingsConfig, run};
            let mut config =
                if a.chain.quick { BindingsConfig::quick() } else { BindingsConfig::standard() };
            config.accounts = a.chain.accounts.unwrap_or(config.accounts);
            config.blocks = a.chain.blocks.unwrap_or(config.blocks);
            config.python = a.python;
            let work = work_dir(a.chain.dir.clone(), "bindings")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("bindings benchmark failed")?;
            print(&report, a.chain.json)
        }
        Scenario::History(a) => {
            use chainstore_bench::history::{HistoryConfig, run};
            let mut config =
                if a.quick { HistoryConfig::quick() } else { HistoryConfig::standard() };
            config.accounts = a.accounts.unwrap_or(config.accounts);
            config.blocks = a.blocks.map_or(config.blocks, |b| b as u64);
            let work = work_dir(a.dir.clone(), "history")?;
            let report = run(&config, work.path(), &mut |m| eprintln!("{m}"))
                .context("history benchmark failed")?;
            print(&report, a.json)
        }
    }
}

/// A temporary directory inside `parent` (default: the current directory), removed when dropped.
fn work_dir(parent: Option<PathBuf>, scenario: &str) -> anyhow::Result<tempfile::TempDir> {
    let parent = parent.unwrap_or_else(|| PathBuf::from("."));
    tempfile::Builder::new()
        .prefix(&format!("chainstore-bench-{scenario}-"))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", report.to_json()?);
    } else {
        out!("{}", report.to_table());
    }
    Ok(())
}
