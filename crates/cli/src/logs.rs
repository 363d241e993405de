//! `chainstore logs`: logs by block range, addresses and topics, with the `eth_getLogs` rules
//! (alternatives within a position are OR'ed, positions AND'ed).

use std::ops::ControlFlow;

use anyhow::bail;
use chainstore_chain::LogFilter;
use chainstore_json::output::log_json;

use crate::Global;
use crate::args;
use crate::json_out::ListPrinter;

/// Options of `chainstore logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// First block (inclusive; default 0).
    #[arg(long, value_name = "N")]
    from: Option<String>,
    /// Last block (inclusive; default the head).
    #[arg(long, value_name = "N")]
    to: Option<String>,
    /// Emitting contract; repeat for any of several.
    #[arg(long, value_name = "A")]
    address: Vec<String>,
    /// Topic at position 0 (the event signature); repeat for any of several.
    #[arg(long, value_name = "T")]
    topic0: Vec<String>,
    /// Topic at position 1; repeat for any of several.
    #[arg(long, value_name = "T")]
    topic1: Vec<String>,
    /// Topic at position 2; repeat for any of several.
    #[arg(long, value_name = "T")]
    topic2: Vec<String>,
    /// Topic at position 3; repeat for any of several.
    #[arg(long, value_name = "T")]
    topic3: Vec<String>,
    /// Print one JSON document (an array).
    #[arg(long)]
    json: bool,
}

impl Args {
    /// The library's filter, every input checked.
    fn filter(&self) -> anyhow::Result<LogFilter> {
        let from_block = self.from.as_deref().map(|t| args::quantity("--from", t)).transpose()?;
        let to_block = self.to.as_deref().map(|t| args::quantity("--to", t)).transpose()?;
        if let (Some(from), Some(to)) = (from_block, to_block)
            && from > to
        {
            bail!("--from {from} is above --to {to}: the range is empty");
        }
        let addresses =
            self.address.iter().map(|a| args::address("--address", a)).collect::<Result<_, _>>()?;
        let position = |name: &str, texts: &[String]| -> anyhow::Result<Vec<_>> {
            texts.iter().map(|t| args::hash(name, t)).collect()
        };
        let topics = [
            position("--topic0", &self.topic0)?,
            position("--topic1", &self.topic1)?,
            position("--topic2", &self.topic2)?,
            position("--topic3", &self.topic3)?,
        ];
        Ok(LogFilter { from_block, to_block, addresses, topics })
    }
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let filter = args.filter()?;
    let store = global.open_query()?;
    let mut printer = ListPrinter::new(args.json);
    store.for_each_log(&filter, |log| {
        printer.item(&log_json(&log))?;
        anyhow::Ok(ControlFlow::Continue(()))
    })?;
    printer.finish()
}
