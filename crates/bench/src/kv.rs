//! `chainstore bench kv`: the generic database against raw redb on the same disk, in one run;
//! built with the `rocksdb` feature, also chainstore on RocksDB against raw RocksDB (one column
//! family, the same options as chainstore's RocksDB backend, every batch synced), in the same
//! rounds.
//!
//! Both stores hold one table of 16-byte big-endian keys and 100-byte values, use a redb cache of
//! the same size, and make every commit durable before it returns: chainstore's [`Database`] with
//! the redb backend and `Durability::Immediate` (the write set is in the commit log; a background
//! indexer moves it into redb in large batches later), and a raw `redb::Database` with one table
//! whose every commit is `redb::Durability::Immediate`. The two get the same batches.
//!
//! - **fill sequential / fill random**: N keys (`--keys`) in ascending or shuffled order, commits
//!   of 1,000 keys. **batch 1000**: then commits of 1,000 random existing keys, with commit latency.
//!   The stores take turns in rounds of commits, so that drifts in disk latency affect both alike;
//!   after each of its rounds chainstore is flushed (the indexer catches up) before raw redb's
//!   round starts, so that its background work never slows the baseline. `keys/s` counts commit
//!   time only (what a writer sees); chainstore's `indexed/s` adds the time of those flushes.
//! - **read random**: hot point reads of existing keys after a flush (and one untimed pass), 1,000
//!   reads per read transaction in both stores, the two alternating every 1,000 reads.
//! - **scan 100**: 1,000 range scans of 100 consecutive keys from random starts, 100 scans per read
//!   transaction.
//! - **commit latency vs size**: commits of 10,000 random new keys (1 MB of values) into two
//!   fresh stores growing to 20M keys (`--max-keys`), with p50/p99 of a window of 50 commits at
//!   100K, 1M, 5M and 20M keys. Each store grows to a size and runs its window in turn; chainstore
//!   is flushed after its window (untimed, except at the last size, where the flush is reported as
//!   the indexer's catch-up time together with the memtable size and lag before it).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chainstore_engine::backend::{KeyRange, RedbOptions};
use chainstore_engine::db::{BackendChoice, Database, Options};
use chainstore_engine::wal::Durability;
use redb::{ReadableDatabase, TableDefinition};

use crate::report::{Goal, Percentiles, Report, Row, micros, ratio};
use crate::system;
use crate::{BenchError, dir_bytes, live_bytes};

/// Options of the `kv` scenario.
#[derive(Debug, Clone)]
pub struct KvBenchOptions {
    /// An existing directory on the disk to measure; the benchmark works in files below it and
    /// removes them when done.
    pub dir: PathBuf,
    /// Small sizes and short runs (a few seconds, for CI).
    pub quick: bool,
    /// Keys of the fill, batch, read and scan cases (default 1M; 20K with `quick`).
    pub keys: Option<u64>,
    /// Size the commit-latency case grows the stores to (default 20M; 200K with `quick`).
    pub max_keys: Option<u64>,
}

/// How much work each part does.
struct Sizes {
    fsync_samples: usize,
    keys: u64,
    /// Commits of the fill cases per store per turn.
    fill_round: usize,
    batch_commits: usize,
    batch_round: usize,
    reads: usize,
    scans: usize,
    /// Database sizes (keys) at which commit latency is sampled.
    growth: &'static [u64],
    /// Commits measured at each size.
    window: usize,
}

const FULL: Sizes = Sizes {
    fsync_samples: 200,
    keys: 1_000_000,
    fill_round: 100,
    batch_commits: 500,
    batch_round: 50,
    reads: 200_000,
    scans: 1_000,
    growth: &[100_000, 1_000_000, 5_000_000, 20_000_000],
    window: 50,
};

const QUICK: Sizes = Sizes {
    fsync_samples: 30,
    keys: 20_000,
    fill_round: 10,
    batch_commits: 20,
    batch_round: 10,
    reads: 20_000,
    scans: 1_000,
    growth: &[100_000, 200_000],
    window: 10,
};

const TABLE: &str = "kv";
const RAW_TABLE: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new(TABLE);
const VALUE_LEN: usize = 100;
const COMMIT_KEYS: usize = 1_000;
const READS_PER_TXN: usize = 1_000;
const SCANS_PER_TXN: usize = 100;
const SCAN_LEN: u64 = 100;
const GROWTH_KEYS: usize = 10_000;
const CHAINSTORE: &str = "chainstore";
const RAW: &str = "raw redb";
#[cfg(feature = "rocksdb")]
const CHAINSTORE_ROCKSDB: &str = "chainstore on rocksdb";
#[cfg(feature = "rocksdb")]
const RAW_ROCKSDB: &str = "raw rocksdb";

type Key = [u8; 16];
type Pair = (Key, [u8; VALUE_LEN]);

/// Runs the scenario in `opts.dir`.
pub fn run(opts: &KvBenchOptions) -> Result<Report, BenchError> {
    let sizes = if opts.quick { &QUICK } else { &FULL };
    let keys = opts.keys.unwrap_or(sizes.keys).max(COMMIT_KEYS as u64);
    let max_keys = opts.max_keys.unwrap_or(sizes.growth[sizes.growth.len() - 1]);
    let hardware = system::hardware(&opts.dir, sizes.fsync_samples, "warm")?;
    let mut rows = Vec::new();
    let mut goals = Vec::new();
    small_commits(&opts.dir, sizes, keys, &mut rows, &mut goals)?;
    let targets = growth_targets(sizes.growth, max_keys);
    commit_growth(&opts.dir, &targets, sizes.window, &mut rows, &mut goals)?;
    Ok(Report { scenario: "kv".into(), hardware, rows, goals })
}

/// Fill sequential, fill random, batch 1000, then reads and scans of the randomly filled stores.
fn small_commits(
    dir: &Path,
    sizes: &Sizes,
    n: u64,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<(), BenchError> {
    let label = count_label(n);
    let commits = n.div_ceil(COMMIT_KEYS as u64) as usize;
    let chunk = |keys: &dyn Fn(u64) -> u128, i: usize| {
        let end = ((i + 1) * COMMIT_KEYS).min(n as usize) as u64;
        ((i * COMMIT_KEYS) as u64..end).map(|j| pair(keys(j))).collect::<Vec<_>>()
    };
    {
        let stores = open_stores(dir, "seq")?;
        let timings =
            commit_rounds(&stores, commits, sizes.fill_round, &|i| chunk(&|j| u128::from(j), i))?;
        fill_rows(&format!("fill sequential {label}"), n, &stores, &timings, rows);
    }
    let stores = open_stores(dir, "random")?;
    let order = shuffled(n);
    let timings = commit_rounds(&stores, commits, sizes.fill_round, &|i| {
        chunk(&|j| u128::from(order[j as usize]), i)
    })?;
    fill_rows(&format!("fill random {label}"), n, &stores, &timings, rows);
    let timings = commit_rounds(&stores, sizes.batch_commits, sizes.batch_round, &|i| {
        let mut rng = Rng::new(0xba7c_4000 ^ i as u64);
        (0..COMMIT_KEYS).map(|_| pair(u128::from(rng.below(n)))).collect()
    })?;
    batch_rows(&format!("batch 1000 into {label}"), &stores, &timings, rows, goals);
    for store in &stores {
        store.settle()?;
    }
    point_reads(&stores, n, sizes.reads, &label, rows, goals)?;
    scans(&stores, n, sizes.scans, &label, rows)
}

/// What one store's commits of a case took.
#[derive(Debug, Default)]
struct Timing {
    commits: Vec<Duration>,
    /// Time spent settling (chainstore: flushing the indexer) after its rounds.
    settle: Duration,
    keys: usize,
}

/// Commits batches `0..commits` (built by `batch`) into each store, the stores taking turns of
/// `round` commits. After each turn a store settles (chainstore flushes), timed separately.
fn commit_rounds(
    stores: &[Box<dyn Store>],
    commits: usize,
    round: usize,
    batch: &dyn Fn(usize) -> Vec<Pair>,
) -> Result<Vec<Timing>, BenchError> {
    let mut timings: Vec<Timing> = stores.iter().map(|_| Timing::default()).collect();
    for start in (0..commits).step_by(round) {
        for (store, timing) in stores.iter().zip(&mut timings) {
            for i in start..(start + round).min(commits) {
                let pairs = batch(i);
                let started = Instant::now();
                store.commit(&pairs)?;
                timing.commits.push(started.elapsed());
                timing.keys += pairs.len();
            }
            let started = Instant::now();
            store.settle()?;
            timing.settle += started.elapsed();
        }
    }
    Ok(timings)
}

fn fill_rows(
    case: &str,
    n: u64,
    stores: &[Box<dyn Store>],
    timings: &[Timing],
    rows: &mut Vec<Row>,
) {
    for (store, t) in stores.iter().zip(timings) {
        let system = store.system();
        let busy: Duration = t.commits.iter().sum();
        rows.push(Row::new(system, case, "keys/s", n as f64 / busy.as_secs_f64(), "keys/s"));
        if store.indexes() {
            let indexed = n as f64 / (busy + t.settle).as_secs_f64();
            rows.push(Row::new(system, case, "indexed/s", indexed, "keys/s"));
        }
    }
}

fn batch_rows(
    case: &str,
    stores: &[Box<dyn Store>],
    timings: &[Timing],
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) {
    let mut rates = Vec::new();
    for (store, t) in stores.iter().zip(timings) {
        let system = store.system();
        let busy: Duration = t.commits.iter().sum();
        let rate = t.keys as f64 / busy.as_secs_f64();
        rows.push(Row::new(system, case, "keys/s", rate, "keys/s"));
        if store.indexes() {
            let indexed = t.keys as f64 / (busy + t.settle).as_secs_f64();
            rows.push(Row::new(system, case, "indexed/s", indexed, "keys/s"));
        }
        let p = Percentiles::of(&mut t.commits.clone());
        rows.push(Row::new(system, case, "commit p50", micros(p.p50), "us"));
        rows.push(Row::new(system, case, "commit p99", micros(p.p99), "us"));
        rates.push(rate);
    }
    goals.push(Goal::at_least(
        "batch 1000: chainstore keys/s >= 3 x raw redb".into(),
        ratio(rates[0], rates[1]),
        3.0,
    ));
    #[cfg(feature = "rocksdb")]
    goals.push(Goal::at_least(
        "batch 1000: chainstore keys/s >= raw RocksDB".into(),
        ratio(rates[0], rates[3]),
        1.0,
    ));
}

/// Hot random point reads of existing keys, the stores alternating every 1,000 reads, after one
/// untimed pass of the same reads.
fn point_reads(
    stores: &[Box<dyn Store>],
    n: u64,
    reads: usize,
    label: &str,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<(), BenchError> {
    let mut rng = Rng::new(0x4ead);
    let keys: Vec<Key> = (0..reads).map(|_| key(u128::from(rng.below(n)))).collect();
    let mut times = vec![Duration::ZERO; stores.len()];
    for timed in [false, true] {
        for chunk in keys.chunks(READS_PER_TXN) {
            for (store, time) in stores.iter().zip(&mut times) {
                let started = Instant::now();
                store.get_all(chunk)?;
                if timed {
                    *time += started.elapsed();
                }
            }
        }
    }
    let case = format!("read random, {label} keys");
    let rates: Vec<f64> = times.iter().map(|t| reads as f64 / t.as_secs_f64()).collect();
    for (store, rate) in stores.iter().zip(&rates) {
        rows.push(Row::new(store.system(), &case, "reads/s", *rate, "reads/s"));
    }
    // Each chainstore against the raw store of its backend, which follows it.
    for (pair, rate) in stores.chunks(2).zip(rates.chunks(2)) {
        rows.push(Row::new(pair[0].system(), &case, "vs raw", ratio(rate[1], rate[0]), "x time"));
    }
    let overhead = ratio(rates[1], rates[0]);
    goals.push(Goal::at_most(
        "read random: chainstore time <= 1.3 x raw redb".into(),
        overhead,
        1.3,
    ));
    Ok(())
}

/// Range scans of `SCAN_LEN` consecutive keys from random starts.
fn scans(
    stores: &[Box<dyn Store>],
    n: u64,
    count: usize,
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<(), BenchError> {
    let mut rng = Rng::new(0x5ca7);
    let starts: Vec<u64> = (0..count).map(|_| rng.below(n - SCAN_LEN + 1)).collect();
    let mut times = vec![Duration::ZERO; stores.len()];
    for chunk in starts.chunks(SCANS_PER_TXN) {
        for (store, time) in stores.iter().zip(&mut times) {
            let started = Instant::now();
            store.scan_all(chunk)?;
            *time += started.elapsed();
        }
    }
    let case = format!("scan 100, {label} keys");
    for (store, t) in stores.iter().zip(&times) {
        let rate = count as f64 / t.as_secs_f64();
        rows.push(Row::new(store.system(), &case, "scans/s", rate, "scans/s"));
    }
    Ok(())
}

/// The sizes below `max_keys` at which commit latency is sampled, then `max_keys`.
fn growth_targets(sizes: &[u64], max_keys: u64) -> Vec<u64> {
    let mut targets: Vec<u64> = sizes.iter().copied().filter(|&s| s < max_keys).collect();
    targets.push(max_keys);
    targets
}

/// Commit latency of 1 MiB batches of random new keys as both stores grow through `targets`.
fn commit_growth(
    dir: &Path,
    targets: &[u64],
    window: usize,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<(), BenchError> {
    let stores = open_stores(dir, "growth")?;
    let mut done = 0;
    let mut p99s = vec![Vec::new(); stores.len()];
    for (t, &target) in targets.iter().enumerate() {
        let start = (target as usize).div_ceil(GROWTH_KEYS).max(done);
        let case = format!("commit 1 MiB at {} keys", count_label((start * GROWTH_KEYS) as u64));
        for (s, store) in stores.iter().enumerate() {
            for i in done..start {
                store.commit(&growth_batch(i))?;
            }
            let (p, cpu) = timed_window(&**store, start..start + window)?;
            rows.push(Row::new(store.system(), &case, "p50", micros(p.p50), "us"));
            rows.push(Row::new(store.system(), &case, "p99", micros(p.p99), "us"));
            p99s[s].push(p.p99.as_secs_f64());
            // CPU time has a resolution of 10 ms: a short quiet window may show none.
            if let Some(cpu) = cpu.filter(|c| !c.is_zero()) {
                let per_commit = micros(cpu) / window as f64;
                rows.push(Row::new(store.system(), &case, "cpu/commit", per_commit, "us"));
            }
            if t + 1 == targets.len() {
                store.report_state(&case, rows);
            }
            let started = Instant::now();
            store.settle()?;
            if t + 1 == targets.len() && store.indexes() {
                rows.push(Row::new(
                    store.system(),
                    &case,
                    "catch-up",
                    started.elapsed().as_secs_f64(),
                    "s",
                ));
            }
        }
        done = start + window;
    }
    let case = format!("after growth to {} keys", count_label((done * GROWTH_KEYS) as u64));
    for store in &stores {
        store.report_disk(&case, rows)?;
    }
    let growth: Vec<f64> = p99s.iter().map(|p| ratio(p[p.len() - 1], p[0])).collect();
    let (big, small) = (count_label(targets[targets.len() - 1]), count_label(targets[0]));
    let case = format!("commit p99 {big} / {small}");
    for (store, g) in stores.iter().zip(&growth) {
        rows.push(Row::new(store.system(), &case, "ratio", *g, "x"));
    }
    goals.push(Goal::at_most(
        format!("chainstore commit p99 {big} / {small} <= 1.5 (redb: {:.1})", growth[1]),
        growth[0],
        1.5,
    ));
    Ok(())
}

/// Batch `i` of the growth: `GROWTH_KEYS` random new keys.
fn growth_batch(i: usize) -> Vec<Pair> {
    let mut rng = Rng::new(0x96_0000 ^ i as u64);
    (0..GROWTH_KEYS)
        .map(|_| pair(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())))
        .collect()
}

/// Commits growth batches `batches`, returning their latency percentiles and the CPU time the
/// committing thread used.
fn timed_window(
    store: &dyn Store,
    batches: std::ops::Range<usize>,
) -> Result<(Percentiles, Option<Duration>), BenchError> {
    let cpu_before = system::thread_cpu_time();
    let mut times = Vec::with_capacity(batches.len());
    for i in batches {
        let pairs = growth_batch(i);
        let started = Instant::now();
        store.commit(&pairs)?;
        times.push(started.elapsed());
    }
    let cpu = system::thread_cpu_time().zip(cpu_before).map(|(a, b)| a.saturating_sub(b));
    Ok((Percentiles::of(&mut times), cpu))
}

/// A store under test: chainstore or a raw baseline, one table of fixed-size keys and values.
trait Store {
    fn system(&self) -> &'static str;
    /// Whether commits are indexed in the background (chainstore), so settling takes time.
    fn indexes(&self) -> bool {
        false
    }
    /// Puts `pairs` in one durable commit.
    fn commit(&self, pairs: &[Pair]) -> Result<(), BenchError>;
    /// Waits for background work to finish (chainstore: the indexer has caught up).
    fn settle(&self) -> Result<(), BenchError>;
    /// Reads every key in one read transaction; each must exist.
    fn get_all(&self, keys: &[Key]) -> Result<(), BenchError>;
    /// Scans `SCAN_LEN` keys from each start in one read transaction; each must find them all.
    fn scan_all(&self, starts: &[u64]) -> Result<(), BenchError>;
    /// Rows with the bytes of the store's files.
    fn report_disk(&self, case: &str, rows: &mut Vec<Row>) -> Result<(), BenchError>;
    /// Rows about internal state after a case (chainstore: memtable and indexer lag).
    fn report_state(&self, _case: &str, _rows: &mut Vec<Row>) {}
}

/// In fresh files under `dir`: chainstore on redb and raw redb, then (with the `rocksdb`
/// feature) chainstore on RocksDB and raw RocksDB. Each chainstore comes before its baseline.
fn open_stores(dir: &Path, name: &str) -> Result<Vec<Box<dyn Store>>, BenchError> {
    let redb = BackendChoice::Redb(RedbOptions::default());
    let chainstore = Chainstore::open(&dir.join(format!("{name}-chainstore")), redb, CHAINSTORE)?;
    let raw = RawRedb::create(&dir.join(format!("{name}-redb.redb")))?;
    #[cfg_attr(not(feature = "rocksdb"), expect(unused_mut, reason = "two more with the feature"))]
    let mut stores: Vec<Box<dyn Store>> = vec![Box::new(chainstore), Box::new(raw)];
    #[cfg(feature = "rocksdb")]
    {
        let rocksdb = BackendChoice::Rocksdb(Default::default());
        let path = dir.join(format!("{name}-chainstore-rocksdb"));
        stores.push(Box::new(Chainstore::open(&path, rocksdb, CHAINSTORE_ROCKSDB)?));
        let raw = crate::raw_rocksdb::RawRocksdb::create(&dir.join(format!("{name}-rocksdb")))?;
        stores.push(Box::new(raw));
    }
    Ok(stores)
}

struct Chainstore {
    db: Database,
    system: &'static str,
}

impl Chainstore {
    fn open(path: &Path, backend: BackendChoice, system: &'static str) -> Result<Self, BenchError> {
        let opts = Options { backend, durability: Durability::Immediate, ..Options::default() };
        Ok(Self { db: Database::open(path, opts)?, system })
    }
}

impl Store for Chainstore {
    fn system(&self) -> &'static str {
        self.system
    }

    fn indexes(&self) -> bool {
        true
    }

    fn commit(&self, pairs: &[Pair]) -> Result<(), BenchError> {
        let mut txn = self.db.begin_write();
        for (k, v) in pairs {
            txn.put(TABLE, k, v)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn settle(&self) -> Result<(), BenchError> {
        Ok(self.db.flush()?)
    }

    fn get_all(&self, keys: &[Key]) -> Result<(), BenchError> {
        let txn = self.db.begin_read();
        for k in keys {
            let len = txn.get(TABLE, k)?.map(|v| v.len());
            expect_value(self.system, k, len)?;
        }
        Ok(())
    }

    fn scan_all(&self, starts: &[u64]) -> Result<(), BenchError> {
        let txn = self.db.begin_read();
        for &s in starts {
            let (lo, hi) = (key(u128::from(s)), key(u128::from(s + SCAN_LEN)));
            let range =
                KeyRange { start: Bound::Included(lo.to_vec()), end: Bound::Excluded(hi.to_vec()) };
            let mut found = 0;
            for pair in txn.range(TABLE, range, false)? {
                std::hint::black_box(pair?);
                found += 1;
            }
            expect_scan(self.system, s, found)?;
        }
        Ok(())
    }

    fn report_disk(&self, case: &str, rows: &mut Vec<Row>) -> Result<(), BenchError> {
        let total = dir_bytes(self.db.path())?;
        rows.push(Row::new(self.system, case, "disk", mib(total), "MiB"));
        rows.push(Row::new(self.system, case, "live", mib(live_bytes(&self.db)?), "MiB"));
        let stats = self.db.stats();
        let metric = format!("{} files", stats.backend);
        rows.push(Row::new(self.system, case, &metric, mib(stats.backend_bytes), "MiB"));
        Ok(())
    }

    fn report_state(&self, case: &str, rows: &mut Vec<Row>) {
        let stats = self.db.stats();
        rows.push(Row::new(self.system, case, "memtable", mib(stats.memtable_bytes), "MiB"));
        let lag = stats.visible_seq.saturating_sub(stats.checkpoint);
        rows.push(Row::new(self.system, case, "indexer lag", lag as f64, "commits"));
    }
}

struct RawRedb {
    db: redb::Database,
    path: PathBuf,
}

impl RawRedb {
    fn create(path: &Path) -> Result<Self, BenchError> {
        let db = redb::Database::builder()
            .set_cache_size(RedbOptions::default().cache_bytes)
            .create(path)
            .map_err(redb_err)?;
        Ok(Self { db, path: path.to_path_buf() })
    }
}

impl Store for RawRedb {
    fn system(&self) -> &'static str {
        RAW
    }

    fn commit(&self, pairs: &[Pair]) -> Result<(), BenchError> {
        let mut txn = self.db.begin_write().map_err(redb_err)?;
        txn.set_durability(redb::Durability::Immediate).map_err(redb_err)?;
        {
            let mut table = txn.open_table(RAW_TABLE).map_err(redb_err)?;
            for (k, v) in pairs {
                table.insert(k.as_slice(), v.as_slice()).map_err(redb_err)?;
            }
        }
        txn.commit().map_err(redb_err)
    }

    fn settle(&self) -> Result<(), BenchError> {
        Ok(())
    }

    fn get_all(&self, keys: &[Key]) -> Result<(), BenchError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(RAW_TABLE).map_err(redb_err)?;
        for k in keys {
            let len = table.get(k.as_slice()).map_err(redb_err)?.map(|v| v.value().len());
            expect_value(RAW, k, len)?;
        }
        Ok(())
    }

    fn scan_all(&self, starts: &[u64]) -> Result<(), BenchError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(RAW_TABLE).map_err(redb_err)?;
        for &s in starts {
            let (lo, hi) = (key(u128::from(s)), key(u128::from(s + SCAN_LEN)));
            let mut found = 0;
            for pair in table.range::<&[u8]>(lo.as_slice()..hi.as_slice()).map_err(redb_err)? {
                let (k, v) = pair.map_err(redb_err)?;
                std::hint::black_box((k.value(), v.value()));
                found += 1;
            }
            expect_scan(RAW, s, found)?;
        }
        Ok(())
    }

    fn report_disk(&self, case: &str, rows: &mut Vec<Row>) -> Result<(), BenchError> {
        let len = std::fs::metadata(&self.path).map_err(BenchError::io(&self.path))?.len();
        rows.push(Row::new(RAW, case, "disk", mib(len), "MiB"));
        Ok(())
    }
}

#[cfg(feature = "rocksdb")]
impl Store for crate::raw_rocksdb::RawRocksdb {
    fn system(&self) -> &'static str {
        RAW_ROCKSDB
    }

    fn commit(&self, pairs: &[Pair]) -> Result<(), BenchError> {
        self.commit(pairs.iter().map(|(k, v)| (TABLE, k.as_slice(), Some(v.as_slice()))))
    }

    fn settle(&self) -> Result<(), BenchError> {
        Ok(())
    }

    fn get_all(&self, keys: &[Key]) -> Result<(), BenchError> {
        let slices: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        for (k, len) in keys.iter().zip(self.value_lens(TABLE, &slices)?) {
            expect_value(RAW_ROCKSDB, k, len)?;
        }
        Ok(())
    }

    fn scan_all(&self, starts: &[u64]) -> Result<(), BenchError> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = starts
            .iter()
            .map(|&s| (key(u128::from(s)).to_vec(), key(u128::from(s + SCAN_LEN)).to_vec()))
            .collect();
        for (&s, found) in starts.iter().zip(self.scan_counts(TABLE, &ranges)?) {
            expect_scan(RAW_ROCKSDB, s, found)?;
        }
        Ok(())
    }

    fn report_disk(&self, case: &str, rows: &mut Vec<Row>) -> Result<(), BenchError> {
        rows.push(Row::new(RAW_ROCKSDB, case, "disk", mib(self.disk_bytes()?), "MiB"));
        Ok(())
    }
}

fn redb_err(e: impl Into<redb::Error>) -> BenchError {
    BenchError::Redb(e.into())
}

fn expect_value(system: &str, k: &Key, len: Option<usize>) -> Result<(), BenchError> {
    match len {
        Some(VALUE_LEN) => Ok(()),
        other => Err(BenchError::Check(format!(
            "{system}: key {} read back as {other:?} bytes, expected {VALUE_LEN}",
            u128::from_be_bytes(*k)
        ))),
    }
}

fn expect_scan(system: &str, start: u64, found: u64) -> Result<(), BenchError> {
    if found == SCAN_LEN {
        return Ok(());
    }
    Err(BenchError::Check(format!(
        "{system}: scan from key {start} found {found} keys, expected {SCAN_LEN}"
    )))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Total length of the files below `dir`.
/// The 16-byte big-endian key of `i`.
fn key(i: u128) -> Key {
    i.to_be_bytes()
}

/// Key `i` and its value: incompressible-looking bytes derived from the key.
fn pair(i: u128) -> Pair {
    let mut rng = Rng::new(i as u64 ^ (i >> 64) as u64);
    let mut value = [0u8; VALUE_LEN];
    for chunk in value.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
    }
    (key(i), value)
}

/// `0..n` in a random order (Fisher-Yates).
fn shuffled(n: u64) -> Vec<u64> {
    let mut rng = Rng::new(0x5407_f1e5);
    let mut order: Vec<u64> = (0..n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    order
}

/// `1M`, `200K`, `20.5M`, `1500`.
fn count_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 100_000 == 0 => {
            let m = n as f64 / 1e6;
            if n % 1_000_000 == 0 { format!("{m:.0}M") } else { format!("{m:.1}M") }
        }
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}K", n / 1_000),
        n => n.to_string(),
    }
}

/// xorshift64* seeded through splitmix64: cheap, deterministic, good enough for key choice.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` for `n` far below 2^64.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_targets() {
        assert_eq!(count_label(100_000), "100K");
        assert_eq!(count_label(20_000_000), "20M");
        assert_eq!(count_label(20_500_000), "20.5M");
        assert_eq!(count_label(1_234), "1234");
        assert_eq!(
            growth_targets(&[100_000, 1_000_000, 5_000_000], 2_000_000),
            [100_000, 1_000_000, 2_000_000]
        );
        assert_eq!(growth_targets(&[100_000, 1_000_000], 1_000_000), [100_000, 1_000_000]);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut order = shuffled(1_000);
        assert_ne!(order, (0..1_000).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..1_000).collect::<Vec<_>>());
    }
}
