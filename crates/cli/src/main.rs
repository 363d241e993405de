//! The `chainstore` command-line tool.

mod bench;

use clap::{Parser, Subcommand};

/// chainstore: the storage layer of a blockchain node.
#[derive(Debug, Parser)]
#[command(name = "chainstore", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Comparative benchmarks: the system under test and its baselines in one run.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(args),
    }
}
