//! `chainstore block`.

use crate::Global;

/// Options of `chainstore block`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`block` is not implemented yet")
}
