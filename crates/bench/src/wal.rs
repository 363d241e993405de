//! `chainstore bench wal`: the commit log against raw file I/O on the same disk, in one run.
//!
//! - Append latency (p50/p99) of 1 KiB, 64 KiB and 1 MiB records with [`Durability::Immediate`],
//!   against `write_at` + `fdatasync` of as many bytes at increasing offsets of a preallocated
//!   (zero-written) file. The two are interleaved, one sample each in turn, so that both see the
//!   same disk conditions.
//! - Group commit: commits/s of 1, 4 and 16 threads appending 1 KiB records, with the number of
//!   commits per `fdatasync` and the CPU the process used. The three cases take turns in short
//!   rounds so that drifts in disk latency affect them alike.
//! - Recovery scan: reopening a log of 256 MiB (64 MiB with `quick`), handing every record to a
//!   callback that touches its payload, against a sequential read of the same segment files in
//!   1 MiB pieces into a page-aligned buffer (the kernel's copy into a buffer 16 bytes past a page,
//!   where a large `Vec` starts, is 4 to 5 times slower on some CPUs, which would flatter the
//!   scan). Their ratio is printed as a row and a goal. The page cache is dropped before each when
//!   possible (root); `quick` runs, meant for CI on shared machines, never drop it and compare warm
//!   reads.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chainstore_engine::vfs::{
    LockGuard, OpenMode, RealFs, Vfs, VfsFile, write_all_at, write_zeros,
};
use chainstore_engine::wal::{Durability, Wal, WalOptions};

use crate::BenchError;
use crate::report::{Goal, Percentiles, Report, Row, micros, ratio};
use crate::system;

/// Options of the `wal` scenario.
#[derive(Debug, Clone)]
pub struct WalBenchOptions {
    /// An existing directory on the disk to measure; the benchmark works in files below it and
    /// removes them when done.
    pub dir: PathBuf,
    /// Small sizes and short runs (a few seconds, for CI), on a warm page cache.
    pub quick: bool,
}

/// How much work each part does.
struct Sizes {
    fsync_samples: usize,
    /// (record payload bytes, samples) for the latency comparison.
    latency: [(usize, usize); 3],
    concurrency: Duration,
    concurrency_rounds: u32,
    recovery_bytes: u64,
}

const FULL: Sizes = Sizes {
    fsync_samples: 200,
    latency: [(1 << 10, 500), (64 << 10, 300), (1 << 20, 100)],
    concurrency: Duration::from_secs(3),
    concurrency_rounds: 6,
    recovery_bytes: 256 << 20,
};

const QUICK: Sizes = Sizes {
    fsync_samples: 30,
    latency: [(1 << 10, 60), (64 << 10, 40), (1 << 20, 20)],
    concurrency: Duration::from_millis(500),
    concurrency_rounds: 2,
    recovery_bytes: 64 << 20,
};

const WARMUP: usize = 5;
const APPENDERS: [usize; 3] = [1, 4, 16];
const RECOVERY_RECORD: usize = 64 << 10;
const RECORD_HEADER: usize = chainstore_engine::wal::format::RECORD_HEADER_LEN;
const WAL: &str = "chainstore wal";

/// Runs the scenario in `opts.dir`.
pub fn run(opts: &WalBenchOptions) -> Result<Report, BenchError> {
    let sizes = if opts.quick { &QUICK } else { &FULL };
    let mut hardware = system::hardware(&opts.dir, sizes.fsync_samples, "warm")?;
    let mut rows = Vec::new();
    let mut goals = Vec::new();
    for &(record, samples) in &sizes.latency {
        append_latency(&opts.dir, record, samples, &mut rows, &mut goals)?;
    }
    group_commit(&opts.dir, sizes.concurrency, sizes.concurrency_rounds, &mut rows, &mut goals)?;
    let cold = recovery_scan(&opts.dir, sizes.recovery_bytes, !opts.quick, &mut rows, &mut goals)?;
    hardware.page_cache = if cold { "dropped" } else { "warm" }.into();
    Ok(Report { scenario: "wal".into(), hardware, rows, goals })
}

/// Interleaves durable appends of `record`-byte payloads with raw write+fdatasync of the same
/// number of bytes.
fn append_latency(
    dir: &Path,
    record: usize,
    samples: usize,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<(), BenchError> {
    let label = size_label(record);
    let (wal, _) = open(Arc::new(RealFs), &dir.join(format!("append-{record}")))?;
    let raw_path = dir.join(format!("raw-{record}"));
    let raw = RealFs.open(&raw_path, OpenMode::CreateNew).map_err(BenchError::io(&raw_path))?;
    let stride = (record + RECORD_HEADER) as u64;
    let total = stride * (WARMUP + samples) as u64;
    write_zeros(&*raw, 0, total).map_err(BenchError::io(&raw_path))?;
    raw.sync_data().map_err(BenchError::io(&raw_path))?;
    let payload = pseudo_random(record);
    let raw_bytes = pseudo_random(record + RECORD_HEADER);
    let (mut wal_times, mut raw_times) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + samples {
        let started = Instant::now();
        wal.append(1, &payload, Durability::Immediate)?;
        let wal_time = started.elapsed();
        let started = Instant::now();
        write_all_at(&*raw, &raw_bytes, i as u64 * stride).map_err(BenchError::io(&raw_path))?;
        raw.sync_data().map_err(BenchError::io(&raw_path))?;
        let raw_time = started.elapsed();
        if i >= WARMUP {
            wal_times.push(wal_time);
            raw_times.push(raw_time);
        }
    }
    let (w, r) = (Percentiles::of(&mut wal_times), Percentiles::of(&mut raw_times));
    let case = format!("append {label}");
    for (system, p) in [(WAL, w), ("raw write+fdatasync", r)] {
        rows.push(Row::new(system, &case, "p50", micros(p.p50), "us"));
        rows.push(Row::new(system, &case, "p99", micros(p.p99), "us"));
    }
    goals.push(Goal::at_most(
        format!("append p50 <= 1.3 x raw write+fdatasync ({label})"),
        ratio(w.p50.as_secs_f64(), r.p50.as_secs_f64()),
        1.3,
    ));
    Ok(())
}

/// Commits/s of 1, 4 and 16 threads appending 1 KiB records durably, `duration` each in total.
/// The cases take turns in `rounds` short windows, so that a drift in disk latency during the run
/// (a shared disk) affects them alike.
fn group_commit(
    dir: &Path,
    duration: Duration,
    rounds: u32,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<(), BenchError> {
    let mut cases = Vec::new();
    for threads in APPENDERS {
        let syncs = Arc::new(AtomicU64::new(0));
        let vfs = Arc::new(CountingFs { syncs: syncs.clone() });
        let (wal, _) = open(vfs, &dir.join(format!("commit-{threads}")))?;
        cases.push((threads, wal, syncs, Tally::default()));
    }
    for _ in 0..rounds {
        for (threads, wal, syncs, tally) in &mut cases {
            let syncs_before = syncs.load(Ordering::Relaxed);
            let cpu_before = system::process_cpu_time();
            let (commits, elapsed) = appenders(wal, *threads, duration / rounds)?;
            let cpu = system::process_cpu_time().zip(cpu_before).map(|(a, b)| a.saturating_sub(b));
            tally.commits += commits;
            tally.elapsed += elapsed;
            tally.fsyncs += syncs.load(Ordering::Relaxed) - syncs_before;
            tally.cpu += cpu.unwrap_or_default();
        }
    }
    let mut rates = Vec::new();
    for (threads, _, _, t) in &cases {
        let rate = t.commits as f64 / t.elapsed.as_secs_f64();
        let case = format!("1 KiB, {threads} appender{}", if *threads == 1 { "" } else { "s" });
        rows.push(Row::new(WAL, &case, "commits/s", rate, "1/s"));
        let per_fsync = ratio(t.commits as f64, t.fsyncs as f64);
        rows.push(Row::new(WAL, &case, "per fsync", per_fsync, "commits"));
        // CPU time has a resolution of 10 ms: a short quiet run may show none.
        if !t.cpu.is_zero() {
            let busy = t.cpu.as_secs_f64() / t.elapsed.as_secs_f64();
            rows.push(Row::new(WAL, &case, "cpu", busy, "cores busy"));
        }
        rates.push(rate);
    }
    goals.push(Goal::at_least(
        "16 appenders >= 8 x the commits/s of one".into(),
        ratio(rates[2], rates[0]),
        8.0,
    ));
    Ok(())
}

/// What the runs of one group-commit case added up to.
#[derive(Debug, Default)]
struct Tally {
    commits: u64,
    fsyncs: u64,
    elapsed: Duration,
    cpu: Duration,
}

/// Runs `threads` threads appending until `duration` has passed; returns commits and time taken.
fn appenders(wal: &Wal, threads: usize, duration: Duration) -> Result<(u64, Duration), BenchError> {
    let payload = pseudo_random(1 << 10);
    let start = Barrier::new(threads);
    let started = Instant::now();
    let counts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let deadline = Instant::now() + duration;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        wal.append(1, &payload, Durability::Immediate)?;
                        n += 1;
                    }
                    Ok::<u64, BenchError>(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Result<Vec<u64>, BenchError>>()
    })?;
    Ok((counts.iter().sum(), started.elapsed()))
}

/// Reopens a log of `bytes` bytes of records against a sequential read of its files. Returns
/// whether the page cache was dropped before each.
fn recovery_scan(
    dir: &Path,
    bytes: u64,
    drop_cache: bool,
    rows: &mut Vec<Row>,
    goals: &mut Vec<Goal>,
) -> Result<bool, BenchError> {
    let log = dir.join("recovery");
    let (wal, _) = open(Arc::new(RealFs), &log)?;
    let payload = pseudo_random(RECOVERY_RECORD);
    for _ in 0..bytes.div_ceil(RECOVERY_RECORD as u64) {
        wal.append(1, &payload, Durability::Buffered)?;
    }
    wal.sync()?;
    drop(wal);
    let files = segment_files(&log)?;
    let file_bytes: u64 = files.iter().map(|(_, len)| len).sum();
    let mut cold = drop_cache && system::drop_page_cache();
    if !cold {
        system::read_files(&files)?; // Both runs then start from the same warm cache.
    }
    let started = Instant::now();
    let mut touched = 0u64;
    let (wal, report) = Wal::open(Arc::new(RealFs), &log, WalOptions::default(), 1, &mut |r| {
        let first = r.payload.first().copied().unwrap_or(0);
        let last = r.payload.last().copied().unwrap_or(0);
        touched = touched.wrapping_add(u64::from(first ^ last) + r.payload.len() as u64);
    })?;
    let wal_time = started.elapsed();
    std::hint::black_box(touched);
    drop(wal);
    cold = cold && system::drop_page_cache();
    let started = Instant::now();
    system::read_files(&files)?;
    let raw_time = started.elapsed();
    let case = format!("reopen {} log", size_label(bytes as usize));
    let mib = file_bytes as f64 / f64::from(1 << 20);
    for (system, t) in [(WAL, wal_time), ("raw sequential read", raw_time)] {
        rows.push(Row::new(system, &case, "bandwidth", mib / t.as_secs_f64(), "MiB/s"));
        rows.push(Row::new(system, &case, "time", t.as_secs_f64(), "s"));
    }
    let scan_vs_read = ratio(raw_time.as_secs_f64(), wal_time.as_secs_f64());
    rows.push(Row::new(WAL, &case, "vs raw read", scan_vs_read, "x"));
    rows.push(Row::new(WAL, &case, "records", report.records as f64, "records"));
    rows.push(Row::new(WAL, &case, "file bytes", mib, "MiB"));
    goals.push(Goal::at_least(
        "recovery scan >= 80% of raw sequential read bandwidth".into(),
        scan_vs_read,
        0.8,
    ));
    Ok(cold)
}

fn open(
    vfs: Arc<dyn Vfs>,
    dir: &Path,
) -> Result<(Wal, chainstore_engine::wal::RecoveryReport), BenchError> {
    Ok(Wal::open(vfs, dir, WalOptions::default(), 1, &mut |_| {})?)
}

/// The segment files of the log in `dir` (every `*.wal` file), oldest first, with their lengths.
fn segment_files(dir: &Path) -> Result<Vec<(PathBuf, u64)>, BenchError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(BenchError::io(dir))? {
        let path = entry.map_err(BenchError::io(dir))?.path();
        if path.extension().is_some_and(|e| e == "wal") {
            let len = std::fs::metadata(&path).map_err(BenchError::io(&path))?.len();
            files.push((path, len));
        }
    }
    files.sort();
    Ok(files)
}

fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Incompressible-looking bytes (xorshift), so no layer can shortcut them.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// [`RealFs`] counting `fdatasync` calls, to see how many commits share one.
#[derive(Debug)]
struct CountingFs {
    syncs: Arc<AtomicU64>,
}

struct CountingFile {
    inner: Arc<dyn VfsFile>,
    syncs: Arc<AtomicU64>,
}

impl fmt::Debug for CountingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingFile").field("inner", &self.inner).finish()
    }
}

impl Vfs for CountingFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let inner = RealFs.open(path, mode)?;
        Ok(Arc::new(CountingFile { inner, syncs: self.syncs.clone() }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        RealFs.remove(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        RealFs.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn lock(&self, path: &Path, owner: &str) -> io::Result<Box<dyn LockGuard>> {
        RealFs.lock(path, owner)
    }
}

impl VfsFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}
