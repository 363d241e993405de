//! `chainstore receipt HASH`: a transaction's receipt with its logs and location.

use anyhow::bail;
use chainstore_json::output::receipt_json;

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore receipt`.
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
    match store.receipt(hash)? {
        Some((receipt, location)) => print(&receipt_json(&receipt, &location), args.json),
        None if store.transaction(hash)?.is_some() => {
            bail!("transaction {hash} has no receipt (its block was committed without receipts)")
        }
        None => bail!("receipt of transaction {hash} not found: no such transaction"),
    }
}
