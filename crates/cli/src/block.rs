//! `chainstore block N|HASH`: a block with its transactions.

use anyhow::bail;
use chainstore_json::output::block_json;

use crate::Global;
use crate::args::{self, BlockId};
use crate::json_out::print;

/// Options of `chainstore block`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Block number (decimal or 0x hex) or block hash (32 bytes of hex).
    #[arg(value_name = "N|HASH")]
    block: String,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let id = args::block_id("block", &args.block)?;
    let store = global.open_query()?;
    let block = match id {
        BlockId::Number(n) => store.block(n)?,
        BlockId::Hash(h) => store.block_by_hash(h)?,
    };
    let Some(block) = block else {
        let head = match store.head()? {
            Some(h) => format!("the head is block {}", h.number),
            None => "the store is empty".to_string(),
        };
        bail!("block {} not found ({head})", args.block);
    };
    print(&block_json(&block), args.json)
}
