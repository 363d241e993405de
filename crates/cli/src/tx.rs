//! `chainstore tx`.

use crate::Global;

/// Options of `chainstore tx`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tx` is not implemented yet")
}
