//! `chainstore unwind`.

use crate::Global;

/// Options of `chainstore unwind`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`unwind` is not implemented yet")
}
