//! `chainstore head`: the head block's number, hash and state root.

use chainstore_json::output::head_json;

use crate::Global;
use crate::common::print_json;

/// Options of `chainstore head`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print JSON (the output is JSON either way; accepted for uniformity).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, _args: Args) -> anyhow::Result<()> {
    let store = global.open_query()?;
    match store.head()? {
        Some(h) => print_json(&head_json(h.number, h.hash, h.state_root)),
        None => anyhow::bail!("the store in {} is empty: no head block", global.data().display()),
    }
}
