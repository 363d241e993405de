//! The RocksDB backend (cargo feature `rocksdb`): one column family per engine table, created on
//! its first write and found again on open, and the checkpoint in the `default` column family,
//! written in the same `WriteBatch` as the data.
//!
//! Durability: every batch is written with RocksDB's WAL enabled and `sync = true`, so when
//! [`Backend::apply`] returns the batch and its checkpoint are on disk together, and the engine
//! may truncate its commit log through that checkpoint. (The alternative — WAL off, then a
//! memtable flush before truncating — writes less, but costs an L0 file per column family per
//! batch and a second ordering rule; indexer batches are large, so one WAL fsync per batch is
//! cheap.)
//!
//! RocksDB does its own file I/O, so it bypasses the [`Vfs`](crate::vfs::Vfs): the power-loss
//! tests on `FaultFs` cannot cover it. The SIGKILL, reopen, conformance and disk-full tests do.
//!
//! Files: mode 0600 like chainstore's own, through a default ACL on the directory
//! (`private_dir.rs` says why not the umask).

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType,
    DBRawIteratorWithThreadMode, MultiThreaded, ReadOptions, SnapshotWithThreadMode, WriteBatch,
    WriteOptions,
};

use super::{
    Backend, BackendError, BackendIter, BackendSnapshot, Checkpoint, KeyRange, Op, io_error,
    private_dir,
};
use crate::wal::LogPosition;

type Db = rocksdb::DBWithThreadMode<MultiThreaded>;
type Snap<'a> = SnapshotWithThreadMode<'a, Db>;
type RawIter<'a> = DBRawIteratorWithThreadMode<'a, Db>;

/// Column families of engine tables are named `t/<table>`: the `default` column family (which
/// RocksDB always has) holds the checkpoint, and no table name can collide with it.
const TABLE_CF_PREFIX: &str = "t/";
const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// Where in the commit log a record at or before the checkpoint starts ([`LogPosition`]).
const LOG_POSITION_KEY: &[u8] = b"log_position";

/// A compression algorithm for RocksDB's data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4: fast, moderate ratio.
    Lz4,
    /// Zstandard: slower, better ratio.
    Zstd,
}

impl Compression {
    fn rocksdb(self) -> DBCompressionType {
        match self {
            Self::None => DBCompressionType::None,
            Self::Lz4 => DBCompressionType::Lz4,
            Self::Zstd => DBCompressionType::Zstd,
        }
    }
}

/// Options of the RocksDB backend. The defaults suit a node's workload (large sorted batches
/// from the indexer, random point reads of state): see `docs/backends.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocksdbOptions {
    /// The block cache shared by every column family, in bytes (default 256 MiB, the same
    /// memory as redb's default page cache).
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key (default 10: about 1% false positives); 0 turns filters off.
    pub bloom_bits_per_key: u32,
    /// Compression of every level but the last (default LZ4).
    pub compression: Compression,
    /// Compression of the last level, which holds most of the data (default Zstd).
    pub bottommost_compression: Compression,
    /// Memtable size of each column family, in bytes (default 64 MiB); all memtables together
    /// are capped at four times this.
    pub write_buffer_bytes: usize,
    /// Background flush and compaction threads (default: the number of CPUs, at least 2).
    pub background_jobs: u32,
}

impl Default for RocksdbOptions {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            block_cache_bytes: 256 << 20,
            bloom_bits_per_key: 10,
            compression: Compression::Lz4,
            bottommost_compression: Compression::Zstd,
            write_buffer_bytes: 64 << 20,
            background_jobs: cpus.max(2) as u32,
        }
    }
}

impl RocksdbOptions {
    /// RocksDB's database-wide options (which include those of the `default` column family).
    fn db_options(&self, cf_options: &rocksdb::Options) -> rocksdb::Options {
        let mut o = cf_options.clone();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        o.set_max_background_jobs(self.background_jobs.clamp(1, i32::MAX as u32) as i32);
        o.set_db_write_buffer_size(self.write_buffer_bytes.saturating_mul(4));
        o.set_bytes_per_sync(1 << 20);
        o.set_keep_log_file_num(4); // RocksDB's own info logs, not data
        o
    }

    /// The options of one column family, with the shared block cache.
    fn cf_options(&self, cache: &Cache) -> rocksdb::Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(cache);
        if self.bloom_bits_per_key > 0 {
            table.set_bloom_filter(f64::from(self.bloom_bits_per_key), false);
        }
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let mut o = rocksdb::Options::default();
        o.set_block_based_table_factory(&table);
        o.set_compression_type(self.compression.rocksdb());
        o.set_bottommost_compression_type(self.bottommost_compression.rocksdb());
        o.set_write_buffer_size(self.write_buffer_bytes);
        o.set_level_compaction_dynamic_level_bytes(true);
        o
    }
}

/// The RocksDB backend.
pub struct RocksdbBackend {
    db: Arc<Db>,
    path: PathBuf,
    cf_options: rocksdb::Options,
    /// Names of the tables that have a column family.
    tables: RwLock<BTreeSet<String>>,
}

impl fmt::Debug for RocksdbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksdbBackend").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RocksdbBackend {
    /// Opens (creating if needed) the RocksDB database in directory `path`, with a column
    /// family for every table it already has.
    pub fn open(path: &Path, opts: RocksdbOptions) -> Result<Self, BackendError> {
        Self::open_with(path, opts, false, |_| {})
    }

    /// Opens the existing store at `path` for reading, with RocksDB's read-only mode: nothing
    /// in the directory is created or changed (no new MANIFEST, log or info log, no flush or
    /// compaction). [`Backend::apply`] and [`Backend::compact`] fail.
    pub fn open_read_only(path: &Path, opts: RocksdbOptions) -> Result<Self, BackendError> {
        Self::open_with(path, opts, true, |_| {})
    }

    /// [`Self::open`], with a last change to RocksDB's options (tests turn statistics on).
    fn open_with(
        path: &Path,
        opts: RocksdbOptions,
        read_only: bool,
        tweak: impl FnOnce(&mut rocksdb::Options),
    ) -> Result<Self, BackendError> {
        if !read_only {
            private_dir::make_private(path).map_err(|e| io_error(path, &e))?;
        }
        let cache = Cache::new_lru_cache(opts.block_cache_bytes);
        let cf_options = opts.cf_options(&cache);
        let mut db_options = opts.db_options(&cf_options);
        tweak(&mut db_options);
        let existing = if path.join("CURRENT").exists() {
            Db::list_cf(&db_options, path).map_err(|e| map_err(path, e))?
        } else {
            Vec::new()
        };
        let tables: BTreeSet<String> = existing
            .iter()
            .filter_map(|cf| cf.strip_prefix(TABLE_CF_PREFIX))
            .map(str::to_string)
            .collect();
        let descriptors = existing
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf, cf_options.clone()))
            .collect::<Vec<_>>();
        let db = if read_only {
            Db::open_cf_descriptors_read_only(&db_options, path, descriptors, false)
        } else {
            Db::open_cf_descriptors(&db_options, path, descriptors)
        };
        let db = db.map_err(|e| map_err(path, e))?;
        Ok(Self { db: Arc::new(db), path: path.to_path_buf(), cf_options, tables: tables.into() })
    }

    /// Creates the column family of `table` unless it exists.
    fn ensure_table(&self, table: &str) -> Result<(), BackendError> {
        if self.tables.read().unwrap_or_else(|e| e.into_inner()).contains(table) {
            return Ok(());
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        if !tables.contains(table) {
            self.db
                .create_cf(cf_name(table), &self.cf_options)
                .map_err(|e| map_err(&self.path, e))?;
            tables.insert(table.to_string());
        }
        Ok(())
    }
}

fn cf_name(table: &str) -> String {
    format!("{TABLE_CF_PREFIX}{table}")
}

impl Backend for RocksdbBackend {
    fn snapshot(&self) -> Result<Arc<dyn BackendSnapshot>, BackendError> {
        let cell = SnapCell::new(self.db.clone(), |db| db.snapshot());
        // Listed after the snapshot: every table with data in it is listed (tables created since
        // are empty in it).
        let tables: Vec<String> =
            self.tables.read().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        let checkpoint = match cell.borrow_dependent().get(CHECKPOINT_KEY) {
            Ok(None) => 0,
            Ok(Some(v)) => u64::from_be_bytes(v.as_slice().try_into().map_err(|_| {
                BackendError::Corrupt(format!("{}: checkpoint is not 8 bytes", self.path.display()))
            })?),
            Err(e) => return Err(map_err(&self.path, e)),
        };
        Ok(Arc::new(RocksdbSnapshot {
            cell: Arc::new(cell),
            checkpoint,
            tables,
            path: self.path.clone(),
        }))
    }

    fn apply(&self, ops: &[Op], checkpoint: Checkpoint) -> Result<(), BackendError> {
        let mut batch = WriteBatch::default();
        let mut i = 0;
        while i < ops.len() {
            let name = &ops[i].0;
            self.ensure_table(name)?;
            let cf = self.db.cf_handle(&cf_name(name)).ok_or_else(|| {
                BackendError::Other(format!("column family of table {name} vanished"))
            })?;
            while i < ops.len() && ops[i].0 == *name {
                match &ops[i].2 {
                    Some(v) => batch.put_cf(&cf, &*ops[i].1, &**v),
                    None => batch.delete_cf(&cf, &*ops[i].1),
                }
                i += 1;
            }
        }
        batch.put(CHECKPOINT_KEY, checkpoint.seq.to_be_bytes());
        match checkpoint.position {
            Some(p) => batch.put(LOG_POSITION_KEY, p.encode()),
            None => batch.delete(LOG_POSITION_KEY),
        }
        let mut write = WriteOptions::default();
        write.set_sync(true);
        self.db.write_opt(batch, &write).map_err(|e| map_err(&self.path, e))
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.path)
            .map(|entries| {
                entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum::<u64>()
            })
            .unwrap_or(0)
    }

    fn compact(&self) -> Result<bool, BackendError> {
        let tables: Vec<String> =
            self.tables.read().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        for table in tables {
            if let Some(cf) = self.db.cf_handle(&cf_name(&table)) {
                self.db.compact_range_cf(&cf, None::<&[u8]>, None::<&[u8]>);
            }
        }
        Ok(true)
    }

    fn name(&self) -> &'static str {
        "rocksdb"
    }
}

self_cell::self_cell!(
    /// A RocksDB snapshot together with the database it reads.
    struct SnapCell {
        owner: Arc<Db>,
        #[covariant]
        dependent: Snap,
    }
);

self_cell::self_cell!(
    /// A RocksDB iterator together with the snapshot it reads.
    struct IterCell {
        owner: Arc<SnapCell>,
        #[covariant]
        dependent: RawIter,
    }
);

/// A read snapshot of the RocksDB backend.
struct RocksdbSnapshot {
    cell: Arc<SnapCell>,
    checkpoint: u64,
    /// The tables with a column family just after the snapshot was taken: every table with data
    /// in the snapshot (any created later is empty in it).
    tables: Vec<String>,
    path: PathBuf,
}

impl fmt::Debug for RocksdbSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksdbSnapshot")
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl RocksdbSnapshot {
    /// An iterator over `range` of `table`, if the table had a column family at the snapshot.
    fn iter(&self, table: &str, range: &KeyRange) -> Option<IterCell> {
        if !self.tables.iter().any(|t| t == table) {
            return None;
        }
        let mut read = ReadOptions::default();
        let (lower, upper) = half_open(range);
        if let Some(lower) = lower {
            read.set_iterate_lower_bound(lower);
        }
        if let Some(upper) = upper {
            read.set_iterate_upper_bound(upper);
        }
        IterCell::try_new(self.cell.clone(), |cell| {
            let cf = cell.borrow_owner().cf_handle(&cf_name(table)).ok_or(())?;
            Ok::<_, ()>(cell.borrow_dependent().raw_iterator_cf_opt(&cf, read))
        })
        .ok()
    }
}

/// `range` as RocksDB's iterator bounds: an inclusive lower and an exclusive upper bound. The
/// smallest key above `k` is `k ++ [0]`, so every bound converts exactly.
fn half_open(range: &KeyRange) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let after = |k: &[u8]| [k, &[0]].concat();
    let lower = match &range.start {
        Bound::Included(k) => Some(k.clone()),
        Bound::Excluded(k) => Some(after(k)),
        Bound::Unbounded => None,
    };
    let upper = match &range.end {
        Bound::Included(k) => Some(after(k)),
        Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    (lower, upper)
}

impl BackendSnapshot for RocksdbSnapshot {
    fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    fn log_position(&self) -> Result<Option<LogPosition>, BackendError> {
        let value = self.cell.borrow_dependent().get(LOG_POSITION_KEY);
        Ok(value.map_err(|e| map_err(&self.path, e))?.and_then(|v| LogPosition::decode(&v)))
    }

    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let Some(cf) = self.cell.borrow_owner().cf_handle(&cf_name(table)) else { return Ok(None) };
        self.cell.borrow_dependent().get_cf(&cf, key).map_err(|e| map_err(&self.path, e))
    }

    fn range(
        &self,
        table: &str,
        range: &KeyRange,
        reverse: bool,
    ) -> Result<BackendIter, BackendError> {
        let Some(mut cell) = self.iter(table, range).filter(|_| !range.is_empty()) else {
            return Ok(Box::new(std::iter::empty()));
        };
        cell.with_dependent_mut(
            |_, it| if reverse { it.seek_to_last() } else { it.seek_to_first() },
        );
        Ok(Box::new(Pairs { cell, reverse, path: self.path.clone(), done: false }))
    }

    fn tables(&self) -> Result<Vec<String>, BackendError> {
        // A column family exists from a table's first batch on (or, after a crash, from just
        // before it): list the tables with at least one key, as the memory backend does.
        let mut names = Vec::new();
        for table in &self.tables {
            let Some(mut cell) = self.iter(table, &KeyRange::all()) else { continue };
            let found = cell.with_dependent_mut(|_, it| {
                it.seek_to_first();
                it.status().map(|()| it.valid())
            });
            if found.map_err(|e| map_err(&self.path, e))? {
                names.push(table.clone());
            }
        }
        Ok(names)
    }
}

/// The (key, value) pairs of an [`IterCell`], in one direction.
struct Pairs {
    cell: IterCell,
    reverse: bool,
    path: PathBuf,
    done: bool,
}

impl Iterator for Pairs {
    type Item = Result<(Vec<u8>, Vec<u8>), BackendError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let reverse = self.reverse;
        let item = self.cell.with_dependent_mut(|_, it| {
            let Some((k, v)) = it.item() else { return it.status().err().map(Err) };
            let pair = (k.to_vec(), v.to_vec());
            if reverse {
                it.prev()
            } else {
                it.next()
            }
            Some(Ok(pair))
        });
        match item {
            Some(Ok(pair)) => Some(Ok(pair)),
            Some(Err(e)) => {
                self.done = true;
                Some(Err(map_err(&self.path, e)))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// RocksDB's error, by kind: corruption, a full disk, anything else.
fn map_err(path: &Path, e: rocksdb::Error) -> BackendError {
    let detail = format!("{}: {e}", path.display());
    match e.kind() {
        rocksdb::ErrorKind::Corruption => BackendError::Corrupt(detail),
        rocksdb::ErrorKind::IOError if is_out_of_space(e.as_ref()) => {
            BackendError::OutOfSpace(detail)
        }
        _ => BackendError::Other(detail),
    }
}

/// Whether an `IOError` is a full disk or quota. RocksDB reports ENOSPC as the `NoSpace`
/// subcode of `IOError`, but its C API (and so the `rocksdb` crate) gives only the status as
/// text, `"IO error: " + subcode + ": " + message`, so the subcode is read from there: it is
/// the text right after the kind, "No space left on device". EDQUOT has no subcode of its own:
/// RocksDB ends the message with the errno's text, "Disk quota exceeded".
fn is_out_of_space(status: &str) -> bool {
    let rest = status.strip_prefix("IO error: ").unwrap_or(status);
    rest.starts_with("No space left on device") || status.ends_with("Disk quota exceeded")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn put(table: &str, key: u8) -> Op {
        (Arc::from(table), Arc::from([key]), Some(Arc::from([key])))
    }

    /// The durability rule the engine's log truncation relies on: each batch, checkpoint
    /// included, is in a synced WAL when `apply` returns.
    #[test]
    fn every_batch_is_synced_with_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut stats = None;
        let backend =
            RocksdbBackend::open_with(dir.path(), RocksdbOptions::default(), false, |o| {
                o.enable_statistics();
                stats = Some(o.clone()); // shares RocksDB's statistics object
            })
            .unwrap();
        let stats = stats.unwrap();
        let synced = || stats.get_ticker_count(rocksdb::statistics::Ticker::WalFileSynced);
        backend.apply(&[put("t", 0)], 1.into()).unwrap(); // creates the column family
        let before = synced();
        for n in 1..=3 {
            backend.apply(&[put("t", n as u8), put("u", n as u8)], (1 + n).into()).unwrap();
            assert_eq!(synced(), before + n, "batch {n} was not synced");
        }
        assert_eq!(backend.snapshot().unwrap().checkpoint(), 4);
    }

    /// A column family created just before a crash (its batch never written) is not a table.
    #[test]
    fn an_empty_column_family_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let backend = RocksdbBackend::open(dir.path(), RocksdbOptions::default()).unwrap();
        backend.apply(&[put("t", 1)], 1.into()).unwrap();
        backend.ensure_table("ghost").unwrap();
        drop(backend);
        let backend = RocksdbBackend::open(dir.path(), RocksdbOptions::default()).unwrap();
        assert!(backend.tables.read().unwrap().contains("ghost"));
        assert_eq!(backend.snapshot().unwrap().tables().unwrap(), vec!["t".to_string()]);
    }

    /// Every file RocksDB makes — WAL, SST files from flushes and compactions, MANIFEST,
    /// OPTIONS, info logs, LOCK — is 0600 and the directory 0700, whatever the umask (this
    /// process's is the usual 022); a file of an older store is made 0600 on open.
    #[test]
    fn every_file_is_private_after_writes_flushes_and_compactions() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rocksdb");
        let opts = RocksdbOptions { write_buffer_bytes: 64 << 10, ..RocksdbOptions::default() };
        let value: Arc<[u8]> =
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let batch = |round: u32| -> Vec<Op> {
            (0..64u32)
                .flat_map(|i| {
                    let key: Arc<[u8]> = Arc::from([round.to_be_bytes(), i.to_be_bytes()].concat());
                    ["a", "b"].map(|t| (Arc::from(t), key.clone(), Some(value.clone())))
                })
                .collect()
        };
        let backend = RocksdbBackend::open(&path, opts).unwrap();
        for round in 0..12 {
            backend.apply(&batch(round), u64::from(round + 1).into()).unwrap();
        }
        backend.compact().unwrap();
        drop(backend);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let older = path.join("from-an-older-store");
        std::fs::write(&older, b"x").unwrap();
        std::fs::set_permissions(&older, std::fs::Permissions::from_mode(0o644)).unwrap();
        let backend = RocksdbBackend::open(&path, opts).unwrap();
        backend.apply(&batch(99), 100.into()).unwrap();
        backend.compact().unwrap();
        let files: Vec<PathBuf> =
            std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
        let sst = files.iter().filter(|f| f.extension().is_some_and(|e| e == "sst")).count();
        assert!(sst > 0 && files.len() > 6, "{files:?}");
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(&path), 0o700);
    }

    #[test]
    fn a_full_disk_is_recognized_by_the_status_subcode() {
        // The texts RocksDB's `Status::ToString` gives for ENOSPC (the `NoSpace` subcode),
        // EDQUOT (no subcode) and another I/O error.
        let no_space = "IO error: No space left on device: While appending to file: \
                        /d/000012.log: No space left on device";
        let quota = "IO error: While appending to file: /d/000012.log: Disk quota exceeded";
        let other = "IO error: While open a file for appending: /d/000012.log: Permission denied";
        assert!(is_out_of_space(no_space) && is_out_of_space(quota));
        assert!(!is_out_of_space(other));
        assert!(!is_out_of_space("Corruption: No space left on device"));
    }

    #[test]
    fn bounds_convert_to_half_open_ranges() {
        let r =
            KeyRange { start: Bound::Excluded(b"a".to_vec()), end: Bound::Included(b"c".to_vec()) };
        assert_eq!(half_open(&r), (Some(b"a\0".to_vec()), Some(b"c\0".to_vec())));
        assert_eq!(
            half_open(&KeyRange::prefix(b"ab")),
            (Some(b"ab".to_vec()), Some(b"ac".to_vec()))
        );
        assert_eq!(half_open(&KeyRange::all()), (None, None));
    }
}
