//! `chainstore receipt`.

use crate::Global;

/// Options of `chainstore receipt`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`receipt` is not implemented yet")
}
