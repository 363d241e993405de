//! `chainstore ingest`.

use crate::Global;

/// Options of `chainstore ingest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`ingest` is not implemented yet")
}
