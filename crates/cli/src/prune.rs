//! `chainstore prune --keep N [--receipts N] [--tx-index N]`: drops old state history,
//! receipts and transaction-index entries online, in bounded batches, with progress on stderr.

use std::io::IsTerminal as _;

use chainstore_chain::{PRUNE_BATCH_OPS, Retention};
use chainstore_json::output::prune_json;

use crate::Global;
use crate::args;
use crate::common::print_json;

/// Options of `chainstore prune`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keep the state history (changesets, history index, historical trie nodes) of the last N
    /// blocks: state, proofs and unwinds stay available for blocks head-N..=head.
    #[arg(long, value_name = "N")]
    keep: Option<String>,
    /// Keep the receipts (and log index) of the last N blocks.
    #[arg(long, value_name = "N")]
    receipts: Option<String>,
    /// Keep the sender/recipient transaction index of the last N blocks.
    #[arg(long = "tx-index", value_name = "N")]
    tx_index: Option<String>,
    /// Operations per batch (each batch is one durable transaction).
    #[arg(long, value_name = "N", default_value_t = PRUNE_BATCH_OPS)]
    batch_ops: usize,
    /// Report progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Print JSON (the output is JSON either way; accepted for uniformity).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let keep =
        |what: &str, v: &Option<String>| v.as_deref().map(|t| args::quantity(what, t)).transpose();
    let retention = Retention {
        history: keep("--keep", &args.keep)?,
        receipts: keep("--receipts", &args.receipts)?,
        tx_index: keep("--tx-index", &args.tx_index)?,
    };
    if retention == Retention::default() {
        anyhow::bail!("nothing to prune: give --keep N, --receipts N or --tx-index N");
    }
    if args.batch_ops == 0 {
        anyhow::bail!("--batch-ops must be at least 1");
    }
    let store = global.open_existing()?;
    let show = args.progress || std::io::stderr().is_terminal();
    let report = store.prune(&retention, args.batch_ops, &mut |p| {
        if show {
            eprintln!("prune: {} {}/{} blocks", p.what.name(), p.done, p.total);
        }
    })?;
    let out = prune_json(&report, &store)?;
    store.close()?;
    print_json(&out)
}
