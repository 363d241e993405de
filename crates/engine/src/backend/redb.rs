//! The redb backend (the default): one table per engine table, plus a metadata table holding the
//! checkpoint, written in the same redb transaction as the data. redb's file goes through the
//! [`Vfs`], so the power-loss tests on `FaultFs` cover it too.

use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{ReadableDatabase, ReadableTable, StorageBackend, TableDefinition, TableHandle};

use super::{
    Backend, BackendError, BackendIter, BackendSnapshot, Checkpoint, KeyRange, Op, PageUsage,
    io_error,
};
use crate::vfs::{OpenMode, Vfs, VfsFile, read_exact_at, write_all_at};
use crate::wal::LogPosition;

/// The table that holds the checkpoint (a reserved name: engine tables cannot start with `__`).
const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("__chainstore_meta");
const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// Where in the commit log a record at or before the checkpoint starts ([`LogPosition`]).
const LOG_POSITION_KEY: &[u8] = b"log_position";

type BytesTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Options of the redb backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// redb's page cache, in bytes. Half of it at most holds a write transaction's dirty pages;
    /// a transaction that dirties more writes pages out early and reads them back before it
    /// commits, so the default leaves room for the indexer's largest batch (see
    /// `docs/design.md`, "Backend cache").
    pub cache_bytes: usize,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self { cache_bytes: 1 << 30 }
    }
}

/// The redb backend.
pub struct RedbBackend {
    /// `None` only while the database is being reopened after a failed write (see
    /// [`RedbBackend::reopen`]), or after a reopen failed (then every call fails until one
    /// succeeds).
    db: RwLock<Option<Handle>>,
    file: Arc<dyn VfsFile>,
    opts: RedbOptions,
    path: PathBuf,
}

/// redb's handle on the file: read-write, or read-only (for a read-only open of a file that was
/// closed cleanly, so that nothing is written to it).
enum Handle {
    Writer(redb::Database),
    Reader(redb::ReadOnlyDatabase),
}

impl Handle {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Self::Writer(db) => db.begin_read(),
            Self::Reader(db) => db.begin_read(),
        }
    }
}

impl fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackend").finish_non_exhaustive()
    }
}

impl RedbBackend {
    /// Opens (creating if needed) the redb file at `path`.
    ///
    /// A new file is initialized under a temporary name and renamed into place, so a crash
    /// during creation never leaves a half-initialized database behind.
    pub fn open(vfs: &dyn Vfs, path: &Path, opts: RedbOptions) -> Result<Self, BackendError> {
        let file = match vfs.open(path, OpenMode::ReadWrite) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_initialized(vfs, path, opts)?;
                vfs.open(path, OpenMode::ReadWrite).map_err(|e| io_error(path, &e))?
            }
            Err(e) => return Err(io_error(path, &e)),
        };
        let db = open_writer(&file, path, opts)?;
        Ok(Self { db: RwLock::new(Some(Handle::Writer(db))), file, opts, path: path.into() })
    }

    /// Opens the existing redb file at `path` for reading (an error if there is none): without
    /// writing to it if it was closed cleanly. A file left by a crash needs redb's repair, which writes (the allocator
    /// state, the header): then it is opened as by [`RedbBackend::open`], repaired, and only
    /// read from. [`Backend::apply`] and [`Backend::compact`] fail on a read-only handle.
    pub fn open_read_only(
        vfs: &dyn Vfs,
        path: &Path,
        opts: RedbOptions,
    ) -> Result<Self, BackendError> {
        let file = vfs.open(path, OpenMode::Read).map_err(|e| io_error(path, &e))?;
        let handle = match redb::Database::builder()
            .set_cache_size(opts.cache_bytes)
            .open_read_only_with_backend(VfsStorage::new(file.clone()))
        {
            Ok(db) => Handle::Reader(db),
            Err(redb::DatabaseError::RepairAborted) => {
                tracing::info!(target: "chainstore::backend", path = %path.display(),
                    "redb's file was not closed cleanly: opening it to repair it");
                drop(file);
                return Self::open(vfs, path, opts);
            }
            Err(e) => return Err(map_err(e)),
        };
        Ok(Self { db: RwLock::new(Some(handle)), file, opts, path: path.into() })
    }

    /// Calls `f` with redb's handle.
    fn handle<T>(&self, f: impl FnOnce(&Handle) -> T) -> Result<T, BackendError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        db.as_ref().map(f).ok_or_else(|| {
            BackendError::Other(format!(
                "{}: redb could not be reopened after a failed write; reopen the store",
                self.path.display()
            ))
        })
    }

    /// After a write failed on an I/O error: redb then refuses every later storage operation
    /// (it cannot know what of its state reached the file), so the only way on is a new
    /// handle. The old one is closed first (its failed state keeps it from writing), then the
    /// file is opened again, with redb's repair; what the failed transaction wrote is not part
    /// of any commit. If the reopen fails (the disk is still full), the next call tries again.
    /// Snapshots taken from the old handle fail their reads from then on (redb closed it), so
    /// while the disk stays full, reads that reach the backend may fail now and then; the
    /// engine gives new readers a snapshot of the new handle.
    fn reopen(&self) {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !matches!(*db, None | Some(Handle::Writer(_))) {
            return;
        }
        drop(db.take());
        match open_writer(&self.file, &self.path, self.opts) {
            Ok(new) => *db = Some(Handle::Writer(new)),
            Err(e) => tracing::warn!(target: "chainstore::backend", path = %self.path.display(),
                error = %e, "reopening redb after a failed write failed; retrying on the next batch"),
        }
    }
}

/// Writes `ops` and the checkpoint in one redb transaction.
fn write_batch(db: &redb::Database, ops: &[Op], checkpoint: Checkpoint) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    let mut i = 0;
    while i < ops.len() {
        let name = ops[i].0.clone();
        let def: BytesTable<'_> = TableDefinition::new(&name);
        let mut table = txn.open_table(def)?;
        while i < ops.len() && ops[i].0 == name {
            match &ops[i].2 {
                Some(v) => drop(table.insert(&*ops[i].1, &**v)?),
                None => drop(table.remove(&*ops[i].1)?),
            }
            i += 1;
        }
    }
    {
        let mut meta = txn.open_table(META)?;
        let seq = checkpoint.seq.to_be_bytes();
        meta.insert(CHECKPOINT_KEY, seq.as_slice())?;
        let position = checkpoint.position.map(|p| p.encode());
        match &position {
            Some(p) => drop(meta.insert(LOG_POSITION_KEY, p.as_slice())?),
            None => drop(meta.remove(LOG_POSITION_KEY)?),
        }
    }
    txn.commit()?;
    Ok(())
}

fn read_only(path: &Path) -> BackendError {
    BackendError::Other(format!("{}: redb is open read-only", path.display()))
}

fn open_writer(
    file: &Arc<dyn VfsFile>,
    path: &Path,
    opts: RedbOptions,
) -> Result<redb::Database, BackendError> {
    redb::Database::builder()
        .set_cache_size(opts.cache_bytes)
        .create_with_backend(VfsStorage::new(file.clone()))
        .map_err(|e| match map_err(e) {
            BackendError::Other(detail) => {
                BackendError::Corrupt(format!("{}: {detail}", path.display()))
            }
            other => other,
        })
}

impl Backend for RedbBackend {
    fn snapshot(&self) -> Result<Arc<dyn BackendSnapshot>, BackendError> {
        let txn = self.handle(Handle::begin_read)?.map_err(map_err)?;
        let checkpoint = match txn.open_table(META) {
            Ok(t) => read_checkpoint(&t)?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(map_err(e)),
        };
        Ok(Arc::new(RedbSnapshot { txn, checkpoint, tables: RwLock::default() }))
    }

    fn apply(&self, ops: &[Op], checkpoint: Checkpoint) -> Result<(), BackendError> {
        if self.db.read().unwrap_or_else(|e| e.into_inner()).is_none() {
            self.reopen();
        }
        let written = self.handle(|h| match h {
            Handle::Writer(db) => Ok(write_batch(db, ops, checkpoint)),
            Handle::Reader(_) => Err(read_only(&self.path)),
        })??;
        written.map_err(|e| {
            if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
                self.reopen();
            }
            map_err(e)
        })
    }

    fn disk_bytes(&self) -> u64 {
        self.file.len().unwrap_or(0)
    }

    fn compact(&self) -> Result<bool, BackendError> {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        match &mut *db {
            Some(Handle::Writer(db)) => db.compact().map_err(map_err),
            Some(Handle::Reader(_)) => Err(read_only(&self.path)),
            None => Err(BackendError::Other(format!(
                "{}: redb could not be reopened after a failed write; reopen the store",
                self.path.display()
            ))),
        }
    }

    fn name(&self) -> &'static str {
        "redb"
    }

    /// redb's statistics, from a write transaction that is then rolled back (redb computes
    /// them only there); none on a read-only handle.
    fn page_usage(&self) -> Result<Option<PageUsage>, BackendError> {
        self.handle(|h| match h {
            Handle::Writer(db) => {
                let txn = db.begin_write().map_err(map_err)?;
                let stats = txn.stats().map_err(map_err)?;
                txn.abort().map_err(map_err)?;
                Ok(Some(PageUsage {
                    page_size: stats.page_size() as u64,
                    allocated_pages: stats.allocated_pages(),
                    leaf_pages: stats.leaf_pages(),
                    branch_pages: stats.branch_pages(),
                    stored_bytes: stats.stored_bytes(),
                    metadata_bytes: stats.metadata_bytes(),
                    fragmented_bytes: stats.fragmented_bytes(),
                }))
            }
            Handle::Reader(_) => Ok(None),
        })?
    }
}

/// Creates an empty redb database at `path` via a temporary file, renamed once it is durable.
fn create_initialized(vfs: &dyn Vfs, path: &Path, opts: RedbOptions) -> Result<(), BackendError> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    match vfs.remove(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&tmp, &e)),
    }
    let file = vfs.open(&tmp, OpenMode::CreateNew).map_err(|e| io_error(&tmp, &e))?;
    let db = redb::Database::builder()
        .set_cache_size(opts.cache_bytes)
        .create_with_backend(VfsStorage::new(file.clone()))
        .map_err(|e| BackendError::Other(format!("{}: {e}", tmp.display())))?;
    drop(db);
    file.sync_data().map_err(|e| io_error(&tmp, &e))?;
    vfs.rename(&tmp, path).map_err(|e| io_error(path, &e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    vfs.sync_dir(dir).map_err(|e| io_error(dir, &e))
}

fn read_checkpoint(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
) -> Result<u64, BackendError> {
    let Some(v) = t.get(CHECKPOINT_KEY).map_err(map_err)? else { return Ok(0) };
    let bytes: [u8; 8] = v
        .value()
        .try_into()
        .map_err(|_| BackendError::Corrupt("checkpoint is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// A redb read transaction with the tables opened so far.
struct RedbSnapshot {
    txn: redb::ReadTransaction,
    checkpoint: u64,
    tables: RwLock<std::collections::HashMap<String, Option<ReadTable>>>,
}

impl fmt::Debug for RedbSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbSnapshot").field("checkpoint", &self.checkpoint).finish_non_exhaustive()
    }
}

type ReadTable = Arc<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>;
type Guard = redb::AccessGuard<'static, &'static [u8]>;
type RangeItem = Result<(Guard, Guard), redb::StorageError>;

impl RedbSnapshot {
    fn table(&self, name: &str) -> Result<Option<ReadTable>, BackendError> {
        if let Some(t) = self.tables.read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(t.clone());
        }
        let def: BytesTable<'_> = TableDefinition::new(name);
        let table = match self.txn.open_table(def) {
            Ok(t) => Some(Arc::new(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(map_err(e)),
        };
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        tables.insert(name.to_string(), table.clone());
        Ok(table)
    }
}

impl BackendSnapshot for RedbSnapshot {
    fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    fn log_position(&self) -> Result<Option<LogPosition>, BackendError> {
        let meta = match self.txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(map_err(e)),
        };
        let value = meta.get(LOG_POSITION_KEY).map_err(map_err)?;
        Ok(value.and_then(|v| LogPosition::decode(v.value())))
    }

    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let Some(t) = self.table(table)? else { return Ok(None) };
        Ok(t.get(key).map_err(map_err)?.map(|v| v.value().to_vec()))
    }

    fn range(
        &self,
        table: &str,
        range: &KeyRange,
        reverse: bool,
    ) -> Result<BackendIter, BackendError> {
        let Some(t) = self.table(table)? else { return Ok(Box::new(std::iter::empty())) };
        if range.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = range.as_slices();
        let iter = t.range::<&[u8]>(bounds).map_err(map_err)?;
        let pair = |r: RangeItem| {
            r.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).map_err(map_err)
        };
        if reverse { Ok(Box::new(iter.rev().map(pair))) } else { Ok(Box::new(iter.map(pair))) }
    }

    fn tables(&self) -> Result<Vec<String>, BackendError> {
        let mut names: Vec<String> = self
            .txn
            .list_tables()
            .map_err(map_err)?
            .map(|h| h.name().to_string())
            .filter(|n| !n.starts_with("__"))
            .collect();
        names.sort();
        Ok(names)
    }
}

fn map_err(e: impl Into<redb::Error>) -> BackendError {
    match e.into() {
        redb::Error::Corrupted(m) => BackendError::Corrupt(m),
        redb::Error::Io(io) if crate::vfs::is_out_of_space(&io) => {
            BackendError::OutOfSpace(io.to_string())
        }
        other => BackendError::Other(other.to_string()),
    }
}

/// redb's storage interface over a [`VfsFile`].
#[derive(Debug)]
struct VfsStorage(Arc<dyn VfsFile>);

impl VfsStorage {
    /// redb reads its file a page at a time at random offsets, into a cache of its own: the
    /// file is marked for random access ([`VfsFile::advise_random`]), so that reads bring in no
    /// neighbours, and no large page-cache folios that make redb's 4 KiB page writes slow.
    fn new(file: Arc<dyn VfsFile>) -> Self {
        file.advise_random();
        Self(file)
    }
}

impl StorageBackend for VfsStorage {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        read_exact_at(&*self.0, out, offset)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        write_all_at(&*self.0, data, offset)
    }
}
