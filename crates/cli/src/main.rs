//! The `chainstore` command-line tool: operations and queries on a chain store, and the
//! benchmarks. The contract (commands, options, JSON shapes) is in DESIGN.md section 5; every
//! query command prints exactly one JSON document on stdout with `--json`, and errors go to
//! stderr with a non-zero exit code.

mod account;
mod args;
mod bench;
mod block;
mod common;
mod compact;
mod demo;
mod genesis;
mod genesis_file;
mod head;
mod ingest;
mod json_in;
mod json_out;
mod logs;
mod proof;
mod prune;
mod receipt;
mod stats;
mod storage;
mod torture;
mod tx;
mod unwind;
mod verify;
mod wal;

use clap::{Parser, Subcommand};

pub(crate) use common::Global;

/// chainstore: the storage layer of a blockchain node.
#[derive(Debug, Parser)]
#[command(name = "chainstore", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic chain, commit it, and show what the store does.
    Demo(demo::Args),
    /// Import a geth-style genesis file as block 0 of an empty store.
    Genesis(genesis::Args),
    /// Commit blocks from JSON lines (a file or `-` for stdin).
    Ingest(ingest::Args),
    /// The head block: number, hash, state root.
    Head(head::Args),
    /// A block by number or hash.
    Block(block::Args),
    /// A transaction by hash.
    Tx(tx::Args),
    /// A receipt by transaction hash.
    Receipt(receipt::Args),
    /// Logs by block range, addresses and topics (the eth_getLogs rules).
    Logs(logs::Args),
    /// An account's nonce, balance, code hash and storage root.
    Account(account::Args),
    /// A storage slot's value.
    Storage(storage::Args),
    /// An EIP-1186 proof of an account and storage slots.
    Proof(proof::Args),
    /// Revert every block above N.
    Unwind(unwind::Args),
    /// Drop old state history, receipts and transaction-index entries, online.
    Prune(prune::Args),
    /// Full integrity check: recompute every root, check every index.
    Verify(verify::Args),
    /// Per-table rows and bytes, log and memtable bytes, checkpoint, head.
    Stats(stats::Args),
    /// Index everything, then reclaim free space in the backend.
    Compact(compact::Args),
    /// Commit-log diagnostics (`inspect`) and explicit repair (`repair`).
    Wal(wal::Args),
    /// Crash soak: SIGKILL a child doing ingest, unwind, prune and compact; check that nothing
    /// acknowledged is lost.
    Torture(torture::Args),
    /// Comparative benchmarks: the system under test and its baselines in one run.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => demo::run(&cli.global, a),
        Command::Genesis(a) => genesis::run(&cli.global, a),
        Command::Ingest(a) => ingest::run(&cli.global, a),
        Command::Head(a) => head::run(&cli.global, a),
        Command::Block(a) => block::run(&cli.global, a),
        Command::Tx(a) => tx::run(&cli.global, a),
        Command::Receipt(a) => receipt::run(&cli.global, a),
        Command::Logs(a) => logs::run(&cli.global, a),
        Command::Account(a) => account::run(&cli.global, a),
        Command::Storage(a) => storage::run(&cli.global, a),
        Command::Proof(a) => proof::run(&cli.global, a),
        Command::Unwind(a) => unwind::run(&cli.global, a),
        Command::Prune(a) => prune::run(&cli.global, a),
        Command::Verify(a) => verify::run(&cli.global, a),
        Command::Stats(a) => stats::run(&cli.global, a),
        Command::Compact(a) => compact::run(&cli.global, a),
        Command::Wal(a) => wal::run(&cli.global, a),
        Command::Torture(a) => torture::run(&cli.global, a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
