//! `chainstore txs ADDR [--from N] [--to N]`: the transactions an address sent or received, in
//! chain order, from the store's transactions-by-address index.

use std::ops::ControlFlow;

use anyhow::bail;
use chainstore_chain::{ChainError, TxLocation};

use crate::Global;
use crate::args;
use chainstore_json::output::located_transaction_json;

use crate::json_out::ListPrinter;

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
    let mut printer = ListPrinter::new(args.json);
    let Some(head) = store.head()? else { return printer.finish() };
    let to = to.unwrap_or(head.number);
    let mut print = |t: TxLocation| {
        printer.item(&located_transaction_json(&t))?;
        anyhow::Ok(ControlFlow::Continue(()))
    };
    match store.for_each_transaction_by_address(address, from.unwrap_or(0), to, &mut print) {
        Ok(()) => {}
        // Without --from, start at the oldest block the index keeps.
        Err(e) if from.is_none() => match e.downcast_ref::<ChainError>() {
            Some(&ChainError::Pruned { oldest_available, .. }) if oldest_available <= to => {
                store.for_each_transaction_by_address(address, oldest_available, to, &mut print)?
            }
            Some(&ChainError::Pruned { .. }) => {}
            _ => return Err(e),
        },
        Err(e) => return Err(e),
    }
    printer.finish()
}
