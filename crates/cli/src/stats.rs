//! `chainstore stats`.

use crate::Global;

/// Options of `chainstore stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`stats` is not implemented yet")
}
