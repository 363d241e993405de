//! `chainstore logs`.

use crate::Global;

/// Options of `chainstore logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`logs` is not implemented yet")
}
