//! `chainstore verify`: the full integrity check; exit 0 only if everything is consistent.

use std::io::IsTerminal as _;

use serde_json::json;

use crate::Global;
use crate::common::print_json;

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
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({ "table": p.table, "key": format!("0x{}", p.key), "detail": p.detail }))
            .collect();
        print_json(&json!({
            "ok": report.is_ok(),
            "head": report.head.map(crate::json_out::quantity),
            "stateRoot": report.computed_state_root,
            "rows": report.rows,
            "problems": problems,
        }))?;
    } else {
        let rows: u64 = report.rows.values().sum();
        for p in &report.problems {
            println!("{p}");
        }
        match report.head {
            Some(h) => {
                println!("checked {rows} rows in {} tables up to block {h}", report.rows.len())
            }
            None => println!("checked an empty store"),
        }
    }
    if report.is_ok() {
        Ok(())
    } else {
        anyhow::bail!("{} inconsistencies found", report.problems.len())
    }
}
