//! `chainstore account ADDR`: an account's nonce, balance, code hash and storage root.

use chainstore_json::output::account_json;

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore account`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address (20 bytes of hex, with or without 0x).
    #[arg(value_name = "ADDR")]
    address: String,
    /// Block whose state to read (default: the head; any block the retained history covers).
    #[arg(long, value_name = "N")]
    block: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let address = args::address("address", &args.address)?;
    let store = global.open_query()?;
    let info = match args::state_block(args.block.as_deref())? {
        Some(n) => store.account_at(address, n)?,
        None => store.account(address)?,
    };
    print(&account_json(&address, info.as_ref()), args.json)
}
