//! The `chainstore` command-line tool: operations and queries on a chain store, and the
//! benchmarks. The contract (commands, options, JSON shapes) is in `docs/cli.md`; every
//! query command prints exactly one JSON document on stdout with `--json`, and errors go to
//! stderr with a non-zero exit code.

mod account;
mod args;
mod backup;
mod bench;
mod block;
mod common;
mod compact;
mod demo;
mod genesis;
mod genesis_file;
mod head;
mod ingest;
mod json_out;
mod logs;
mod metrics;
mod proof;
mod prune;
mod receipt;
mod serve;
mod snapshot;
mod stats;
mod storage;
mod torture;
mod tx;
mod txs;
mod unwind;
mod verify;
mod wal;

/// mimalloc, tuned for block commits (`chainstore_alloc`).
#[global_allocator]
static ALLOCATOR: chainstore_alloc::MiMalloc = chainstore_alloc::MiMalloc;

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
    /// Transactions sent or received by an address, in chain order.
    Txs(txs::Args),
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
    /// State snapshots: export the state as of a block, start a store from one, inspect one.
    Snapshot(snapshot::Args),
    /// Incremental, content-addressed (optionally encrypted) backups of every table: create,
    /// list, verify.
    Backup(backup::Args),
    /// Restore a backup into a new store directory, optionally unwound to a block.
    Restore(backup::RestoreArgs),
    /// Per-table rows and bytes, log and memtable bytes, checkpoint, head.
    Stats(stats::Args),
    /// Index everything, then reclaim free space in the backend.
    Compact(compact::Args),
    /// Commit-log diagnostics (`inspect`) and explicit repair (`repair`).
    Wal(wal::Args),
    /// Ethereum JSON-RPC reads over HTTP, optionally committing blocks while serving.
    Serve(serve::Args),
    /// Crash soak: SIGKILL a child doing ingest, unwind, prune and compact; check that nothing
    /// acknowledged is lost.
    Torture(torture::Args),
    /// Comparative benchmarks: the system under test and its baselines in one run.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    chainstore_alloc::tune();
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
        Command::Txs(a) => txs::run(&cli.global, a),
        Command::Account(a) => account::run(&cli.global, a),
        Command::Storage(a) => storage::run(&cli.global, a),
        Command::Proof(a) => proof::run(&cli.global, a),
        Command::Unwind(a) => unwind::run(&cli.global, a),
        Command::Prune(a) => prune::run(&cli.global, a),
        Command::Verify(a) => verify::run(&cli.global, a),
        Command::Snapshot(a) => snapshot::run(&cli.global, a),
        Command::Backup(a) => backup::run(&cli.global, a),
        Command::Restore(a) => backup::restore(&cli.global, a),
        Command::Stats(a) => stats::run(&cli.global, a),
        Command::Compact(a) => compact::run(&cli.global, a),
        Command::Wal(a) => wal::run(&cli.global, a),
        Command::Serve(a) => serve::run(&cli.global, a),
        Command::Torture(a) => torture::run(&cli.global, a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if json_out::reader_gone(&e) => json_out::end_by_sigpipe(),
        Err(e) => {
            eprintln!("error: {}", render(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message already
/// holds: many library errors both print their source and return it from `source()` (`commit
/// log: {0}` over a `#[from]`), and `{:#}` would print each of those twice.
pub(crate) fn render(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("commit log: {0}")]
    struct Wrapping(#[from] std::io::Error);

    #[test]
    fn an_error_prints_each_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::from(Wrapping(io)).context("ingest failed");
        assert_eq!(format!("{e:#}"), "ingest failed: commit log: disk on fire: disk on fire");
        assert_eq!(super::render(&e), "ingest failed: commit log: disk on fire");
        let plain = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(super::render(&plain), "outer: middle: inner");
    }
}
