//! The redb backend (the default): one table per engine table, plus a metadata table holding the
//! checkpoint, written in the same redb transaction as the data. redb's file goes through the
//! [`Vfs`], so the power-loss tests on `FaultFs` cover it too.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use redb::{ReadableDatabase, ReadableTable, StorageBackend, TableDefinition, TableHandle};

use super::{
    Backend, BackendError, BackendIter, BackendSnapshot, Checkpoint, KeyRange, Op, io_error,
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

/// redb's storage interface over a [`VfsFile`], combining writes.
///
/// redb writes a transaction's dirty pages one 4 KiB `write` each, in no particular order: at 1M
/// accounts an indexer batch is thousands of them per block, and the system calls were a third
/// of the indexer's CPU (`docs/performance.md`). Writes are kept here until `sync_data` (or
/// until [`MAX_PENDING`] bytes are kept), then written sorted, adjacent ones as one `write`.
/// Durability is unchanged: redb counts on nothing it wrote before a `sync_data` surviving a
/// crash, and every write reaches the file before the `sync_data` that follows it returns.
/// Reads, `len`, `set_len` and `close` see (or first write out) what is kept.
#[derive(Debug)]
struct VfsStorage {
    file: Arc<dyn VfsFile>,
    pending: Mutex<Pending>,
}

/// Writes not yet made, by offset, none overlapping.
#[derive(Debug, Default)]
struct Pending {
    writes: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
    /// One past the highest byte of any kept write.
    end: u64,
}

/// At most this much is kept before it is written out.
const MAX_PENDING: usize = 32 << 20;

/// The largest single `write` made of adjacent kept writes.
const MAX_RUN: usize = 4 << 20;

impl VfsStorage {
    fn new(file: Arc<dyn VfsFile>) -> Self {
        Self { file, pending: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes out everything kept: sorted, adjacent writes joined up to [`MAX_RUN`] bytes. On an
    /// error, what was not written is dropped: redb treats any failed write as the end of the
    /// handle (it must be opened again, which reads the file as it is).
    fn write_out(&self, pending: &mut Pending) -> Result<(), io::Error> {
        let writes = std::mem::take(&mut pending.writes);
        (pending.bytes, pending.end) = (0, 0);
        let mut run: Vec<u8> = Vec::new();
        let mut run_at = 0u64;
        for (offset, data) in writes {
            if !run.is_empty() && (run_at + run.len() as u64 != offset || run.len() >= MAX_RUN) {
                write_all_at(&*self.file, &run, run_at)?;
                run.clear();
            }
            if run.is_empty() {
                run_at = offset;
            }
            run.extend_from_slice(&data);
        }
        if !run.is_empty() {
            write_all_at(&*self.file, &run, run_at)?;
        }
        Ok(())
    }
}

/// Whether any kept write overlaps `[offset, offset + len)`.
fn overlaps(writes: &BTreeMap<u64, Vec<u8>>, offset: u64, len: u64) -> bool {
    let end = offset.saturating_add(len);
    let before = writes.range(..offset).next_back();
    before.is_some_and(|(&at, data)| at + data.len() as u64 > offset)
        || writes.range(offset..end).next().is_some()
}

impl StorageBackend for VfsStorage {
    fn len(&self) -> Result<u64, io::Error> {
        let end = self.lock().end;
        Ok(self.file.len()?.max(end))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        {
            let mut pending = self.lock();
            if overlaps(&pending.writes, offset, out.len() as u64) {
                self.write_out(&mut pending)?;
            }
        }
        match read_exact_at(&*self.file, out, offset) {
            // Past the file's end but not past a kept write's: the gap a kept write past the
            // end leaves reads as zeros once it is written.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && offset < self.lock().end => {
                let mut pending = self.lock();
                self.write_out(&mut pending)?;
                drop(pending);
                read_exact_at(&*self.file, out, offset)
            }
            result => result,
        }
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut pending = self.lock();
        self.write_out(&mut pending)?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut pending = self.lock();
        self.write_out(&mut pending)?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut pending = self.lock();
        if overlaps(&pending.writes, offset, data.len() as u64) {
            self.write_out(&mut pending)?;
        }
        pending.bytes += data.len();
        pending.end = pending.end.max(offset + data.len() as u64);
        pending.writes.insert(offset, data.to_vec());
        if pending.bytes >= MAX_PENDING {
            self.write_out(&mut pending)?;
        }
        Ok(())
    }

    fn close(&self) -> Result<(), io::Error> {
        let mut pending = self.lock();
        self.write_out(&mut pending)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use crate::vfs::FaultFs;

    /// Random writes (many adjacent, some overlapping kept ones, some past the end), reads,
    /// length changes and syncs through the combining storage against a plain byte vector:
    /// every read and length is the model's, and after each sync the file holds the model.
    #[test]
    fn combined_writes_read_and_sync_as_plain_ones() {
        let fs = FaultFs::new();
        let path = Path::new("/d/data.redb");
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.open(path, OpenMode::CreateNew).unwrap();
        let storage = VfsStorage::new(file);
        let mut model: Vec<u8> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for step in 0..20_000u64 {
            let page = 4096u64;
            match next(100) {
                0..=69 => {
                    // A page (or a few) at a random page, now and then past the end.
                    let at = next(64) * page + if next(10) == 0 { next(page) } else { 0 };
                    let len = (next(3) + 1) * page - if next(8) == 0 { next(100) } else { 0 };
                    let byte = (step % 251) as u8;
                    let data = vec![byte; len as usize];
                    let end = (at + len) as usize;
                    if model.len() < end {
                        model.resize(end, 0);
                    }
                    model[at as usize..end].copy_from_slice(&data);
                    storage.write(at, &data).unwrap();
                }
                70..=84 if !model.is_empty() => {
                    let at = next(model.len() as u64);
                    let len = next((model.len() as u64 - at).min(3 * page)) + 1;
                    let mut out = vec![0u8; len as usize];
                    storage.read(at, &mut out).unwrap();
                    assert_eq!(out, model[at as usize..(at + len) as usize], "step {step}");
                }
                85..=89 => {
                    let len = next(70 * page);
                    model.resize(len as usize, 0);
                    storage.set_len(len).unwrap();
                }
                _ => {
                    storage.sync_data().unwrap();
                    assert_eq!(fs.contents(path).unwrap(), model, "step {step}: after sync");
                }
            }
            assert_eq!(storage.len().unwrap(), model.len() as u64, "step {step}: len");
        }
    }
}
