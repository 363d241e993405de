//! `chainstore demo`.

use crate::Global;

/// Options of `chainstore demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not implemented yet")
}
