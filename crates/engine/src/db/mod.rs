//! The transactional database: snapshot-isolated transactions over a commit log, a memtable of
//! recent writes, and a background indexer that moves them into the backend in large batches.
//!
//! ```
//! use chainstore_engine::db::{Database, Options};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), Options::default()).unwrap();
//! let mut txn = db.begin_write();
//! txn.put("peers", b"node-1", b"10.0.0.1:30303").unwrap();
//! txn.commit().unwrap();
//! assert_eq!(db.begin_read().get("peers", b"node-1").unwrap().as_deref(), Some(&b"10.0.0.1:30303"[..]));
//! ```

mod error;
mod indexer;
mod memtable;
mod merge;
mod table;
mod txn;
mod writeset;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};

pub use self::error::{Error, Result};
use self::memtable::Memtable;
pub use self::merge::PairIter;
pub use self::table::{Codec, Table};
pub use self::txn::{ReadTxn, WriteTxn};
pub use self::writeset::{WriteOp, decode_write_set};
use crate::backend::{
    Backend, BackendError, BackendSnapshot, MemoryBackend, RedbBackend, RedbOptions,
};
use crate::vfs::{LockGuard, OpenMode, RealFs, Vfs, lock_owner, read_all, write_all_at};
use crate::wal::{self, Durability, Record, Wal, WalOptions};

/// Which backend the indexer writes into.
#[derive(Debug, Clone)]
pub enum BackendChoice {
    /// redb, in `<dir>/data.redb` (the default).
    Redb(RedbOptions),
    /// RocksDB, in `<dir>/rocksdb/` (cargo feature `rocksdb`).
    #[cfg(feature = "rocksdb")]
    Rocksdb(crate::backend::RocksdbOptions),
    /// An in-memory backend (tests); clones share data, so a test can reopen on it.
    Memory(MemoryBackend),
}

/// A backend or durability name that this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownName(String);

impl std::str::FromStr for BackendChoice {
    type Err = UnknownName;

    /// `redb` or `rocksdb` (in builds with the `rocksdb` feature), with default options: the
    /// names the CLI's `--backend` and the bindings' `backend` option take.
    fn from_str(name: &str) -> std::result::Result<Self, UnknownName> {
        match name {
            "redb" => Ok(Self::Redb(Default::default())),
            #[cfg(feature = "rocksdb")]
            "rocksdb" => Ok(Self::Rocksdb(Default::default())),
            #[cfg(not(feature = "rocksdb"))]
            "rocksdb" => Err(UnknownName(
                "this chainstore was built without the rocksdb backend (cargo feature `rocksdb`)"
                    .into(),
            )),
            other => Err(UnknownName(format!("unknown backend {other:?}: use redb or rocksdb"))),
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = UnknownName;

    /// `immediate` or `buffered`.
    fn from_str(name: &str) -> std::result::Result<Self, UnknownName> {
        match name {
            "immediate" => Ok(Self::Immediate),
            "buffered" => Ok(Self::Buffered),
            other => {
                Err(UnknownName(format!("unknown durability {other:?}: use immediate or buffered")))
            }
        }
    }
}

impl BackendChoice {
    /// The memory the backend may use for its own page or block cache, in bytes (none for the
    /// in-memory backend, whose data is all in memory).
    pub fn cache_bytes(&self) -> usize {
        match self {
            Self::Redb(o) => o.cache_bytes,
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb(o) => o.block_cache_bytes,
            Self::Memory(_) => 0,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Redb(_) => "redb",
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb(_) => "rocksdb",
            Self::Memory(_) => "memory",
        }
    }
}

/// Options of [`Database::open`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The file system (real by default; `FaultFs` in tests).
    pub vfs: Arc<dyn Vfs>,
    /// The backend.
    pub backend: BackendChoice,
    /// When a commit returns (default: durable).
    pub durability: Durability,
    /// Commit-log options (segment size, recovery mode).
    pub wal: WalOptions,
    /// Memory for writes not yet indexed; commits wait (backpressure) when it is full.
    pub memtable_bytes: usize,
    /// The indexer writes a batch once this many bytes are waiting ...
    pub index_batch_bytes: usize,
    /// ... or this long after the oldest unindexed commit.
    pub index_interval: Duration,
    /// Limit on the store's bytes on disk (backend plus commit log); commits with puts that
    /// would exceed it fail with [`Error::QuotaExceeded`].
    pub max_bytes: Option<u64>,
    /// Memory for the caches of the layer above the engine: the chain store keeps the head's
    /// trie nodes and hot flat state in this many bytes (0: nothing is kept between blocks).
    /// The engine itself does not use it.
    pub cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            vfs: Arc::new(RealFs),
            backend: BackendChoice::Redb(RedbOptions::default()),
            durability: Durability::Immediate,
            wal: WalOptions::default(),
            memtable_bytes: 256 << 20,
            index_batch_bytes: 16 << 20,
            index_interval: Duration::from_millis(200),
            max_bytes: None,
            cache_bytes: 512 << 20,
        }
    }
}

/// Counters and sizes of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Sequence number of the newest visible commit.
    pub visible_seq: u64,
    /// Sequence number of the newest commit in the backend.
    pub checkpoint: u64,
    /// Bytes held by the memtable.
    pub memtable_bytes: u64,
    /// Bytes of live commit log.
    pub wal_bytes: u64,
    /// Bytes of the backend on disk.
    pub backend_bytes: u64,
    /// The backend's name.
    pub backend: &'static str,
}

/// A transactional key-value database. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct Database {
    inner: Arc<Inner>,
    indexer: Option<JoinHandle<()>>,
}

const FORMAT_FILE: &str = "FORMAT";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    opts: Options,
    backend: Arc<dyn Backend>,
    log: Log,
    memtable: RwLock<Memtable>,
    /// The table names this process has seen, with their ids (memtable and write sets).
    tables: RwLock<writeset::Tables>,
    mem_bytes: AtomicU64,
    view: Mutex<View>,
    published: Condvar,
    commit: Mutex<Inflight>,
    room: Condvar,
    room_lock: Mutex<()>,
    indexer: Mutex<IndexerState>,
    indexer_wake: Condvar,
    indexed: Condvar,
    _lock: Box<dyn LockGuard>,
}

/// The commit log of an open database.
#[derive(Debug)]
enum Log {
    /// Opened for writing ([`Database::open`]).
    Writer(Wal),
    /// Read at a read-only open: `bytes` of records were read (from the checkpoint's position
    /// on, or the whole log).
    ReadOnly { bytes: u64 },
}

impl Log {
    fn live_bytes(&self) -> u64 {
        match self {
            Self::Writer(wal) => wal.live_bytes(),
            Self::ReadOnly { bytes } => *bytes,
        }
    }
}

/// What readers see: guarded by `Inner::view`.
#[derive(Debug)]
struct View {
    visible: u64,
    /// Durable commits above `visible` waiting for their predecessors, with their bytes.
    done: BTreeMap<u64, u64>,
    backend: Arc<dyn BackendSnapshot>,
    pins: BTreeMap<u64, usize>,
    /// Visible commits not yet in the backend, in sequence order, with their memtable bytes:
    /// the indexer takes a bounded prefix of them per batch.
    unindexed: VecDeque<(u64, u64)>,
}

/// Commits between their log submission and their memtable insertion.
#[derive(Debug, Default)]
struct Inflight {
    next_id: u64,
    writes: HashMap<u64, Arc<writeset::Writes>>,
}

#[derive(Debug, Default)]
struct IndexerState {
    flush_wanted: bool,
    shutdown: bool,
    /// The first error since the indexer's last successful batch (the cause; later retries
    /// may fail for its consequences, e.g. a backend that refuses writes after a failed one).
    error: Option<IndexerFailure>,
    /// Batches attempted, successful or not (a flush waits for one after its call).
    attempts: u64,
    oldest_unindexed: Option<Instant>,
    last_gc: Option<Instant>,
    stopped: bool,
}

/// Why the indexer is failing, as `flush` and `close` report it.
#[derive(Debug, Clone)]
enum IndexerFailure {
    /// The backend's disk (or a quota) is full: retries succeed once space is freed.
    OutOfSpace(String),
    /// Anything else.
    Other(String),
}

impl IndexerFailure {
    fn of(e: &Error) -> Self {
        match e {
            Error::Backend(BackendError::OutOfSpace(detail)) => Self::OutOfSpace(detail.clone()),
            other => Self::Other(other.to_string()),
        }
    }

    fn to_error(&self) -> Error {
        match self {
            Self::OutOfSpace(detail) => Error::Backend(BackendError::OutOfSpace(detail.clone())),
            Self::Other(message) => Error::Indexer(message.clone()),
        }
    }
}

/// Whether `path` exists. A read-only open of a store that crashed before its backend was
/// created (the `FORMAT` file is written first) reads an empty backend instead of creating one.
fn exists(vfs: &dyn Vfs, path: &Path) -> Result<bool> {
    match vfs.open(path, OpenMode::Read) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Io { path: path.to_path_buf(), source: e }),
    }
}

impl Database {
    /// Opens (creating if needed) the database in directory `path`: takes the directory lock,
    /// opens the backend, replays the commit log after the backend's checkpoint, and starts the
    /// indexer.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        Self::open_with(path.as_ref(), opts, false)
    }

    /// Opens an existing database for reading only, for queries: takes the directory lock,
    /// opens the backend, and reads the commit log records after the backend's checkpoint into
    /// the memtable, so that every acknowledged commit is visible, indexed or not. The log is
    /// read from the position stored with the checkpoint (where the indexer got to) when it
    /// checks out, so a caught-up store reads almost none of it; otherwise all of it.
    ///
    /// Nothing is written: no log repair (a torn tail is left for the next writer to zero), no
    /// indexing, no new segment; commits, [`Database::flush`] of unindexed commits and
    /// [`Database::compact`] fail with [`Error::ReadOnly`]. The one exception: if records
    /// after the checkpoint were read, their segment is synced (never changed), so that what a
    /// reader is shown survives a power cut. See `docs/recovery.md`.
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        Self::open_with(path.as_ref(), opts, true)
    }

    fn open_with(path: &Path, opts: Options, read_only: bool) -> Result<Self> {
        let path = path.to_path_buf();
        let vfs = opts.vfs.clone();
        if read_only {
            // Refuse a directory without a store before anything (the lock file) is created.
            check_format(&*vfs, &path, opts.backend.name(), false)?;
        } else {
            vfs.create_dir_all(&path).map_err(io_err(&path))?;
        }
        let lock_path = path.join("LOCK");
        let lock = vfs.lock(&lock_path, &format!("pid {}", std::process::id())).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked { path: path.clone(), owner: lock_owner(&*vfs, &lock_path) }
            } else {
                Error::Io { path: lock_path.clone(), source: e }
            }
        })?;
        check_format(&*vfs, &path, opts.backend.name(), !read_only)?;
        let backend: Arc<dyn Backend> = match &opts.backend {
            BackendChoice::Redb(o) => {
                let file = path.join("data.redb");
                match read_only {
                    false => Arc::new(RedbBackend::open(&*vfs, &file, *o)?),
                    true if !exists(&*vfs, &file)? => Arc::new(MemoryBackend::default()),
                    true => Arc::new(RedbBackend::open_read_only(&*vfs, &file, *o)?),
                }
            }
            #[cfg(feature = "rocksdb")]
            BackendChoice::Rocksdb(o) => {
                use crate::backend::RocksdbBackend;
                let dir = path.join("rocksdb");
                match read_only {
                    false => Arc::new(RocksdbBackend::open(&dir, *o)?),
                    true if !dir.join("CURRENT").exists() => Arc::new(MemoryBackend::default()),
                    true => Arc::new(RocksdbBackend::open_read_only(&dir, *o)?),
                }
            }
            BackendChoice::Memory(m) => Arc::new(m.clone()),
        };
        let snapshot = backend.snapshot()?;
        let checkpoint = snapshot.checkpoint();
        let mut replay = Replay::default();
        let log_dir = path.join("wal");
        let wal_opts = WalOptions { max_bytes: None, ..opts.wal };
        let (log, report) = if read_only {
            let hint = snapshot.log_position()?;
            let report = wal::read_from(
                &*vfs,
                &log_dir,
                wal_opts.recovery,
                checkpoint + 1,
                hint,
                &mut |r| replay.record(r),
            )?;
            (Log::ReadOnly { bytes: report.record_bytes }, report)
        } else {
            let (wal, report) =
                Wal::open(vfs.clone(), &log_dir, wal_opts, checkpoint + 1, &mut |r| {
                    replay.record(r)
                })?;
            (Log::Writer(wal), report)
        };
        let Replay { memtable, tables, bytes: replayed_bytes, bad_record } = replay;
        if let Some(e) = bad_record {
            return Err(e);
        }
        // Sequence numbers continue after the log's last record, never below the checkpoint.
        let visible = match &log {
            Log::Writer(wal) => wal.next_seq() - 1,
            Log::ReadOnly { .. } => report.seq_range.map_or(0, |r| r.1).max(checkpoint),
        };
        info!(target: "chainstore::db", path = %path.display(), checkpoint, replayed = report.replayed,
              visible, read_only, "database opened");
        if let Log::Writer(wal) = &log {
            wal.truncate_through(checkpoint)?;
        }
        let mem_bytes = AtomicU64::new(memtable.bytes() as u64);
        let inner = Arc::new(Inner {
            path,
            opts,
            backend,
            log,
            memtable: RwLock::new(memtable),
            tables: RwLock::new(tables),
            mem_bytes,
            view: Mutex::new(View {
                visible,
                done: BTreeMap::new(),
                backend: snapshot,
                pins: BTreeMap::new(),
                unindexed: replayed_bytes.into(),
            }),
            published: Condvar::new(),
            commit: Mutex::new(Inflight::default()),
            room: Condvar::new(),
            room_lock: Mutex::new(()),
            indexer: Mutex::new(IndexerState {
                oldest_unindexed: (visible > checkpoint).then(Instant::now),
                ..IndexerState::default()
            }),
            indexer_wake: Condvar::new(),
            indexed: Condvar::new(),
            _lock: lock,
        });
        let indexer = match read_only {
            true => None,
            false => Some(indexer::spawn(inner.clone()).map_err(io_err(&inner.path))?),
        };
        Ok(Self { inner, indexer })
    }

    /// A read snapshot of everything committed so far.
    pub fn begin_read(&self) -> ReadTxn {
        ReadTxn::new(self.inner.clone())
    }

    /// A write transaction: reads see its snapshot plus its own writes; [`WriteTxn::commit`]
    /// applies it atomically, or fails with [`Error::Conflict`]. Dropping it rolls it back.
    pub fn begin_write(&self) -> WriteTxn {
        WriteTxn::new(self.begin_read(), self.inner.opts.durability)
    }

    /// Waits until everything committed so far is in the backend.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Reclaims free space in the backend after a flush; returns whether anything changed.
    /// New snapshots wait while it runs; it fails if read snapshots are open (redb cannot
    /// compact under a reader).
    pub fn compact(&self) -> Result<bool> {
        self.inner.wal()?;
        self.flush()?;
        let mut view = self.inner.lock_view();
        // Release the cached backend snapshot (the only reader the engine itself holds); the
        // view lock keeps anyone from seeing the placeholder.
        let cached = std::mem::replace(&mut view.backend, MemoryBackend::new().snapshot()?);
        let checkpoint = cached.checkpoint();
        drop(cached);
        let result = self.inner.backend.compact();
        view.backend = self.inner.backend.snapshot()?;
        debug_assert_eq!(view.backend.checkpoint(), checkpoint);
        Ok(result?)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let view = self.inner.lock_view();
        Stats {
            visible_seq: view.visible,
            checkpoint: view.backend.checkpoint(),
            memtable_bytes: self.inner.mem_bytes.load(Ordering::Relaxed),
            wal_bytes: self.inner.log.live_bytes(),
            backend_bytes: self.inner.backend.disk_bytes(),
            backend: self.inner.backend.name(),
        }
    }

    /// How the backend's file is used, if the backend can tell (`chainstore stats`).
    pub fn page_usage(&self) -> Result<Option<crate::backend::PageUsage>> {
        Ok(self.inner.backend.page_usage()?)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops the indexer after it has indexed everything, and closes the database.
    ///
    /// The directory lock is released when the database and every transaction taken from it
    /// are gone: with no transaction alive, when `close` (or `drop`) returns, so the directory
    /// can be opened again at once. A transaction that outlives its database keeps the files
    /// open, and the lock held, until it is dropped.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        {
            let mut ix = self.inner.lock_indexer();
            ix.shutdown = true;
        }
        self.inner.indexer_wake.notify_all();
        if let Some(handle) = self.indexer.take() {
            let _ = handle.join();
        }
        match &self.inner.lock_indexer().error {
            Some(failure) => Err(failure.to_error()),
            None => Ok(()),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            warn!(target: "chainstore::db", error = %e, "closing the database");
        }
    }
}

/// The log records after the checkpoint, replayed into a fresh memtable at open.
#[derive(Default)]
struct Replay {
    memtable: Memtable,
    tables: writeset::Tables,
    /// Per record, its sequence number and memtable bytes (for the indexer's batches).
    bytes: Vec<(u64, u64)>,
    /// The first record that did not decode: the open fails with it.
    bad_record: Option<Error>,
}

impl Replay {
    fn record(&mut self, rec: Record<'_>) {
        if self.bad_record.is_some() {
            return;
        }
        match replay(rec.ty, rec.payload) {
            Ok(decoded) => {
                let before = self.memtable.bytes();
                let mut writes = writeset::Writes::new();
                for (name, ops) in decoded {
                    writes.entry(self.tables.intern(&name)).or_default().extend(ops);
                }
                self.memtable.insert(rec.seq, writes);
                self.bytes.push((rec.seq, (self.memtable.bytes() - before) as u64));
            }
            Err(detail) => self.bad_record = Some(Error::CorruptRecord { seq: rec.seq, detail }),
        }
    }
}

/// Decodes a replayed log record: per table name, its writes.
fn replay(ty: u8, payload: &[u8]) -> Result<writeset::Decoded, String> {
    if ty != writeset::WRITE_SET {
        return Err(format!("unknown record type {ty}"));
    }
    writeset::decode(payload)
}

/// Checks (or, in a new directory and if `create`, writes) the `FORMAT` file: format version and
/// backend.
fn check_format(vfs: &dyn Vfs, dir: &Path, backend: &str, create: bool) -> Result<()> {
    let path = dir.join(FORMAT_FILE);
    let expected = format!("chainstore {FORMAT_VERSION}\nbackend {backend}\n");
    match vfs.open(&path, OpenMode::Read) {
        Ok(file) => {
            let text =
                String::from_utf8_lossy(&read_all(&*file).map_err(io_err(&path))?).to_string();
            let mut lines = text.lines();
            let version = lines
                .next()
                .and_then(|l| l.strip_prefix("chainstore "))
                .and_then(|v| v.parse::<u32>().ok());
            let found =
                lines.next().and_then(|l| l.strip_prefix("backend ")).unwrap_or("?").to_string();
            let incompatible =
                |detail: String| Error::Incompatible { path: dir.to_path_buf(), detail };
            match version {
                Some(FORMAT_VERSION) => {}
                Some(v) if v > FORMAT_VERSION => {
                    return Err(incompatible(format!(
                        "written by a newer chainstore (format {v}); this build reads format {FORMAT_VERSION}"
                    )));
                }
                _ => {
                    return Err(incompatible(format!(
                        "{FORMAT_FILE} is not a chainstore format file"
                    )));
                }
            }
            if found == "rocksdb" && !cfg!(feature = "rocksdb") {
                return Err(incompatible(
                    "this store uses the rocksdb backend, and this chainstore was built without \
                     it; rebuild with the cargo feature `rocksdb`"
                        .into(),
                ));
            }
            if found != backend {
                return Err(incompatible(format!(
                    "this store uses the {found} backend, not {backend}; open it with --backend {found}"
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Err(Error::Incompatible {
            path: dir.to_path_buf(),
            detail: format!(
                "not a chainstore store ({FORMAT_FILE} is missing); a read-only open does \
                     not create one"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
            let _ = vfs.remove(&tmp);
            let file = vfs.open(&tmp, OpenMode::CreateNew).map_err(io_err(&tmp))?;
            write_all_at(&*file, expected.as_bytes(), 0).map_err(io_err(&tmp))?;
            file.sync_data().map_err(io_err(&tmp))?;
            vfs.rename(&tmp, &path).map_err(io_err(&path))?;
            vfs.sync_dir(dir).map_err(io_err(dir))?;
            Ok(())
        }
        Err(e) => Err(Error::Io { path, source: e }),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl Inner {
    /// The log writer; [`Error::ReadOnly`] for a read-only database.
    fn wal(&self) -> Result<&Wal> {
        match &self.log {
            Log::Writer(wal) => Ok(wal),
            Log::ReadOnly { .. } => Err(Error::ReadOnly { path: self.path.clone() }),
        }
    }

    fn lock_view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_indexer(&self) -> MutexGuard<'_, IndexerState> {
        self.indexer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tables(&self) -> std::sync::RwLockReadGuard<'_, writeset::Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of table `name`, if this process has seen it.
    fn table_id(&self, name: &str) -> Option<writeset::TableId> {
        self.lock_tables().id(name)
    }

    /// The id of table `name`, giving it one if it has none.
    fn intern_table(&self, name: &str) -> writeset::TableId {
        if let Some(id) = self.table_id(name) {
            return id;
        }
        self.tables.write().unwrap_or_else(|e| e.into_inner()).intern(name)
    }

    /// Takes a consistent (sequence number, backend snapshot) pair and pins the snapshot's
    /// checkpoint so the memtable keeps every version it does not contain.
    fn pin(&self) -> (u64, Arc<dyn BackendSnapshot>) {
        let mut view = self.lock_view();
        let backend = view.backend.clone();
        *view.pins.entry(backend.checkpoint()).or_insert(0) += 1;
        (view.visible, backend)
    }

    fn unpin(&self, checkpoint: u64) {
        let mut view = self.lock_view();
        if let Some(n) = view.pins.get_mut(&checkpoint) {
            *n -= 1;
            if *n == 0 {
                view.pins.remove(&checkpoint);
            }
        }
    }

    /// Makes commit `seq` visible once every commit before it is, and waits for that.
    fn publish(&self, seq: u64, bytes: u64) {
        let mut view = self.lock_view();
        view.done.insert(seq, bytes);
        let next =
            |view: &View| view.done.first_key_value().map(|(s, _)| *s) == Some(view.visible + 1);
        while next(&view) {
            if let Some((seq, bytes)) = view.done.pop_first() {
                view.visible = seq;
                view.unindexed.push_back((seq, bytes));
            }
        }
        self.published.notify_all();
        while view.visible < seq {
            view = self.published.wait(view).unwrap_or_else(|e| e.into_inner());
        }
        drop(view);
        let mut ix = self.lock_indexer();
        ix.oldest_unindexed.get_or_insert_with(Instant::now);
    }

    /// Backpressure: while the memtable is over its budget and the indexer has work that would
    /// free it, waits for the indexer. Memory held only by versions that live read snapshots
    /// still need cannot be freed by waiting (the waiting transaction's own snapshot may be one
    /// of them), so then the commit goes ahead: the budget bounds unindexed data, not snapshots.
    fn wait_for_room(&self) {
        let limit = self.opts.memtable_bytes as u64;
        let over = || self.mem_bytes.load(Ordering::Relaxed) > limit;
        if !over() {
            return;
        }
        let started = Instant::now();
        let mut guard = self.room_lock.lock().unwrap_or_else(|e| e.into_inner());
        while over() && self.indexing_can_free_memory() {
            self.indexer_wake.notify_all();
            guard = self
                .room
                .wait_timeout(guard, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(guard);
        metrics::histogram!("chainstore_db_backpressure_seconds").record(started.elapsed());
    }

    /// Whether there are commits the indexer has not written yet (and it is not failing).
    fn indexing_can_free_memory(&self) -> bool {
        let pending = {
            let view = self.lock_view();
            view.visible > view.backend.checkpoint()
        };
        pending && self.lock_indexer().error.is_none()
    }

    fn flush(&self) -> Result<()> {
        let target = self.lock_view().visible;
        if self.lock_view().backend.checkpoint() >= target {
            return Ok(());
        }
        self.wal()?;
        let mut ix = self.lock_indexer();
        // A failure is reported only from an attempt made after this call: each flush asks
        // for one, so after a failure (a full disk, since freed) a flush retries.
        let attempts = ix.attempts;
        loop {
            if self.lock_view().backend.checkpoint() >= target {
                return Ok(());
            }
            if ix.attempts > attempts
                && let Some(failure) = &ix.error
            {
                return Err(failure.to_error());
            }
            if ix.stopped {
                return Err(Error::Indexer("the indexer has stopped".into()));
            }
            ix.flush_wanted = true;
            self.indexer_wake.notify_all();
            ix = self
                .indexed
                .wait_timeout(ix, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Quota: the store's bytes on disk plus what this commit adds must stay under the limit.
    fn check_quota(&self, needed: u64, has_puts: bool) -> Result<()> {
        let (Some(limit), true) = (self.opts.max_bytes, has_puts) else { return Ok(()) };
        let used = self.backend.disk_bytes() + self.log.live_bytes();
        if used + needed > limit {
            metrics::counter!("chainstore_db_quota_rejections_total").increment(1);
            return Err(Error::QuotaExceeded { used, needed, limit });
        }
        Ok(())
    }
}
