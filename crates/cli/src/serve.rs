//! `chainstore serve [--rpc ADDR] [--metrics ADDR] [--ingest FILE|-] [--backup-dir DEST]`:
//! Ethereum JSON-RPC reads over HTTP (the `chainstore-rpc` crate; methods, limits and errors in
//! `docs/rpc.md`) and Prometheus metrics (`docs/metrics.md`), optionally committing blocks from
//! JSON lines while serving, as `ingest` does (each block is visible to every call once its
//! acknowledgement line is printed), and backing the store up as it goes.

use std::fs::File;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chainstore_chain::ChainStore;
use chainstore_rpc::{Limits, RpcConfig, RpcServer};
use indicatif::ProgressBar;

use crate::Global;

/// Options of `chainstore serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address of the JSON-RPC server (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8545")]
    rpc: SocketAddr,
    /// Allow a non-loopback --rpc address.
    #[arg(long)]
    rpc_allow_remote: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (docs/metrics.md).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Allow a non-loopback --metrics address.
    #[arg(long)]
    metrics_allow_remote: bool,
    /// What eth_chainId and net_version answer.
    #[arg(long, value_name = "N", default_value_t = 1)]
    chain_id: u64,
    /// Commit blocks from JSON lines (the `ingest` format; a file or `-` for stdin) while serving.
    #[arg(long, value_name = "FILE|-")]
    ingest: Option<PathBuf>,
    /// Most blocks one eth_getLogs may cover.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    #[arg(default_value_t = Limits::default().max_logs_range)]
    rpc_max_logs_range: u64,
    /// Most logs one eth_getLogs may return.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    #[arg(default_value_t = Limits::default().max_logs_results as u64)]
    rpc_max_logs_results: u64,
    /// Most transactions per page of ots_searchTransactionsBefore/After.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    #[arg(default_value_t = Limits::default().max_page_size as u64)]
    rpc_max_page_size: u64,
    /// Most calls in one batch request.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    #[arg(default_value_t = Limits::default().max_batch)]
    rpc_max_batch: u32,
    /// Largest request body, in bytes.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    #[arg(default_value_t = Limits::default().max_body_bytes)]
    rpc_max_body_bytes: u32,
    /// Most HTTP requests in progress at once (a batch is one); one more is answered HTTP 429.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    #[arg(default_value_t = Limits::default().max_connections)]
    rpc_max_connections: u32,
    /// Most calls running at once; the others wait within their timeout.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    #[arg(default_value_t = Limits::default().max_concurrent as u64)]
    rpc_max_concurrent: u64,
    /// Longest a call may take (waiting for its turn included), in milliseconds.
    #[arg(long, value_name = "MS", value_parser = at_least_one())]
    #[arg(default_value_t = Limits::default().timeout.as_millis() as u64)]
    rpc_timeout_ms: u64,
    #[command(flatten)]
    backup: crate::backup::ServeArgs,
}

/// Limits are at least 1.
fn at_least_one() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

impl Args {
    fn config(&self) -> RpcConfig {
        RpcConfig {
            addr: self.rpc,
            allow_remote: self.rpc_allow_remote,
            chain_id: self.chain_id,
            limits: Limits {
                max_logs_range: self.rpc_max_logs_range,
                max_logs_results: usize::try_from(self.rpc_max_logs_results).unwrap_or(usize::MAX),
                max_page_size: usize::try_from(self.rpc_max_page_size).unwrap_or(usize::MAX),
                max_batch: self.rpc_max_batch,
                max_body_bytes: self.rpc_max_body_bytes,
                max_connections: self.rpc_max_connections,
                max_concurrent: usize::try_from(self.rpc_max_concurrent).unwrap_or(usize::MAX),
                timeout: Duration::from_millis(self.rpc_timeout_ms),
            },
        }
    }
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let config = args.config();
    config.check()?;
    let backups = args.backup.schedule()?;
    // Open the input first: a missing file must not create an empty store.
    let input: Option<Box<dyn Read + Send>> = match &args.ingest {
        None => None,
        Some(path) if path.as_os_str() == "-" => Some(Box::new(std::io::stdin())),
        Some(path) => Some(Box::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
    };
    if let Some(addr) = args.metrics {
        crate::metrics::serve(addr, args.metrics_allow_remote)?;
        eprintln!("chainstore: serving metrics on http://{addr}/metrics");
    }
    let store = Arc::new(match input {
        Some(_) => global.open()?,
        None => global.open_query()?,
    });
    if args.metrics.is_some() {
        crate::metrics::sample(&store)?;
    }
    let server = RpcServer::start(store.clone(), config)?;
    eprintln!("chainstore: serving JSON-RPC on http://{}", server.local_addr());
    if let Some(backups) = backups {
        backups.start(&store)?;
    }
    if let Some(input) = input {
        let store = store.clone();
        std::thread::Builder::new()
            .name("chainstore-ingest".into())
            .spawn(move || ingest(&store, input))
            .context("starting the ingest thread")?;
    }
    server.run_until_signal().context("waiting for a signal")?;
    // The ingest thread may still hold the store (blocked on its input): then the process
    // exits without closing it, which loses nothing (every acknowledged block is durable).
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().context("closing the store")?;
    }
    Ok(())
}

/// Commits the input's blocks; the first bad line stops ingesting (not serving).
fn ingest(store: &ChainStore, input: Box<dyn Read + Send>) {
    match crate::ingest::ingest(store, BufReader::new(input), &ProgressBar::hidden()) {
        Ok(()) => eprintln!("chainstore: ingest: end of input; still serving"),
        Err(e) => eprintln!(
            "error: ingest stopped: {}; still serving the committed blocks",
            crate::render(&e)
        ),
    }
}
