//! `chainstore genesis`.

use crate::Global;

/// Options of `chainstore genesis`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`genesis` is not implemented yet")
}
