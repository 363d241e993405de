//! `chainstore wal inspect` and `chainstore wal repair`: diagnostics and explicit repair of the
//! commit log (see `docs/recovery.md`).

use std::sync::Arc;

use anyhow::{Context as _, bail};
use chainstore_engine::vfs::{RealFs, Vfs};
use chainstore_engine::wal::{self, RecoveryMode, RecoveryReport, Wal, WalOptions};
use serde_json::json;

use crate::Global;
use crate::common::print_json;
use crate::json_out::outln;

/// Options of `chainstore wal`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: WalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WalCommand {
    /// Check every segment and record without changing anything; exit 0 only if the log is
    /// clean. Says what the default recovery and an explicit repair would do with any damage.
    Inspect {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Keep the longest good prefix of the log and move everything after the first damage aside
    /// (into `*.dropped` files); report the records and bytes dropped.
    Repair {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let data = global.data();
    let dir = data.join("wal");
    if !dir.is_dir() {
        bail!("no commit log in {} (is --data right?)", dir.display());
    }
    match args.command {
        WalCommand::Inspect { json } => inspect(&dir, json),
        WalCommand::Repair { json } => {
            // The same lock the database takes: never repair under a running process.
            let _lock = RealFs
                .lock(&data.join("LOCK"), &format!("pid {} (wal repair)", std::process::id()))
                .map_err(|e| {
                    let owner = chainstore_engine::vfs::lock_owner(&RealFs, &data.join("LOCK"))
                        .unwrap_or_default();
                    anyhow::anyhow!("{} is in use ({owner}): {e}; stop it first", data.display())
                })?;
            let opts =
                WalOptions { recovery: RecoveryMode::RepairToLastGood, ..WalOptions::default() };
            let (_wal, report) =
                Wal::open(Arc::new(RealFs), &dir, opts, 0, &mut |_| {}).context("repair failed")?;
            print_report("repaired", &report, json)
        }
    }
}

fn inspect(dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    match wal::inspect(&RealFs, dir, RecoveryMode::Strict, &mut |_| {}) {
        Ok(report) => print_report("clean", &report, json),
        Err(damage) => {
            let tolerate = wal::inspect(&RealFs, dir, RecoveryMode::TolerateTornTail, &mut |_| {});
            let repair = wal::inspect(&RealFs, dir, RecoveryMode::RepairToLastGood, &mut |_| {});
            if json {
                print_json(&json!({
                    "clean": false,
                    "damage": damage.to_string(),
                    "defaultRecovery": match &tolerate { Ok(r) => describe(r), Err(e) => json!({ "error": e.to_string() }) },
                    "repair": match &repair { Ok(r) => describe(r), Err(e) => json!({ "error": e.to_string() }) },
                }))?;
            } else {
                outln!("damage: {damage}");
                match tolerate {
                    Ok(r) => outln!("default recovery (torn tail): opens, {}", summary(&r)),
                    Err(_) => {
                        outln!("default recovery: refuses to open (the damage is not a torn tail)")
                    }
                }
                if let Ok(r) = repair {
                    outln!("`chainstore wal repair` would keep {}", summary(&r));
                }
            }
            bail!("the commit log is damaged")
        }
    }
}

fn summary(r: &RecoveryReport) -> String {
    let range = r.seq_range.map_or("no records".to_string(), |(a, b)| format!("records {a}..={b}"));
    let dropped = r.dropped.as_ref().map_or(String::new(), |d| {
        format!(
            "; drops {} bytes ({} good-looking records) from {} at offset {}: {}",
            d.bytes,
            d.records,
            d.segment.display(),
            d.offset,
            d.detail
        )
    });
    format!("{} segments, {range}, {} bytes{dropped}", r.segments, r.record_bytes)
}

fn describe(r: &RecoveryReport) -> serde_json::Value {
    json!({
        "segments": r.segments,
        "records": r.records,
        "recordBytes": r.record_bytes,
        "firstSeq": r.seq_range.map(|s| s.0),
        "lastSeq": r.seq_range.map(|s| s.1),
        "dropped": r.dropped.as_ref().map(|d| json!({
            "segment": d.segment.display().to_string(),
            "offset": d.offset,
            "bytes": d.bytes,
            "records": d.records,
            "detail": d.detail,
            "savedTo": d.saved_to.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        })),
    })
}

fn print_report(state: &str, r: &RecoveryReport, json: bool) -> anyhow::Result<()> {
    if json {
        let mut v = describe(r);
        v["state"] = json!(state);
        print_json(&v)
    } else {
        outln!("{state}: {}", summary(r));
        Ok(())
    }
}
