//! `chainstore storage`.

use crate::Global;

/// Options of `chainstore storage`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`storage` is not implemented yet")
}
