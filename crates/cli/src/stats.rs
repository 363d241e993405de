//! `chainstore stats`: rows and bytes of every table, commit-log and memtable bytes, the
//! indexer checkpoint and the head.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use chainstore_json::output::{quantity, stats_json};
use serde_json::{Value, json};

use crate::Global;
use crate::json_out::out;
use crate::json_out::{self, print};

/// Options of `chainstore stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Rows and bytes (keys plus values) of one table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TableSize {
    rows: u64,
    bytes: u64,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let store = global.open_existing()?;
    let read = store.database().begin_read();
    let head = store.head()?;
    let stats = store.database().stats();
    let progress = std::io::stderr().is_terminal();
    let names = read.tables()?;
    let mut tables = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let label = format!("scanning table {}/{}: {name}", i + 1, names.len());
        let size = scan(&read, name, |rows| {
            if progress {
                eprint!("\r{label} ({rows} rows)\x1b[K");
            }
        })?;
        tables.push(json!({
            "name": name,
            "rows": quantity(size.rows),
            "bytes": quantity(size.bytes),
        }));
    }
    if progress {
        eprint!("\r\x1b[K");
        let _ = std::io::stderr().flush();
    }
    let mut doc = stats_json(head.as_ref(), &stats);
    doc["tables"] = Value::Array(tables);
    if args.json {
        print(&doc, true)
    } else {
        out!("{}", human(doc));
        Ok(())
    }
}

/// The readable form: the counters, then one aligned line per table.
fn human(mut doc: Value) -> String {
    let tables = doc.as_object_mut().and_then(|m| m.shift_remove("tables"));
    let tables = tables.as_ref().and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut out = json_out::human(&doc);
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap_or("?")).collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0).max("table".len());
    let _ = writeln!(out, "{:width$}  {:>12}  {:>14}", "table", "rows", "bytes");
    for (name, t) in names.iter().zip(tables) {
        let (rows, bytes) = (json_out::decimal(&t["rows"]), json_out::decimal(&t["bytes"]));
        let _ = writeln!(out, "{name:width$}  {rows:>12}  {bytes:>14}");
    }
    out
}

/// Counts the rows of `table` in the snapshot and the bytes of their keys and values, calling
/// `progress` at the start and every 65,536 rows.
fn scan(read: &ReadTxn, table: &str, progress: impl Fn(u64)) -> anyhow::Result<TableSize> {
    let mut size = TableSize::default();
    progress(0);
    for pair in read.range(table, KeyRange::all(), false)? {
        let (k, v) = pair?;
        size.rows += 1;
        size.bytes += (k.len() + v.len()) as u64;
        if size.rows % 65_536 == 0 {
            progress(size.rows);
        }
    }
    Ok(size)
}
