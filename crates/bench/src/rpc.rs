//! `chainstore bench rpc`: requests/s and latency p50/p99 of `eth_getBalance`, `eth_getProof`,
//! `eth_getLogs` and `eth_getBlockByNumber` through `chainstore serve`'s server
//! (`chainstore_rpc::RpcServer`) with concurrent clients on keep-alive HTTP connections, idle and
//! while a thread commits blocks, against the same queries through the library API
//! (`ChainStore::account`, `proof`, `logs`, `block`) on as many threads.
//!
//! The chain is the synthetic one (`SynthChain`), committed through `commit_block` first
//! (untimed). Every query picks its key at random: an account of the state, a block of the
//! chain, a token contract. Each client runs for a fixed time; rates count the calls that
//! completed in it. Clients and server share the machine's cores, as they would on one host.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chainstore_chain::synth::{SplitMix64, SynthChain, SynthConfig};
use chainstore_chain::{ChainStore, LogFilter};
use chainstore_rpc::{RpcConfig, RpcServer};

use crate::commit_latency::Result;
use crate::report::{Goal, Percentiles, Report, Row, micros, ratio};
use crate::{BenchError, system};

/// Sizes of one `rpc` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcBenchConfig {
    /// Accounts in the state.
    pub accounts: u64,
    /// Blocks committed before measuring.
    pub blocks: u64,
    /// Transactions (and logs) per block.
    pub txs_per_block: u64,
    /// Concurrent clients (HTTP connections, or library threads).
    pub clients: usize,
    /// How long each case runs.
    pub duration: Duration,
}

impl RpcBenchConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self {
            accounts: 2_000,
            blocks: 20,
            txs_per_block: 20,
            clients: 4,
            duration: Duration::from_millis(300),
        }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self {
            accounts: 100_000,
            blocks: 200,
            txs_per_block: 100,
            clients: 8,
            duration: Duration::from_secs(3),
        }
    }
}

const TOKENS: u64 = 20;
const RPC: &str = "chainstore rpc";
const LIB: &str = "library";

/// The measured queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Balance,
    Proof,
    Logs,
    Block,
}

impl Query {
    const ALL: [Self; 4] = [Self::Balance, Self::Proof, Self::Logs, Self::Block];

    fn method(self) -> &'static str {
        match self {
            Self::Balance => "eth_getBalance",
            Self::Proof => "eth_getProof",
            Self::Logs => "eth_getLogs",
            Self::Block => "eth_getBlockByNumber",
        }
    }

    /// The JSON-RPC request for one random key.
    fn request(self, rng: &mut SplitMix64, accounts: u64, head: u64) -> String {
        let params = match self {
            Self::Balance => {
                format!(r#"["{}","latest"]"#, SynthChain::account(rng.below(accounts)))
            }
            Self::Proof => {
                format!(r#"["{}",[],"latest"]"#, SynthChain::account(rng.below(accounts)))
            }
            Self::Logs => {
                let n = 1 + rng.below(head);
                let token = SynthChain::token(rng.below(TOKENS));
                format!(r#"[{{"fromBlock":"{n:#x}","toBlock":"{n:#x}","address":"{token}"}}]"#)
            }
            Self::Block => format!(r#"["{:#x}",false]"#, rng.below(head + 1)),
        };
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}","params":{params}}}"#, self.method())
    }

    /// The same query through the library.
    fn library(
        self,
        store: &ChainStore,
        rng: &mut SplitMix64,
        accounts: u64,
        head: u64,
    ) -> Result<()> {
        match self {
            Self::Balance => {
                std::hint::black_box(store.account(SynthChain::account(rng.below(accounts)))?);
            }
            Self::Proof => {
                std::hint::black_box(store.proof(SynthChain::account(rng.below(accounts)), &[])?);
            }
            Self::Logs => {
                let n = 1 + rng.below(head);
                let filter = LogFilter {
                    from_block: Some(n),
                    to_block: Some(n),
                    addresses: vec![SynthChain::token(rng.below(TOKENS))],
                    ..Default::default()
                };
                std::hint::black_box(store.logs(&filter)?);
            }
            Self::Block => {
                std::hint::black_box(store.block(rng.below(head + 1))?);
            }
        }
        Ok(())
    }
}

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &RpcBenchConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let store = Arc::new(ChainStore::open(dir.join("store"), Default::default())?);
    let synth = SynthConfig {
        accounts: config.accounts,
        tokens: TOKENS,
        txs_per_block: config.txs_per_block,
        seed: 1,
    };
    let mut chain = SynthChain::new(synth);
    progress(&format!(
        "rpc: committing {} blocks over {} accounts",
        config.blocks, config.accounts
    ));
    for _ in 0..=config.blocks {
        store.commit_block(&chain.next_block())?;
    }
    let rpc_config =
        RpcConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() };
    let server = RpcServer::start(store.clone(), rpc_config)
        .map_err(|e| BenchError::Check(format!("starting the server: {e}")))?;
    let addr = server.local_addr();
    let mut rows = Vec::new();
    let mut goals = Vec::new();
    for ingesting in [false, true] {
        let phase = if ingesting { "while ingesting" } else { "idle" };
        let ingest = ingesting.then(|| Ingest::start(store.clone(), chain.clone()));
        for query in Query::ALL {
            progress(&format!("rpc: {} {phase}", query.method()));
            let case = format!("{} {phase}", query.method());
            let (accounts, head) = (config.accounts, config.blocks);
            let rpc = clients(
                config,
                |_| {
                    Conn::connect(addr)
                        .map_err(|e| BenchError::Check(format!("connect: {e}")).into())
                },
                |conn, rng| conn.call(&query.request(rng, accounts, head)),
            )?;
            let lib =
                clients(config, |_| Ok(()), |(), rng| query.library(&store, rng, accounts, head))?;
            for (system, m) in [(RPC, &rpc), (LIB, &lib)] {
                rows.push(Row::new(system, &case, "requests/s", m.rate, "1/s"));
                rows.push(Row::new(system, &case, "p50", micros(m.latency.p50), "us"));
                rows.push(Row::new(system, &case, "p99", micros(m.latency.p99), "us"));
            }
            goals.extend(query_goals(query, ingesting, &rpc, &lib));
        }
        if let Some(ingest) = ingest {
            let (blocks, elapsed) = ingest.stop()?;
            let rate = blocks as f64 / elapsed.as_secs_f64();
            rows.push(Row::new("ingest thread", phase, "blocks/s", rate, "1/s"));
        }
    }
    server.stop();
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close()?;
    }
    Ok(Report { scenario: "rpc".into(), hardware, rows, goals })
}

/// The issue's goals for one query.
fn query_goals(query: Query, ingesting: bool, rpc: &Measured, lib: &Measured) -> Vec<Goal> {
    let mut goals = Vec::new();
    match (query, ingesting) {
        (Query::Balance, true) => {
            goals.push(Goal::at_least(
                "eth_getBalance while ingesting: requests/s (thousands)".into(),
                rpc.rate / 1e3,
                20.0,
            ));
            goals.push(Goal::at_most(
                "eth_getBalance while ingesting: p99 (ms)".into(),
                micros(rpc.latency.p99) / 1e3,
                5.0,
            ));
        }
        (Query::Proof, false) => {
            goals.push(Goal::at_least(
                "eth_getProof: requests/s (thousands)".into(),
                rpc.rate / 1e3,
                5.0,
            ));
            goals.push(Goal::at_most(
                "eth_getProof: library calls/s ÷ RPC requests/s".into(),
                ratio(lib.rate, rpc.rate),
                2.0,
            ));
        }
        _ => {}
    }
    goals
}

/// Rate and latency of one case.
#[derive(Debug, Clone, Copy)]
struct Measured {
    rate: f64,
    latency: Percentiles,
}

fn summarize(mut samples: Vec<Duration>, elapsed: Duration) -> Result<Measured> {
    if samples.is_empty() {
        return Err(BenchError::Check("no call completed in the measured time".into()).into());
    }
    let rate = samples.len() as f64 / elapsed.as_secs_f64();
    Ok(Measured { rate, latency: Percentiles::of(&mut samples) })
}

/// `config.clients` threads, each with its own state (`setup`) and key generator, calling
/// `call` until the case's time is up.
fn clients<S>(
    config: &RpcBenchConfig,
    setup: impl Fn(usize) -> Result<S> + Sync,
    call: impl Fn(&mut S, &mut SplitMix64) -> Result<()> + Sync,
) -> Result<Measured> {
    let started = Instant::now();
    let end = started + config.duration;
    let per_client = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..config.clients)
            .map(|c| {
                let (setup, call) = (&setup, &call);
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let mut state = setup(c)?;
                    let mut rng = SplitMix64(c as u64 + 1);
                    let mut samples = Vec::new();
                    while Instant::now() < end {
                        let t = Instant::now();
                        call(&mut state, &mut rng)?;
                        samples.push(t.elapsed());
                    }
                    Ok(samples)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Check("a client panicked".into()).into()))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    summarize(per_client.concat(), started.elapsed())
}

/// One keep-alive HTTP/1.1 connection to the server.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn connect(addr: SocketAddr) -> io::Result<Self> {
        let writer = TcpStream::connect(addr)?;
        writer.set_nodelay(true)?;
        Ok(Self { reader: BufReader::new(writer.try_clone()?), writer })
    }

    /// Sends one call; fails unless the answer is a result.
    fn call(&mut self, body: &str) -> Result<()> {
        let response = self.exchange(body).map_err(|e| BenchError::Check(format!("http: {e}")))?;
        if !response.contains("\"result\"") {
            return Err(BenchError::Check(format!("{body}: {response}")).into());
        }
        Ok(())
    }

    fn exchange(&mut self, body: &str) -> io::Result<String> {
        write!(
            self.writer,
            "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut length = None;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or_else(|| io::Error::other("response without Content-Length"))?;
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(io::Error::other)
    }
}

/// A thread committing the synthetic chain's next blocks until stopped.
struct Ingest {
    stop: Arc<AtomicBool>,
    blocks: Arc<AtomicU64>,
    started: Instant,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl Ingest {
    fn start(store: Arc<ChainStore>, mut chain: SynthChain) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let blocks = Arc::new(AtomicU64::new(0));
        let (stop2, blocks2) = (stop.clone(), blocks.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                store.commit_block(&chain.next_block())?;
                blocks2.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        Self { stop, blocks, started: Instant::now(), thread }
    }

    /// Stops the thread; the blocks it committed and the time it ran.
    fn stop(self) -> Result<(u64, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        self.thread.join().unwrap_or_else(|_| {
            Err(BenchError::Check("the ingest thread panicked".into()).into())
        })?;
        Ok((self.blocks.load(Ordering::Relaxed), elapsed))
    }
}
