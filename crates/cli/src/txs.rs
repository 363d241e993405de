//! `chainstore txs ADDR [--from N] [--to N]`: the transactions an address sent or received, in
//! chain order, from the store's transactions-by-address index.

use anyhow::bail;
use chainstore_chain::ChainError;
use serde_json::Value;

use crate::Global;
use crate::args;
use chainstore_json::output::located_transaction_json;

use crate::json_out::print;

/// Options of `chainstore txs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address (20 bytes of hex, with or without 0x).
    #[arg(value_name = "ADDR")]
    address: String,
    /// First block (inclusive; default the oldest block whose index is kept).
    #[arg(long, value_name = "N")]
    from: Option<String>,
    /// Last block (inclusive; default the head).
    #[arg(long, value_name = "N")]
    to: Option<String>,
    /// Print one JSON document (an array).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let address = args::address("address", &args.address)?;
    let from = args.from.as_deref().map(|t| args::quantity("--from", t)).transpose()?;
    let to = args.to.as_deref().map(|t| args::quantity("--to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bail!("--from {from} is above --to {to}: the range is empty");
    }
    let store = global.open_query()?;
    let Some(head) = store.head()? else { return print(&Value::Array(Vec::new()), args.json) };
    let to = to.unwrap_or(head.number);
    let found = match store.transactions_by_address(address, from.unwrap_or(0), to) {
        // Without --from, start at the oldest block the index keeps.
        Err(ChainError::Pruned { oldest_available, .. }) if from.is_none() => {
            if oldest_available > to {
                Vec::new()
            } else {
                store.transactions_by_address(address, oldest_available, to)?
            }
        }
        other => other?,
    };
    let txs: Vec<Value> = found.iter().map(located_transaction_json).collect();
    print(&Value::Array(txs), args.json)
}
