//! `chainstore bench commit-latency`: `ChainStore::commit_block` latency as the state grows, split
//! into root computation and durable append, against the same blocks committed synchronously into
//! raw redb and against raw `write` + `fdatasync` of the same bytes.
//!
//! For each state size a fresh store gets its state in one pass ([`ChainStore::import_state`]
//! as block 0: the token contracts with their slots and the accounts; reported as `bulk load`,
//! not measured otherwise), the indexer is flushed, and the store's redb file is copied: the copy is the raw-redb baseline, holding exactly the same rows. Then each measured
//! block ([`Workload::next_block`]: 1,000 touched accounts, 2,000 storage writes, 200 transactions
//! with receipts and logs) is, in turn:
//!
//! 1. committed with `commit_block` (`Durability::Immediate`); its commit-log record is captured
//!    by a [`Vfs`] wrapper ([`CaptureFs`]), so the baselines get the very same writes;
//! 2. committed into the raw redb copy: one write transaction with every put and delete of that
//!    record (`redb::Durability::Immediate`, no log, no reads, no root computation);
//! 3. written as raw bytes (the whole record) at increasing offsets of a preallocated file,
//!    then `fdatasync`.
//!
//! The three alternate block by block so that they see the same disk; the indexer of the store
//! keeps running in the background. Besides wall-clock percentiles, `e2e cpu` is the CPU time
//! of the committing thread during `commit_block` (a shared machine inflates the wall clock).
//!
//! After the store has closed, NOMT (the peer a user would pick instead, in
//! [`crate::nomt_peer`]'s shape) is grown through the same sizes, one key per account, and at each
//! commits the same number of blocks of the same number of updates: `commit p50`/`p99` is one
//! block's session, from its start to the durable commit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use chainstore_chain::synth::{SplitMix64, SynthChain, transfer_topic};
use chainstore_chain::{
    AccountChange, BlockCommit, ChainError, ChainStore, ImportBlock, Log, Receipt, StateEntry,
    Transaction,
};
use chainstore_engine::db::{Options, decode_write_set};
use chainstore_engine::vfs::{
    LockGuard, OpenMode, RealFs, Vfs, VfsFile, write_all_at, write_zeros,
};
use chainstore_engine::wal::format::{
    Position, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SegmentHeader, decode_record,
};
use chainstore_trie::Account;
use cpu_time::ThreadTime;

use crate::nomt_peer::{NOMT, NomtPeer};
use crate::report::{Goal, Percentiles, Report, Row, commit_percentile_rows, micros};
use crate::{BenchError, system};

/// Sizes of one `commit-latency` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitLatencyConfig {
    /// State sizes (externally owned accounts), smallest first.
    pub accounts: Vec<u64>,
    /// Measured blocks at each size.
    pub blocks: usize,
}

impl CommitLatencyConfig {
    /// CI size: a few seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: vec![2_000, 10_000], blocks: 8 }
    }

    /// The documented run: 10K and 1M accounts, 50 blocks each.
    pub fn standard() -> Self {
        Self { accounts: vec![10_000, 1_000_000], blocks: 50 }
    }

    /// [`standard`](Self::standard) plus 10M accounts.
    pub fn large() -> Self {
        Self { accounts: vec![10_000, 1_000_000, 10_000_000], ..Self::standard() }
    }
}

/// An error that stopped a chain benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBenchError {
    /// The chain store failed.
    #[error("chain store: {0}")]
    Chain(#[from] ChainError),
    /// The raw redb baseline failed.
    #[error("raw redb baseline: {0}")]
    Redb(String),
    /// A file operation or the hardware probe failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// The NOMT peer failed.
    #[error("nomt peer, {during}: {source}")]
    Nomt {
        /// What it was doing (`opening`, `finishing`, `committing`).
        during: &'static str,
        /// NOMT's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The commit-log record of a block could not be captured or decoded.
    #[error("capturing the commit-log record of block {block}: {detail}")]
    Capture {
        /// The block.
        block: u64,
        /// What went wrong.
        detail: String,
    },
}

pub(crate) type Result<T> = std::result::Result<T, ChainBenchError>;

const WARMUP: usize = 3;
const CS: &str = "chainstore";
const REDB: &str = "redb sync (no WAL)";
const RAW: &str = "raw write+fdatasync";

/// Latencies of one state size.
struct SizeResult {
    accounts: u64,
    append: Percentiles,
    e2e: Percentiles,
    redb: Percentiles,
    raw: Percentiles,
    /// NOMT's block latency at the same size.
    nomt: Option<Percentiles>,
}

/// Runs the scenario in `dir` (an existing directory; the store and baselines live below it).
pub fn run(
    config: &CommitLatencyConfig,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for &accounts in &config.accounts {
        // A store per size, its state imported in one pass (growing one store block by block
        // to 10M accounts took longer than the measurement).
        let capture = CaptureFs::default();
        let store_dir = dir.join(format!("store-{accounts}"));
        let store = open_store(&store_dir, &capture)?;
        let mut work = Workload::new(1);
        progress(&format!("commit-latency: importing a state of {accounts} accounts"));
        let load = work.grow_to(&store, &capture, accounts)?;
        let case = format!("{accounts} accounts");
        rows.push(Row::new(CS, &case, "bulk load", load.as_secs_f64(), "s"));
        progress(&format!("commit-latency: {} blocks at {accounts} accounts", config.blocks));
        let raw_redb = RawRedb::copy_of(&store, &dir.join(format!("raw-{accounts}.redb")))?;
        let samples = measure(&store, &capture, &mut work, &raw_redb, dir, config.blocks)?;
        results.push(samples.finish(accounts, &case, &mut rows));
        store.close()?;
        drop(raw_redb);
        crate::remove_measured(&store_dir)?;
    }
    measure_nomt(config, dir, &mut results, &mut rows, progress)?;
    let goals = goals(&results);
    Ok(Report { scenario: "commit-latency".into(), hardware, rows, goals })
}

/// Measures `blocks` blocks (after a warm-up) at the current state size.
fn measure(
    store: &ChainStore,
    capture: &CaptureFs,
    work: &mut Workload,
    raw_redb: &RawRedb,
    dir: &Path,
    blocks: usize,
) -> Result<Samples> {
    let mut t = Samples::default();
    let mut raw: Option<RawFile> = None;
    for i in 0..WARMUP + blocks {
        let block = work.next_block();
        let (started, cpu) = (Instant::now(), ThreadTime::now());
        let info = store.commit_block(&block)?;
        let (e2e, cpu) = (started.elapsed(), cpu.elapsed());
        let record = capture.take_one(block.number)?;
        let started = Instant::now();
        raw_redb.commit(&record.ops)?;
        let redb = started.elapsed();
        let file = match &mut raw {
            Some(f) => f,
            None => raw.insert(RawFile::new(dir, 2 * record.bytes.len(), WARMUP + blocks)?),
        };
        let raw_time = file.write_sync(&record.bytes)?;
        if i >= WARMUP {
            t.push(info.timings, [e2e, cpu, redb, raw_time], record.bytes.len());
        }
    }
    Ok(t)
}

/// The samples of one state size.
#[derive(Default)]
struct Samples {
    e2e: Vec<Duration>,
    /// CPU time of the committing thread (not the indexer's) during `commit_block`.
    cpu: Vec<Duration>,
    apply: Vec<Duration>,
    root: Vec<Duration>,
    append: Vec<Duration>,
    redb: Vec<Duration>,
    raw: Vec<Duration>,
    record_bytes: usize,
}

impl Samples {
    /// One block: its timings, then end-to-end wall and CPU time, redb and raw times.
    fn push(
        &mut self,
        timings: chainstore_chain::CommitTimings,
        [e2e, cpu, redb, raw]: [Duration; 4],
        bytes: usize,
    ) {
        self.e2e.push(e2e);
        self.cpu.push(cpu);
        self.apply.push(timings.apply);
        self.root.push(timings.root);
        self.append.push(timings.commit);
        self.redb.push(redb);
        self.raw.push(raw);
        self.record_bytes += bytes;
    }

    /// Adds the rows of state size `accounts` to `rows`; returns the percentiles the goals use.
    fn finish(mut self, accounts: u64, case: &str, rows: &mut Vec<Row>) -> SizeResult {
        let n = self.e2e.len().max(1);
        let mut both = |system: &str, what: &str, samples: &mut Vec<Duration>| {
            let p = Percentiles::of(samples);
            let (p50, p99) = (format!("{what}p50"), format!("{what}p99"));
            rows.push(Row::new(system, case, &p50, micros(p.p50) / 1e3, "ms"));
            rows.push(Row::new(system, case, &p99, micros(p.p99) / 1e3, "ms"));
            p
        };
        let e2e = both(CS, "e2e ", &mut self.e2e);
        both(CS, "e2e cpu ", &mut self.cpu);
        both(CS, "apply ", &mut self.apply);
        both(CS, "root ", &mut self.root);
        let append = both(CS, "append ", &mut self.append);
        let redb = both(REDB, "commit ", &mut self.redb);
        let raw = both(RAW, "", &mut self.raw);
        let kib = self.record_bytes as f64 / n as f64 / 1024.0;
        rows.push(Row::new(CS, case, "record", kib, "KiB/block"));
        rows.push(Row::new(CS, case, "blocks", n as f64, "measured"));
        SizeResult { accounts, append, e2e, redb, raw, nomt: None }
    }
}

fn goals(results: &[SizeResult]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let (Some(first), Some(last)) = (results.first(), results.last()) else { return goals };
    let secs = |d: Duration| d.as_secs_f64();
    goals.push(Goal::at_most(
        format!("append p99 flat: {} ÷ {} accounts", last.accounts, first.accounts),
        ratio(secs(last.append.p99), secs(first.append.p99)),
        1.5,
    ));
    for r in results {
        goals.push(Goal::at_most(
            format!("append p50 ÷ raw write+fdatasync p50 ({} accts)", r.accounts),
            ratio(secs(r.append.p50), secs(r.raw.p50)),
            1.3,
        ));
    }
    goals.push(Goal::at_least(
        format!("redb sync p99 ÷ end-to-end p99 ({} accts)", last.accounts),
        ratio(secs(last.redb.p99), secs(last.e2e.p99)),
        5.0,
    ));
    if let Some(nomt) = last.nomt {
        goals.push(Goal::at_most(
            format!("end-to-end p50 ÷ NOMT commit p50 ({} accts)", last.accounts),
            ratio(secs(last.e2e.p50), secs(nomt.p50)),
            1.0,
        ));
    }
    goals
}

/// Grows NOMT through the state sizes of `results` and measures `config.blocks` blocks (after a
/// warm-up) at each; adds the rows and NOMT's percentiles to `results`.
fn measure_nomt(
    config: &CommitLatencyConfig,
    dir: &Path,
    results: &mut [SizeResult],
    rows: &mut Vec<Row>,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let Some(largest) = results.last().map(|r| r.accounts) else { return Ok(()) };
    let blocks = results.len() * (WARMUP + config.blocks);
    let mut peer = NomtPeer::create(&dir.join("nomt"), NomtPeer::keys_reached(largest, blocks))?;
    for r in results {
        let case = format!("{} accounts", r.accounts);
        progress(&format!("commit-latency, {NOMT}: growing the state to {} keys", r.accounts));
        let load = peer.grow_to(r.accounts)?;
        rows.push(Row::new(NOMT, &case, "bulk load", load.as_secs_f64(), "s"));
        progress(&format!(
            "commit-latency, {NOMT}: {} blocks at {} keys",
            config.blocks, r.accounts
        ));
        let mut run = peer.run(WARMUP, config.blocks)?;
        r.nomt = Some(commit_percentile_rows(rows, NOMT, &case, &mut run.latencies));
    }
    Ok(())
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

// ---------------------------------------------------------------------------------------------
// Shared by the chain benchmarks (`commit-latency`, `ingest`, `reads`).
// ---------------------------------------------------------------------------------------------

/// New accounts per bulk-load block.
const BULK_BLOCK: u64 = 25_000;
/// Token contracts: the accounts with storage.
pub(crate) const TOKENS: u64 = 20;
/// Storage slots seeded per new account during bulk load (one slot per 10 accounts).
const SLOTS_PER_ACCOUNT: u64 = 10;
/// Shape of a measured block.
const TXS: usize = 200;
const TOUCHED_ACCOUNTS: usize = 1_000;
const STORAGE_WRITES_PER_TOKEN: usize = 100;
/// State updates (account changes + storage writes) of a measured block.
pub(crate) const UPDATES_PER_BLOCK: u64 =
    (TOUCHED_ACCOUNTS + STORAGE_WRITES_PER_TOKEN * TOKENS as usize) as u64;

/// Opens a store with default options on a [`CaptureFs`].
pub(crate) fn open_store(dir: &Path, capture: &CaptureFs) -> Result<ChainStore> {
    let options = Options { vfs: Arc::new(capture.clone()), ..Options::default() };
    Ok(ChainStore::open(dir, options)?)
}

/// The deterministic chain of the benchmarks: bulk blocks that create accounts (and seed token
/// storage), then blocks of the documented shape over them.
pub(crate) struct Workload {
    rng: SplitMix64,
    /// Externally owned accounts created so far.
    pub(crate) accounts: u64,
    /// Storage slots seeded so far (slot `j` belongs to token `j % TOKENS`).
    pub(crate) slots: u64,
    next: u64,
    parent: B256,
}

impl Workload {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64(seed ^ 0x5851_f42d_4c95_7f2d),
            accounts: 0,
            slots: 0,
            next: 0,
            parent: B256::ZERO,
        }
    }

    pub(crate) fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A random number below `n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.random() % n
    }

    /// The storage slot key of seeded slot `j`.
    pub(crate) fn slot(j: u64) -> B256 {
        B256::from(U256::from(j))
    }

    /// Grows the state to `accounts` accounts: on an empty store with one state import (block 0),
    /// on a store with blocks by committing bulk blocks. Returns the time taken.
    pub(crate) fn grow_to(
        &mut self,
        store: &ChainStore,
        capture: &CaptureFs,
        accounts: u64,
    ) -> Result<Duration> {
        let started = Instant::now();
        if self.next == 0 {
            self.import(store, accounts)?;
            capture.clear();
            store.database().flush().map_err(ChainError::from)?;
        }
        while self.accounts < accounts {
            let block = self.bulk_block((accounts - self.accounts).min(BULK_BLOCK));
            store.commit_block(&block)?;
            capture.clear();
            // Index each bulk block before building the next: a memtable above the indexer's
            // batch size while a long commit holds its snapshot makes the indexer retry garbage
            // collection in a loop under the memtable's write lock, which starves the commit's
            // reads (docs/benchmarks.md, commit-latency).
            store.database().flush().map_err(ChainError::from)?;
        }
        Ok(started.elapsed())
    }

    /// Imports, as block 0 of an empty store, the state the bulk blocks would build: the token
    /// contracts with their code, `accounts` accounts with random balances, and one token slot
    /// per ten accounts.
    fn import(&mut self, store: &ChainStore, accounts: u64) -> Result<()> {
        let mut slots: Vec<Vec<(B256, U256)>> = vec![Vec::new(); TOKENS as usize];
        for j in 0..accounts / SLOTS_PER_ACCOUNT {
            let value = U256::from(1 + self.below(1 << 40));
            slots[(j % TOKENS) as usize].push((keccak256(Self::slot(j)), value));
        }
        self.slots = accounts / SLOTS_PER_ACCOUNT;
        let mut state: Vec<ImportedAccount> = Vec::with_capacity((accounts + TOKENS) as usize);
        for (t, mut token_slots) in slots.into_iter().enumerate() {
            let code = Bytes::from(keccak256(format!("token code {t}")).to_vec());
            let account = Account { nonce: 1, code_hash: keccak256(&code), ..Account::default() };
            token_slots.sort_unstable_by_key(|(k, _)| *k);
            state.push((keccak256(SynthChain::token(t as u64)), account, Some(code), token_slots));
        }
        for i in 0..accounts {
            let balance = U256::from(1 + self.below(1 << 60));
            let account = Account { balance, ..Account::default() };
            state.push((keccak256(SynthChain::account(i)), account, None, Vec::new()));
        }
        self.accounts = accounts;
        state.sort_unstable_by_key(|(k, ..)| *k);
        let block = self.header();
        let import = ImportBlock {
            number: block.number,
            hash: block.hash,
            parent_hash: block.parent_hash,
            timestamp: block.timestamp,
            state_root: None,
        };
        let mut entries = state.into_iter().flat_map(|(hashed_address, account, code, slots)| {
            std::iter::once(StateEntry::Account { hashed_address, account, code })
                .chain(
                    slots
                        .into_iter()
                        .map(|(hashed_slot, value)| StateEntry::Slot { hashed_slot, value }),
                )
                .map(Ok)
        });
        store.import_state(&import, &mut entries, &mut |_| {})?;
        Ok(())
    }

    fn header(&mut self) -> BlockCommit {
        let number = self.next;
        let block = BlockCommit {
            number,
            hash: keccak256(format!("bench block {number}")),
            parent_hash: self.parent,
            timestamp: 1_700_000_000 + number * 12,
            ..Default::default()
        };
        self.parent = block.hash;
        self.next += 1;
        block
    }

    /// A block creating `count` accounts and seeding `count / 10` token slots (block 0 also
    /// creates the token contracts).
    fn bulk_block(&mut self, count: u64) -> BlockCommit {
        let mut block = self.header();
        if block.number == 0 {
            for t in 0..TOKENS {
                let code = Bytes::from(keccak256(format!("token code {t}")).to_vec());
                let change =
                    AccountChange { code: Some(code), nonce: Some(1), ..Default::default() };
                block.state.push((SynthChain::token(t), Some(change)));
            }
        }
        let mut tokens: Vec<AccountChange> =
            (0..TOKENS).map(|_| AccountChange::default()).collect();
        for _ in 0..count / SLOTS_PER_ACCOUNT {
            let j = self.slots;
            let value = U256::from(1 + self.below(1 << 40));
            tokens[(j % TOKENS) as usize].storage.push((Self::slot(j), value));
            self.slots += 1;
        }
        for (t, change) in tokens.into_iter().enumerate() {
            if !change.storage.is_empty() {
                block.state.push((SynthChain::token(t as u64), Some(change)));
            }
        }
        for i in self.accounts..self.accounts + count {
            let balance = U256::from(1 + self.below(1 << 60));
            let change = AccountChange { balance: Some(balance), ..Default::default() };
            block.state.push((SynthChain::account(i), Some(change)));
        }
        self.accounts += count;
        block
    }

    /// A block of the documented shape: 200 token transfers (each with a receipt and a
    /// `Transfer` log) and their state changes: 980 accounts (senders and others) get a new
    /// nonce and balance, and each of the 20 tokens gets 100 storage writes (1,000 account
    /// changes, 2,000 storage writes).
    pub(crate) fn next_block(&mut self) -> BlockCommit {
        let mut block = self.header();
        let number = block.number;
        let eoas = TOUCHED_ACCOUNTS - TOKENS as usize;
        let mut seen = HashSet::new();
        let mut touched = Vec::with_capacity(eoas);
        while touched.len() < eoas.min(self.accounts as usize) {
            let i = self.below(self.accounts);
            if seen.insert(i) {
                touched.push(i);
            }
        }
        for (i, &from_i) in touched.iter().take(TXS).enumerate() {
            let hash = keccak256(format!("bench tx {number} {i}"));
            let (from, token) = (SynthChain::account(from_i), SynthChain::token(i as u64 % TOKENS));
            let to = SynthChain::account(self.below(self.accounts));
            let raw: Vec<u8> = (0..110).map(|_| self.random() as u8).collect();
            block.transactions.push(Transaction {
                hash,
                from,
                to: Some(token),
                nonce: number,
                raw: raw.into(),
            });
            let data = U256::from(self.below(1 << 30)).to_be_bytes::<32>().to_vec();
            let topics = vec![transfer_topic(), from.into_word(), to.into_word()];
            let log = Log { address: token, topics, data: data.into() };
            block.receipts.push(Receipt {
                transaction_hash: hash,
                status: 1,
                gas_used: 51_000,
                logs: vec![log],
            });
        }
        for i in touched {
            let change = AccountChange {
                nonce: Some(number),
                balance: Some(U256::from(1 + self.below(1 << 60))),
                ..Default::default()
            };
            block.state.push((SynthChain::account(i), Some(change)));
        }
        let holders = self.accounts.max(1);
        for t in 0..TOKENS {
            let storage = (0..STORAGE_WRITES_PER_TOKEN)
                .map(|_| (Self::slot(self.below(holders)), U256::from(1 + self.below(1 << 40))))
                .collect();
            let change = AccountChange { storage, ..Default::default() };
            block.state.push((SynthChain::token(t), Some(change)));
        }
        block
    }
}

pub(crate) use chainstore_engine::db::WriteOp;

/// An account to import: hashed address, account, code, hashed slots in key order.
type ImportedAccount = (B256, Account, Option<Bytes>, Vec<(B256, U256)>);

/// A commit-log record captured on its way to disk.
pub(crate) struct CapturedRecord {
    /// The whole encoded record (header and payload), as written.
    pub(crate) bytes: Vec<u8>,
    /// The write set it carries.
    pub(crate) ops: Vec<WriteOp>,
}

/// [`RealFs`] that keeps a copy of every record-carrying write to a commit-log segment, so a
/// benchmark can replay a block's exact write set elsewhere. Copying costs a `memcpy` of the
/// record inside the measured commit (tens of microseconds per MiB), which only makes the store
/// look slower.
#[derive(Debug, Default, Clone)]
pub(crate) struct CaptureFs {
    writes: Arc<Mutex<Vec<CapturedWrite>>>,
    /// Buffers faulted in before a timed loop ([`CaptureFs::prefault`]) for writes to be copied
    /// into.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A write into a segment: where it went (the segment's salt and the offset) and its bytes.
#[derive(Debug)]
struct CapturedWrite {
    at: Position,
    bytes: Vec<u8>,
}

impl CaptureFs {
    /// Forgets what was captured.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CapturedWrite>> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The one record written since the last call (the commit of `block`).
    pub(crate) fn take_one(&self, block: u64) -> Result<CapturedRecord> {
        self.take_writes().one_record(block)
    }

    /// The writes made since the last call, not yet decoded: taking them costs no more than
    /// swapping a `Vec`, so a timed loop can take them and decode them after it.
    pub(crate) fn take_writes(&self) -> CapturedWrites {
        CapturedWrites(std::mem::take(&mut *self.lock()))
    }

    /// Faults in `count` buffers of `bytes` each for the writes to come, so that a timed loop
    /// does not count the capture's page faults (a fresh buffer per block) as the store's time.
    pub(crate) fn prefault(&self, count: usize, bytes: usize) {
        let buffers = (0..count).map(|_| {
            let mut buf = vec![1u8; bytes];
            buf.clear();
            buf
        });
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).extend(buffers);
    }

    /// Bytes the capture holds and has not handed out: spare buffers and writes not yet taken.
    pub(crate) fn held_bytes(&self) -> usize {
        let spare: usize =
            self.spare.lock().unwrap_or_else(|e| e.into_inner()).iter().map(Vec::capacity).sum();
        spare + self.lock().iter().map(|w| w.bytes.capacity()).sum::<usize>()
    }
}

/// The commit-log writes of one commit, as captured ([`CaptureFs::take_writes`]).
pub(crate) struct CapturedWrites(Vec<CapturedWrite>);

impl CapturedWrites {
    /// The bytes written.
    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|w| w.bytes.len()).sum()
    }

    /// The bytes held in memory.
    pub(crate) fn held_bytes(&self) -> usize {
        self.0.iter().map(|w| w.bytes.capacity()).sum()
    }

    /// The one record the writes carry: the commit of `block`.
    pub(crate) fn one_record(self, block: u64) -> Result<CapturedRecord> {
        let err = |detail: String| ChainBenchError::Capture { block, detail };
        let mut records = Vec::new();
        for write in &self.0 {
            let (buf, mut at) = (&write.bytes, 0);
            let position = |at: usize| Position { offset: write.at.offset + at as u64, ..write.at };
            while let Ok(Some((record, len))) = decode_record(&buf[at..], position(at)) {
                let ops = decode_write_set(record.payload).map_err(err)?;
                records.push(CapturedRecord { bytes: buf[at..at + len].to_vec(), ops });
                at += len;
            }
        }
        match records.len() {
            1 => Ok(records.remove(0)),
            n => Err(err(format!("{n} records written for one commit"))),
        }
    }
}

/// Whether `buf` may carry records (not a zero fill, not a segment header).
fn carries_records(buf: &[u8]) -> bool {
    buf.len() >= RECORD_HEADER_LEN
        && !buf[..RECORD_HEADER_LEN].iter().all(|&b| b == 0)
        && !buf.starts_with(&SEGMENT_MAGIC)
}

impl Vfs for CaptureFs {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn VfsFile>> {
        let inner = RealFs.open(path, mode)?;
        // Segment files (`*.wal`, created as `*.wal.tmp`) in the store's `wal` directory.
        if path.parent().and_then(Path::file_name).is_some_and(|d| d == "wal") {
            let mut header = [0u8; SEGMENT_HEADER_LEN];
            let salt = match inner.read_at(&mut header, 0) {
                Ok(SEGMENT_HEADER_LEN) => SegmentHeader::decode(&header).ok().map(|h| h.salt),
                _ => None,
            };
            let (writes, spare) = (self.writes.clone(), self.spare.clone());
            return Ok(Arc::new(CaptureFile { inner, writes, spare, salt: Mutex::new(salt) }));
        }
        Ok(inner)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        RealFs.remove(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        RealFs.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn lock(&self, path: &Path, owner: &str) -> std::io::Result<Box<dyn LockGuard>> {
        RealFs.lock(path, owner)
    }
}

#[derive(Debug)]
struct CaptureFile {
    inner: Arc<dyn VfsFile>,
    writes: Arc<Mutex<Vec<CapturedWrite>>>,
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The segment's salt, once its header has been read or written.
    salt: Mutex<Option<u32>>,
}

impl VfsFile for CaptureFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        let mut salt = self.salt.lock().unwrap_or_else(|e| e.into_inner());
        if offset == 0
            && let Ok(header) = SegmentHeader::decode(buf)
        {
            *salt = Some(header.salt);
        }
        if carries_records(buf)
            && let Some(salt) = *salt
        {
            let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut bytes = spare.unwrap_or_default();
            bytes.extend_from_slice(buf);
            let write = CapturedWrite { at: Position { salt, offset }, bytes };
            self.writes.lock().unwrap_or_else(|e| e.into_inner()).push(write);
        }
        drop(salt);
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn will_need(&self, offset: u64, len: u64) {
        self.inner.will_need(offset, len);
    }
    fn advise_random(&self) {
        self.inner.advise_random();
    }
}

type BytesTable<'a> = redb::TableDefinition<'a, &'static [u8], &'static [u8]>;

fn redb_err(e: impl std::fmt::Display) -> ChainBenchError {
    ChainBenchError::Redb(e.to_string())
}

/// The raw-redb baseline: a plain redb database (same page cache size as the store's backend).
pub(crate) struct RawRedb {
    pub(crate) db: redb::Database,
    path: PathBuf,
}

impl RawRedb {
    /// A copy of the store's backend file (after a flush, so it holds every row) at `path`.
    pub(crate) fn copy_of(store: &ChainStore, path: &Path) -> Result<Self> {
        store.database().flush().map_err(ChainError::from)?;
        let src = store.database().path().join("data.redb");
        crate::system::copy_file(&src, path)?;
        let cache = chainstore_engine::backend::RedbOptions::default().cache_bytes;
        let db = redb::Database::builder().set_cache_size(cache).open(path).map_err(redb_err)?;
        Ok(Self { db, path: path.to_path_buf() })
    }

    /// Applies `ops` in one durable write transaction.
    pub(crate) fn commit(&self, ops: &[WriteOp]) -> Result<()> {
        let txn = self.db.begin_write().map_err(redb_err)?;
        let mut i = 0;
        while i < ops.len() {
            let name = &ops[i].0;
            let mut table = txn.open_table(BytesTable::new(name)).map_err(redb_err)?;
            while i < ops.len() && &ops[i].0 == name {
                match &ops[i].2 {
                    Some(v) => {
                        drop(table.insert(ops[i].1.as_slice(), v.as_slice()).map_err(redb_err)?)
                    }
                    None => drop(table.remove(ops[i].1.as_slice()).map_err(redb_err)?),
                }
                i += 1;
            }
        }
        txn.commit().map_err(redb_err)
    }
}

impl Drop for RawRedb {
    fn drop(&mut self) {
        // Best effort: the work directory is removed anyway.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A preallocated (zero-written, synced) file for raw `write` + `fdatasync`.
struct RawFile {
    file: Arc<dyn VfsFile>,
    path: PathBuf,
    stride: u64,
    at: u64,
}

impl RawFile {
    fn new(dir: &Path, stride: usize, writes: usize) -> Result<Self> {
        let path = dir.join("raw-append");
        let _ = std::fs::remove_file(&path);
        let file = RealFs.open(&path, OpenMode::CreateNew).map_err(BenchError::io(&path))?;
        let stride = stride as u64;
        write_zeros(&*file, 0, stride * writes as u64).map_err(BenchError::io(&path))?;
        file.sync_data().map_err(BenchError::io(&path))?;
        Ok(Self { file, path, stride, at: 0 })
    }

    /// Writes `bytes` at the next offset and syncs; returns the time taken.
    fn write_sync(&mut self, bytes: &[u8]) -> Result<Duration> {
        let started = Instant::now();
        write_all_at(&*self.file, bytes, self.at * self.stride)
            .map_err(BenchError::io(&self.path))?;
        self.file.sync_data().map_err(BenchError::io(&self.path))?;
        self.at += 1;
        Ok(started.elapsed())
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measured block is captured as exactly one record carrying the block's writes: one
    /// account row per touched account, one transaction row per transaction. With
    /// `--nocapture` it prints the record's bytes per table.
    #[test]
    fn captured_record_is_the_blocks_write_set() {
        let dir = tempfile::tempdir().unwrap();
        let capture = CaptureFs::default();
        let store = open_store(dir.path(), &capture).unwrap();
        let mut work = Workload::new(7);
        work.grow_to(&store, &capture, 10_000).unwrap();
        let block = work.next_block();
        store.commit_block(&block).unwrap();
        let record = capture.take_one(block.number).unwrap();
        let mut tables = std::collections::BTreeMap::<&str, (usize, usize)>::new();
        for (table, key, value) in &record.ops {
            let entry = tables.entry(table).or_default();
            entry.0 += 1;
            entry.1 += key.len() + value.as_ref().map_or(0, Vec::len);
        }
        for (table, (ops, bytes)) in &tables {
            println!("{table:<18} {ops:>6} ops {bytes:>9} bytes of keys and values");
        }
        println!("record: {} bytes", record.bytes.len());
        assert_eq!(tables["hashed_accounts"].0, TOUCHED_ACCOUNTS);
        assert_eq!(tables["transactions"].0, TXS);
        assert!(tables["hashed_storage"].0 > STORAGE_WRITES_PER_TOKEN * TOKENS as usize / 2);
        assert!(capture.take_one(block.number).is_err(), "nothing written since");
    }

    #[test]
    fn prefaulted_buffers_hold_the_writes_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let capture = CaptureFs::default();
        let store = open_store(dir.path(), &capture).unwrap();
        let mut work = Workload::new(7);
        work.grow_to(&store, &capture, 1_000).unwrap();
        capture.prefault(2, 4 << 20);
        assert_eq!(capture.held_bytes(), 8 << 20);
        let block = work.next_block();
        store.commit_block(&block).unwrap();
        let writes = capture.take_writes();
        assert!(writes.len() < 4 << 20, "the record fits a spare buffer");
        assert_eq!(writes.held_bytes(), 4 << 20, "and went into one");
        assert_eq!(capture.held_bytes(), 4 << 20, "the other is still spare");
        let record = writes.one_record(block.number).unwrap();
        let accounts = record.ops.iter().filter(|(t, _, _)| t == "hashed_accounts").count();
        assert_eq!(accounts, TOUCHED_ACCOUNTS);
    }
}
