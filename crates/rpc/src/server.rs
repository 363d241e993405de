//! The HTTP server: the method table, the limits, and a runtime of its own so that callers
//! need not be async.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chainstore_chain::ChainStore;
use jsonrpsee::RpcModule;
use jsonrpsee::server::{BatchRequestConfig, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{INTERNAL_ERROR, Result, RpcError};
use crate::eth::{self, Node};
use crate::ots;
use crate::params::Args;

/// Limits for public-facing use; each has a default a small node can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most blocks one `eth_getLogs` may cover.
    pub max_logs_range: u64,
    /// Most logs one `eth_getLogs` may return.
    pub max_logs_results: usize,
    /// Most transactions per Otterscan search page (`pageSize`).
    pub max_page_size: usize,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Largest request body, in bytes.
    pub max_body_bytes: u32,
    /// Most HTTP requests in progress at once (jsonrpsee holds a connection slot while a request
    /// is in progress; a batch is one request); one more is answered HTTP 429.
    pub max_connections: u32,
    /// Most calls running at once (the others wait, within their timeout).
    pub max_concurrent: usize,
    /// Longest a call may take, waiting for its turn included.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_logs_range: 10_000,
            max_logs_results: 10_000,
            max_page_size: 1_000,
            max_batch: 100,
            max_body_bytes: 5 * 1024 * 1024,
            max_connections: 100,
            max_concurrent: 64,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the server answers with and where it listens.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Allow a non-loopback address (otherwise refused).
    pub allow_remote: bool,
    /// `eth_chainId` and `net_version`.
    pub chain_id: u64,
    /// Limits.
    pub limits: Limits,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            allow_remote: false,
            chain_id: 1,
            limits: Limits::default(),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A non-loopback address without `allow_remote`.
    #[error(
        "{0} is not a loopback address: serving the store to the network must be asked for \
         explicitly (--rpc-allow-remote)"
    )]
    Remote(SocketAddr),
    /// A limit of zero.
    #[error("limit {0} must be at least 1")]
    ZeroLimit(&'static str),
    /// The runtime or the listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct RpcServer {
    handle: ServerHandle,
    local_addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl RpcServer {
    /// Starts serving `store` over HTTP on `config.addr` (port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr)).
    pub fn start(store: Arc<ChainStore>, config: RpcConfig) -> Result<Self, StartError> {
        config.check()?;
        let io = |source| StartError::Io { addr: config.addr, source };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("chainstore-rpc")
            .build()
            .map_err(io)?;
        let limits = config.limits;
        let server_config = ServerConfig::builder()
            .http_only()
            .max_request_body_size(limits.max_body_bytes)
            .max_connections(limits.max_connections)
            .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch))
            .build();
        let node = Node { store, chain_id: config.chain_id, limits };
        let module = methods(node);
        let server = runtime
            .block_on(
                jsonrpsee::server::Server::builder().set_config(server_config).build(config.addr),
            )
            .map_err(io)?;
        let local_addr = server.local_addr().map_err(io)?;
        let handle = runtime.block_on(async { server.start(module) });
        tracing::info!(target: "chainstore::rpc", "serving JSON-RPC on http://{local_addr}");
        Ok(Self { handle, local_addr, runtime })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks until SIGINT or SIGTERM (or the server stops), then stops the server.
    pub fn run_until_signal(self) -> std::io::Result<()> {
        let handle = self.handle.clone();
        self.runtime.block_on(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
                () = handle.clone().stopped() => return Ok(()),
            }
            let _ = handle.stop();
            handle.stopped().await;
            Ok(())
        })
    }

    /// Stops the server and waits until it has stopped.
    pub fn stop(self) {
        let _ = self.handle.stop();
        self.runtime.block_on(self.handle.stopped());
    }
}

impl RpcConfig {
    /// What [`RpcServer::start`] refuses, checked without starting anything: a non-loopback
    /// address without `allow_remote`, a limit of zero.
    pub fn check(&self) -> Result<(), StartError> {
        if !self.addr.ip().is_loopback() && !self.allow_remote {
            return Err(StartError::Remote(self.addr));
        }
        check_limits(&self.limits)
    }
}

fn check_limits(l: &Limits) -> Result<(), StartError> {
    for (name, value) in [
        ("max_logs_range", l.max_logs_range),
        ("max_logs_results", l.max_logs_results as u64),
        ("max_page_size", l.max_page_size as u64),
        ("max_batch", u64::from(l.max_batch)),
        ("max_body_bytes", u64::from(l.max_body_bytes)),
        ("max_connections", u64::from(l.max_connections)),
        ("max_concurrent", l.max_concurrent as u64),
        ("timeout", l.timeout.as_millis() as u64),
    ] {
        if value == 0 {
            return Err(StartError::ZeroLimit(name));
        }
    }
    Ok(())
}

/// The shared state of the method calls.
struct Context {
    node: Node,
    permits: Arc<Semaphore>,
}

/// A method on the store: runs on the blocking pool, within the concurrency limit and the
/// timeout.
type Method<T> = fn(&Node, &Args) -> Result<T>;

/// The method table. Any other method answers `-32601` (jsonrpsee's "Method not found").
fn methods(node: Node) -> RpcModule<Context> {
    let permits = Arc::new(Semaphore::new(node.limits.max_concurrent));
    let mut m = RpcModule::new(Context { node, permits });
    add(&mut m, "eth_chainId", eth::chain_id);
    add(&mut m, "net_version", eth::net_version);
    add(&mut m, "web3_clientVersion", eth::client_version);
    add(&mut m, "eth_blockNumber", eth::block_number);
    add(&mut m, "eth_getBlockByNumber", eth::block_by_number);
    add(&mut m, "eth_getBlockByHash", eth::block_by_hash);
    add(&mut m, "eth_getBlockTransactionCountByNumber", eth::tx_count_by_number);
    add(&mut m, "eth_getBlockTransactionCountByHash", eth::tx_count_by_hash);
    add(&mut m, "eth_getTransactionByHash", eth::transaction_by_hash);
    add(&mut m, "eth_getTransactionByBlockNumberAndIndex", eth::transaction_by_number_and_index);
    add(&mut m, "eth_getTransactionByBlockHashAndIndex", eth::transaction_by_hash_and_index);
    add(&mut m, "eth_getTransactionReceipt", eth::receipt);
    add(&mut m, "eth_getBlockReceipts", eth::block_receipts);
    add(&mut m, "eth_getLogs", eth::logs);
    add(&mut m, "eth_getBalance", eth::balance);
    add(&mut m, "eth_getTransactionCount", eth::transaction_count);
    add(&mut m, "eth_getCode", eth::code);
    add(&mut m, "eth_getStorageAt", eth::storage_at);
    add(&mut m, "eth_getProof", eth::proof);
    add(&mut m, "ots_searchTransactionsBefore", ots::before);
    add(&mut m, "ots_searchTransactionsAfter", ots::after);
    m
}

fn add<T>(module: &mut RpcModule<Context>, name: &'static str, method: Method<T>)
where
    T: Serialize + Clone + Send + 'static,
{
    let registered = module.register_async_method(name, move |params, ctx, _| async move {
        let args = Args::parse(params.as_str()).map_err(ErrorObjectOwned::from)?;
        call(ctx, args, method).await
    });
    // Each name is registered once, from the list above.
    debug_assert!(registered.is_ok(), "{name} registered twice");
}

async fn call<T: Send + 'static>(
    ctx: Arc<Context>,
    args: Args,
    method: Method<T>,
) -> Result<T, ErrorObjectOwned> {
    let timeout = ctx.node.limits.timeout;
    let work = async {
        let permit = ctx.permits.clone().acquire_owned().await;
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            method(&ctx.node, &args)
        })
        .await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(result)) => result.map_err(ErrorObjectOwned::from),
        Ok(Err(join)) => Err(ErrorObjectOwned::owned::<()>(
            INTERNAL_ERROR,
            format!("the call failed: {join}"),
            None,
        )),
        Err(_) => Err(RpcError::LimitExceeded(format!(
            "the call took longer than the server's limit of {} ms per request (waiting for a \
             free slot included: at most {} calls run at once)",
            timeout.as_millis(),
            ctx.node.limits.max_concurrent
        ))
        .into()),
    }
}
