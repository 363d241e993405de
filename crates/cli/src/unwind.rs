//! `chainstore unwind N`: reverts every block above N, then prints the new head.

use anyhow::Context as _;
use chainstore_json::output::head_json;

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore unwind`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The block to return to (it stays; every block above it is reverted).
    #[arg(value_name = "N")]
    block: String,
    /// Print one JSON document (the new head).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let target = args::quantity("block number", &args.block)?;
    let store = global.open_existing()?;
    // The library reports an empty store as "the head is block 0"; say what it is.
    if store.head()?.is_none() {
        anyhow::bail!("cannot unwind to block {target}: the store is empty");
    }
    store.unwind_to(target)?;
    let head = store.head()?.context("no head block after unwinding")?;
    store.close()?;
    print(&head_json(head.number, head.hash, head.state_root), args.json)
}
