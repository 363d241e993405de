//! `chainstore proof ADDR [SLOT...]`: an EIP-1186 (`eth_getProof`) proof of an account and
//! storage slots, present or absent, against the head's state root.

use crate::Global;
use crate::args;
use crate::json_out::print;

/// Options of `chainstore proof`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address (20 bytes of hex, with or without 0x).
    #[arg(value_name = "ADDR")]
    address: String,
    /// Slots to prove: 0x hex of up to 32 bytes (left-padded), or decimal numbers.
    #[arg(value_name = "SLOT")]
    slots: Vec<String>,
    /// Block whose state to prove (only the head until historical state is available).
    #[arg(long, value_name = "N")]
    block: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let address = args::address("address", &args.address)?;
    let slots = args
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| args::slot(&format!("slot #{}", i + 1), s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = global.open_existing()?;
    args::require_head(&store, args.block.as_deref())?;
    let proof = store.proof(address, &slots)?;
    print(&serde_json::to_value(&proof)?, args.json)
}
