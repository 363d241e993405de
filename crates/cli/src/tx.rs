//! `chainstore tx HASH`: a transaction with its block number, block hash and index.

use anyhow::Context as _;
use chainstore_json::output::located_transaction_json;

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore tx`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Transaction hash (32 bytes of hex, with or without 0x).
    #[arg(value_name = "HASH")]
    hash: String,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let hash = args::hash("transaction hash", &args.hash)?;
    let store = global.open_query()?;
    let location =
        store.transaction(hash)?.with_context(|| format!("transaction {hash} not found"))?;
    print(&located_transaction_json(&location), args.json)
}
