//! `chainstore proof`.

use crate::Global;

/// Options of `chainstore proof`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`proof` is not implemented yet")
}
