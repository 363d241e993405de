//! `chainstore proof ADDR [SLOT...]`: an EIP-1186 (`eth_getProof`) proof of an account and
//! storage slots, present or absent, against the state root of the head or of `--block N`.

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
    /// Block whose state to prove (default: the head; any block the retained history covers).
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
    let store = global.open_query()?;
    let proof = match args::state_block(args.block.as_deref())? {
        Some(n) => store.proof_at(address, &slots, n)?,
        None => store.proof(address, &slots)?,
    };
    print(&serde_json::to_value(&proof)?, args.json)
}
