//! `chainstore bench SCENARIO [--json]`.

use std::path::PathBuf;

use anyhow::Context as _;
use chainstore_bench::Report;
use chainstore_bench::wal::WalBenchOptions;
use clap::{Args, Subcommand};

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
    Wal(WalArgs),
    /// The trie: incremental state root vs a full rebuild vs eth_trie (in memory).
    StateRoot(StateRootArgs),
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

#[derive(Debug, Args)]
struct WalArgs {
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

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Wal(a) => {
            let parent = a.dir.unwrap_or_else(|| PathBuf::from("."));
            let work = tempfile::Builder::new()
                .prefix("chainstore-bench-wal-")
                .tempdir_in(&parent)
                .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
            let opts = WalBenchOptions { dir: work.path().to_path_buf(), quick: a.quick };
            let report = chainstore_bench::wal::run(&opts).context("wal benchmark failed")?;
            print(&report, a.json)
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
    }
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", report.to_json()?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
