//! `chainstore storage ADDR SLOT`: a storage slot's value (zero if unset).

use chainstore_json::output::storage_json;

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore storage`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address (20 bytes of hex, with or without 0x).
    #[arg(value_name = "ADDR")]
    address: String,
    /// Slot: 0x hex of up to 32 bytes (left-padded), or a decimal number.
    #[arg(value_name = "SLOT")]
    slot: String,
    /// Block whose state to read (default: the head; any block the retained history covers).
    #[arg(long, value_name = "N")]
    block: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let address = args::address("address", &args.address)?;
    let slot = args::slot("slot", &args.slot)?;
    let store = global.open_query()?;
    let value = match args::state_block(args.block.as_deref())? {
        Some(n) => store.storage_at(address, slot, n)?,
        None => store.storage(address, slot)?,
    };
    print(&storage_json(&address, &slot, value), args.json)
}
