//! `chainstore snapshot export FILE [--block N]`, `snapshot import FILE` and `snapshot inspect
//! FILE`: the state as of a block in a portable, checksummed file (`docs/snapshot.md`), and a
//! new store started from one.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chainstore_chain::{SnapshotSummary, inspect_snapshot};
use serde_json::json;

use crate::Global;
use chainstore_json::output::{head_json, quantity};

use crate::json_out::print;

/// Options of `chainstore snapshot`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write the state as of the head (or a retained block) to a new snapshot file.
    Export {
        /// The file to write (refused if it exists).
        file: PathBuf,
        /// The block whose state to write (default: the head).
        #[arg(long, value_name = "N")]
        block: Option<u64>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Start an empty store (`--data DIR`) from a snapshot file, or resume a stopped import.
    Import {
        /// The snapshot file.
        file: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Check a snapshot file (every chunk's checksum) and print what it holds.
    Inspect {
        /// The snapshot file.
        file: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Export { file, block, json } => export(global, &file, block, json),
        Command::Import { file, json } => import(global, &file, json),
        Command::Inspect { file, json } => print(&summary_json(&inspect_snapshot(&file)?), json),
    }
}

fn export(global: &Global, file: &Path, block: Option<u64>, json: bool) -> anyhow::Result<()> {
    let store = global.open_query()?;
    let mut last = std::time::Instant::now();
    let summary = store.export_snapshot(file, block, &mut |p| {
        if last.elapsed().as_secs() >= 2 {
            eprintln!("exported {} accounts, {} slots, {} chunks", p.accounts, p.slots, p.chunks);
            last = std::time::Instant::now();
        }
    })?;
    print(&summary_json(&summary), json)
}

fn import(global: &Global, file: &Path, json: bool) -> anyhow::Result<()> {
    // Checked before the store exists, so a damaged file leaves no directory behind.
    inspect_snapshot(file)?;
    let dir = global.data();
    // What was there before, if no store was: a refused snapshot removes what the import added.
    let before = (!dir.join("FORMAT").exists()).then(|| entries(&dir));
    let imported = (|| {
        let store = global.open()?;
        let mut last = std::time::Instant::now();
        let info = store.import_snapshot(file, &mut |p| {
            if last.elapsed().as_secs() >= 2 {
                eprintln!("imported {} accounts, {} slots", p.accounts, p.slots);
                last = std::time::Instant::now();
            }
        })?;
        store.close().context("closing the store")?;
        anyhow::Ok(info)
    })();
    match imported {
        Ok(info) => print(&head_json(info.number, info.hash, info.state_root), json),
        Err(e) => {
            // A refused snapshot (its state does not hash to its root) leaves the directory as
            // it was. An import stopped by anything else keeps its progress, to be resumed.
            if let Some(before) = before.filter(|_| refused(&e)) {
                remove_added(&dir, before);
            }
            Err(e)
        }
    }
}

/// The names in `dir` (`None` if it does not exist).
fn entries(dir: &Path) -> Option<HashSet<OsString>> {
    let list = std::fs::read_dir(dir).ok()?;
    Some(list.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
}

/// Removes what was added to `dir` since `before` was listed (`dir` itself if it was not there).
fn remove_added(dir: &Path, before: Option<HashSet<OsString>>) {
    let Some(before) = before else {
        let _ = std::fs::remove_dir_all(dir);
        return;
    };
    for name in entries(dir).unwrap_or_default().difference(&before) {
        let path = dir.join(name);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}

fn refused(e: &anyhow::Error) -> bool {
    use chainstore_chain::ChainError;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ChainError>(),
            Some(
                ChainError::StateRootMismatch { .. }
                    | ChainError::Snapshot { .. }
                    | ChainError::BadImport(_)
            )
        )
    })
}

fn summary_json(s: &SnapshotSummary) -> serde_json::Value {
    json!({
        "number": quantity(s.number),
        "hash": s.hash,
        "parentHash": s.parent_hash,
        "timestamp": quantity(s.timestamp),
        "stateRoot": s.state_root,
        "chunks": quantity(s.chunks),
        "accounts": quantity(s.accounts),
        "slots": quantity(s.slots),
        "codes": quantity(s.codes),
        "bytes": quantity(s.file_bytes),
    })
}
