//! `chainstore verify`.

use crate::Global;

/// Options of `chainstore verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`verify` is not implemented yet")
}
