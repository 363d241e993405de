//! `chainstore verify`: the full integrity check; exit 0 only if everything is consistent.

use std::io::IsTerminal as _;

use chainstore_json::output::verify_json;

use crate::Global;
use crate::common::print_json;
use crate::json_out::outln;

/// Options of `chainstore verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON document: `{ok, head, stateRoot, rows, problems[{table, key, detail}]}`.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let store = global.open_existing()?;
    let verbose = std::io::stderr().is_terminal();
    let report = store.verify(&mut |phase| {
        if verbose {
            eprintln!("verify: checking {phase}");
        }
    })?;
    if args.json {
        print_json(&verify_json(&report))?;
    } else {
        let rows: u64 = report.rows.values().sum();
        for p in &report.problems {
            outln!("{p}");
        }
        match report.head {
            Some(h) => {
                outln!("checked {rows} rows in {} tables up to block {h}", report.rows.len())
            }
            None => outln!("checked an empty store"),
        }
    }
    if report.is_ok() {
        Ok(())
    } else {
        anyhow::bail!("{} inconsistencies found", report.problems.len())
    }
}
