//! `chainstore backup create DEST`, `backup list DEST`, `backup verify DEST [--deep]`, `backup
//! rekey DEST` and
//! `chainstore restore SRC DIR [--block N]`: incremental, content-addressed, optionally
//! encrypted backups of every engine table as of one commit (`docs/backup.md`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chainstore_chain::{
    BackupKey, BackupManifest, BackupProgress, ChainStore, list_backups, prune_backups,
    rekey_backups, restore_backup, verify_backups,
};
use chainstore_engine::db::Options;
use chainstore_json::output::{head_json, quantity};
use serde_json::{Value, json};

use crate::Global;
use crate::json_out::print;

/// Options of `chainstore backup`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The key option every subcommand takes.
#[derive(Debug, clap::Args)]
struct KeyArg {
    /// The backup's encryption key: a file of 32 raw bytes or 64 hex digits. A directory is
    /// encrypted from its first backup on, or never.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

impl KeyArg {
    fn load(&self) -> anyhow::Result<Option<BackupKey>> {
        Ok(self.key_file.as_deref().map(BackupKey::from_file).transpose()?)
    }
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Back up the store (`--data DIR`) as of its current head into DEST, writing only the
    /// chunks DEST does not hold yet.
    Create {
        /// The backup directory (made if missing or empty).
        dest: PathBuf,
        /// Afterwards keep only the K newest backups and remove the chunks no other references.
        #[arg(long, value_name = "K")]
        keep: Option<usize>,
        #[command(flatten)]
        key: KeyArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// List the backups in DEST, oldest first.
    List {
        /// The backup directory.
        dest: PathBuf,
        #[command(flatten)]
        key: KeyArg,
        /// Print one JSON document (an array).
        #[arg(long)]
        json: bool,
    },
    /// Read every backup's manifest and every chunk, checking hashes (and authentication
    /// tags); name each damaged chunk and the backups that reference it.
    Verify {
        /// The backup directory.
        dest: PathBuf,
        /// Also restore a backup (the newest, or `--id`) into a temporary directory and run
        /// the full store check (`chainstore verify`) on it.
        #[arg(long)]
        deep: bool,
        /// The backup `--deep` restores.
        #[arg(long, value_name = "ID", requires = "deep")]
        id: Option<String>,
        #[command(flatten)]
        key: KeyArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every chunk and manifest of an encrypted DEST with a new key, then remove the
    /// old objects (crash-safe: `docs/backup.md`).
    Rekey {
        /// The backup directory.
        dest: PathBuf,
        /// The current key (32 raw bytes or 64 hex digits).
        #[arg(long, value_name = "PATH")]
        key_file: PathBuf,
        /// The new key (32 raw bytes or 64 hex digits).
        #[arg(long, value_name = "PATH")]
        new_key_file: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `chainstore restore`.
#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory.
    src: PathBuf,
    /// The new store's directory: it must not exist, or be empty.
    dir: PathBuf,
    /// Unwind the restored store to block N (within the backup's retained history).
    #[arg(long, value_name = "N")]
    block: Option<u64>,
    /// The backup to restore (default: the newest).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    #[command(flatten)]
    key: KeyArg,
    /// Print one JSON document (the restored head).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Create { dest, keep, key, json } => create(global, &dest, keep, &key, json),
        Command::List { dest, key, json } => {
            let list = list_backups(&dest, key.load()?.as_ref())?;
            print(&Value::Array(list.iter().map(summary_json).collect()), json)
        }
        Command::Verify { dest, deep, id, key, json } => {
            verify(global, &dest, deep, id.as_deref(), &key, json)
        }
        Command::Rekey { dest, key_file, new_key_file, json } => {
            let old = BackupKey::from_file(&key_file)?;
            let new = BackupKey::from_file(&new_key_file)?;
            let bar = spinner("re-encrypting");
            let done = rekey_backups(&dest, &old, &new, &mut |p| tick(&bar, p, "written"))?;
            bar.finish_and_clear();
            let out = json!({
                "keyId": new.id(),
                "backups": quantity(done.backups),
                "chunks": quantity(done.chunks),
                "bytes": quantity(done.bytes),
            });
            print(&out, json)
        }
    }
}

fn create(
    global: &Global,
    dest: &Path,
    keep: Option<usize>,
    key: &KeyArg,
    json: bool,
) -> anyhow::Result<()> {
    let key = key.load()?;
    check_keep(keep, "--keep")?;
    let store = global.open_query()?;
    let bar = spinner("backing up");
    let out = take(&store, dest, key.as_ref(), keep, &mut |p| tick(&bar, p, "written"))?;
    bar.finish_and_clear();
    print(&out, json)
}

fn check_keep(keep: Option<usize>, option: &str) -> anyhow::Result<()> {
    if keep == Some(0) {
        anyhow::bail!("{option} must be at least 1");
    }
    Ok(())
}

/// One backup of `store` into `dest`, then the retention: the summary `backup create` prints.
fn take(
    store: &ChainStore,
    dest: &Path,
    key: Option<&BackupKey>,
    keep: Option<usize>,
    progress: &mut dyn FnMut(&BackupProgress),
) -> anyhow::Result<Value> {
    let manifest = store.backup(dest, key, progress)?;
    let mut out = summary_json(&manifest);
    if let Some(k) = keep {
        let pruned = prune_backups(dest, key, k)?;
        out["retention"] = json!({
            "removed": pruned.removed,
            "kept": pruned.kept,
            "chunksRemoved": quantity(pruned.chunks_removed),
            "bytesFreed": quantity(pruned.bytes_freed),
        });
    }
    Ok(out)
}

/// `serve`'s backup options: online backups of the store it serves, taken by the server itself
/// (a second process cannot open a store a server holds).
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Back the store up into DEST while serving: at start, then every --backup-every seconds.
    /// Commits go on during a backup; each holds the store as of one commit.
    #[arg(long, value_name = "DEST")]
    backup_dir: Option<PathBuf>,
    /// Seconds between the starts of two backups.
    #[arg(long, value_name = "SECS", default_value_t = 3600, requires = "backup_dir")]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    backup_every: u64,
    /// After each backup keep only the K newest in DEST.
    #[arg(long, value_name = "K", requires = "backup_dir")]
    backup_keep: Option<usize>,
    /// Encrypt the backups with this key (32 raw bytes or 64 hex digits).
    #[arg(long, value_name = "PATH", requires = "backup_dir")]
    backup_key_file: Option<PathBuf>,
}

/// What `serve` backs up, checked before it opens the store.
pub(crate) struct Scheduled {
    dest: PathBuf,
    every: Duration,
    keep: Option<usize>,
    key: Option<BackupKey>,
}

impl ServeArgs {
    /// The schedule, if backups were asked for: a bad key file or `--backup-keep 0` fails here.
    pub(crate) fn schedule(&self) -> anyhow::Result<Option<Scheduled>> {
        let Some(dest) = &self.backup_dir else { return Ok(None) };
        check_keep(self.backup_keep, "--backup-keep")?;
        let key = self.backup_key_file.as_deref().map(BackupKey::from_file).transpose()?;
        let every = Duration::from_secs(self.backup_every);
        Ok(Some(Scheduled { dest: dest.clone(), every, keep: self.backup_keep, key }))
    }
}

impl Scheduled {
    /// Takes the backups on a thread of their own until the store is gone; each one's summary
    /// (the `backup create --json` document) is a line on stderr, and a failed one (an empty
    /// store, a full disk) is reported and tried again at the next turn.
    pub(crate) fn start(self, store: &Arc<ChainStore>) -> anyhow::Result<()> {
        crate::common::every_while_open(store, "chainstore-backup", self.every, move |store| {
            let dest = &self.dest;
            match take(store, dest, self.key.as_ref(), self.keep, &mut |_| {}) {
                Ok(summary) => eprintln!("chainstore: backup: {summary}"),
                Err(e) => eprintln!(
                    "error: backup into {} failed: {}; trying again in {} s",
                    dest.display(),
                    crate::render(&e),
                    self.every.as_secs()
                ),
            }
        })
    }
}

fn verify(
    global: &Global,
    dest: &Path,
    deep: bool,
    id: Option<&str>,
    key: &KeyArg,
    json: bool,
) -> anyhow::Result<()> {
    let key = key.load()?;
    let bar = spinner("checking");
    let check = verify_backups(dest, key.as_ref(), &mut |p| tick(&bar, p, "read"))?;
    bar.finish_and_clear();
    let mut out = json!({
        "ok": true,
        "backups": quantity(check.backups),
        "chunks": quantity(check.chunks),
        "bytes": quantity(check.bytes),
    });
    if deep {
        let tmp = tempfile::tempdir().context("cannot make a temporary directory")?;
        let dir = tmp.path().join("restored");
        let bar = spinner("restoring");
        let head =
            restore_backup(dest, key.as_ref(), id, &dir, None, options(global)?, &mut |p| {
                tick(&bar, p, "read")
            })?;
        bar.finish_and_clear();
        let store = ChainStore::open(&dir, options(global)?)?;
        let verbose = std::io::stderr().is_terminal();
        let report = store.verify(&mut |phase| {
            if verbose {
                eprintln!("verify: checking {phase}");
            }
        })?;
        store.close()?;
        if !report.is_ok() {
            let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "the restored backup has {} inconsistencies: {}",
                problems.len(),
                problems.join("; ")
            );
        }
        out["deep"] = json!({
            "head": head_json(head.number, head.hash, head.state_root),
            "rows": quantity(report.rows.values().sum::<u64>()),
        });
    }
    print(&out, json)
}

pub(crate) fn restore(global: &Global, args: RestoreArgs) -> anyhow::Result<()> {
    let key = args.key.load()?;
    let bar = spinner("restoring");
    let head = restore_backup(
        &args.src,
        key.as_ref(),
        args.id.as_deref(),
        &args.dir,
        args.block,
        options(global)?,
        &mut |p| tick(&bar, p, "read"),
    )?;
    bar.finish_and_clear();
    print(&head_json(head.number, head.hash, head.state_root), args.json)
}

fn options(global: &Global) -> anyhow::Result<Options> {
    Ok(Options { backend: global.backend_choice()?, ..Options::default() })
}

/// A spinner on stderr when it is a terminal; hidden otherwise.
fn spinner(what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_prefix(what);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}

fn tick(bar: &indicatif::ProgressBar, p: &BackupProgress, verb: &str) {
    bar.set_message(format!(
        "{} rows, {} chunks, {} KiB raw, {} KiB {verb}",
        p.rows,
        p.chunks,
        p.raw_bytes >> 10,
        p.file_bytes >> 10
    ));
}

/// A backup without its table and chunk lists: id, time, head and totals.
fn summary_json(m: &BackupManifest) -> Value {
    let t = &m.totals;
    json!({
        "id": m.id,
        "created": m.created,
        "head": head_json(m.head.number, m.head.hash, m.head.state_root),
        "tables": quantity(t.tables),
        "rows": quantity(t.rows),
        "chunks": quantity(t.chunks),
        "rawBytes": quantity(t.raw_bytes),
        "referencedBytes": quantity(t.referenced_bytes),
        "newChunks": quantity(t.new_chunks),
        "writtenBytes": quantity(t.written_bytes),
    })
}
