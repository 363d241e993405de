//! What every subcommand shares: global options, opening the store, printing results.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chainstore_chain::ChainStore;
use chainstore_engine::db::{BackendChoice, Options};

use crate::json_out::outln;

/// Options that come before the subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct Global {
    /// The data directory (default `./chainstore-data`; for `demo`, `./chainstore-demo`).
    #[arg(long = "data", global = true, value_name = "DIR")]
    pub(crate) data_arg: Option<PathBuf>,
    /// The storage backend (`rocksdb` needs a build with the `rocksdb` feature).
    #[arg(long, global = true, value_name = "redb|rocksdb", default_value = "redb")]
    pub(crate) backend: String,
}

impl Global {
    /// The data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.data_arg.clone().unwrap_or_else(|| PathBuf::from("./chainstore-data"))
    }

    /// Opens the store in the data directory (creating it if needed).
    pub(crate) fn open(&self) -> anyhow::Result<ChainStore> {
        self.open_at(&self.data())
    }

    /// Opens the store in `dir` with the selected backend.
    pub(crate) fn open_at(&self, dir: &std::path::Path) -> anyhow::Result<ChainStore> {
        let opts = Options { backend: self.backend_choice()?, ..Options::default() };
        ChainStore::open(dir, opts)
            .with_context(|| format!("cannot open the store in {}", dir.display()))
    }

    /// The engine's backend for `--backend`.
    pub(crate) fn backend_choice(&self) -> anyhow::Result<BackendChoice> {
        Ok(self.backend.parse()?)
    }

    /// Opens an existing store, refusing to create one (for commands that change it).
    pub(crate) fn open_existing(&self) -> anyhow::Result<ChainStore> {
        self.check_exists()?;
        self.open()
    }

    /// Opens an existing store for a query: read-only, so that it reads only the commit log
    /// records its indexer has not caught up with and changes nothing.
    pub(crate) fn open_query(&self) -> anyhow::Result<ChainStore> {
        self.check_exists()?;
        let dir = self.data();
        let opts = Options { backend: self.backend_choice()?, ..Options::default() };
        ChainStore::open_read_only(&dir, opts)
            .with_context(|| format!("cannot open the store in {}", dir.display()))
    }

    fn check_exists(&self) -> anyhow::Result<()> {
        if !self.data().join("FORMAT").exists() {
            bail!(
                "no chainstore data in {} (use --data DIR, or create one with genesis, ingest or demo)",
                self.data().display()
            );
        }
        Ok(())
    }
}

/// Prints one JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Runs `work` on a thread named `name` while `store` lives: at once, then every `period` from
/// the start of one run to the start of the next. The thread holds the store only while `work`
/// runs, so `serve` can close it at shutdown.
pub(crate) fn every_while_open(
    store: &Arc<ChainStore>,
    name: &str,
    period: Duration,
    mut work: impl FnMut(&ChainStore) + Send + 'static,
) -> anyhow::Result<()> {
    let store = Arc::downgrade(store);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Some(store) = store.upgrade() {
                let started = Instant::now();
                work(&store);
                drop(store);
                std::thread::sleep(period.saturating_sub(started.elapsed()));
            }
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(())
}
