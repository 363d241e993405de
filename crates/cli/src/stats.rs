//! `chainstore stats`: rows and bytes of every table, commit-log and memtable bytes, the
//! indexer checkpoint and the head, and space amplification: the backend's and the log's bytes
//! on disk against the live bytes they hold, and how the backend's file is used (redb's own
//! statistics: allocated and free bytes, leaf and branch pages, stored, metadata and fragmented
//! bytes).

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use chainstore_json::output::{quantity, stats_json};
use serde_json::{Value, json};

use crate::Global;
use crate::json_out::{self, out, print};

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
    let mut live = 0;
    for (i, name) in names.iter().enumerate() {
        let label = format!("scanning table {}/{}: {name}", i + 1, names.len());
        let size = scan(&read, name, |rows| {
            if progress {
                eprint!("\r{label} ({rows} rows)\x1b[K");
            }
        })?;
        live += size.bytes;
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
    let log_disk = disk_usage(&store.database().path().join("wal"))?;
    doc["space"] = json!({
        "liveBytes": quantity(live),
        "backendBytes": quantity(stats.backend_bytes),
        "backendAmplification": amplification(stats.backend_bytes, live),
        "logDiskBytes": quantity(log_disk),
        "logLiveBytes": quantity(stats.wal_bytes),
        "logAmplification": amplification(log_disk, stats.wal_bytes),
    });
    if let Some(pages) = store.database().page_usage()? {
        let size = pages.page_size;
        doc["space"]["backendPages"] = json!({
            "pageSize": quantity(size),
            "allocatedBytes": quantity(pages.allocated_pages * size),
            "freeBytes": quantity(stats.backend_bytes.saturating_sub(pages.allocated_pages * size)),
            "leafBytes": quantity(pages.leaf_pages * size),
            "branchBytes": quantity(pages.branch_pages * size),
            "storedBytes": quantity(pages.stored_bytes),
            "metadataBytes": quantity(pages.metadata_bytes),
            "fragmentedBytes": quantity(pages.fragmented_bytes),
        });
    }
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

/// `disk ÷ live`, to two decimals (`null` when nothing is live).
fn amplification(disk: u64, live: u64) -> Value {
    if live == 0 {
        return Value::Null;
    }
    json!((disk as f64 / live as f64 * 100.0).round() / 100.0)
}

/// Bytes the files in `dir` take on disk (allocated blocks: a preallocated log segment counts
/// whole), 0 if `dir` does not exist.
fn disk_usage(dir: &std::path::Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display()))),
    };
    let mut bytes = 0;
    for entry in entries {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            bytes += meta.blocks() * 512;
        }
    }
    Ok(bytes)
}
