//! `chainstore compact`: index everything, then let the backend reclaim free space.

use crate::Global;
use crate::json_out::outln;

/// Options of `chainstore compact`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(global: &Global, _args: Args) -> anyhow::Result<()> {
    let store = global.open_existing()?;
    let before = store.database().stats().backend_bytes;
    let changed = store.database().compact()?;
    let after = store.database().stats().backend_bytes;
    outln!(
        "{}: backend {before} -> {after} bytes",
        if changed { "compacted" } else { "nothing to compact" }
    );
    store.close()?;
    Ok(())
}
