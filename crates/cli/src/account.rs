//! `chainstore account`.

use crate::Global;

/// Options of `chainstore account`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`account` is not implemented yet")
}
