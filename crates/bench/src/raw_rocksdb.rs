//! The raw RocksDB baseline of `bench kv` and `bench ingest` (cargo feature `rocksdb`): RocksDB
//! on its own, one column family per table, with the memory and filters of chainstore's RocksDB
//! backend by default (block cache, bloom bits, compression, write buffer, background jobs), and
//! every write batch synced before it returns.

use std::path::{Path, PathBuf};

use chainstore_engine::backend::RocksdbOptions;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, MultiThreaded, ReadOptions, WriteBatch,
    WriteOptions,
};

use crate::BenchError;

type Db = rocksdb::DBWithThreadMode<MultiThreaded>;

/// A raw RocksDB database (its directory is removed with the benchmark's work directory).
pub(crate) struct RawRocksdb {
    db: Db,
    cf_options: rocksdb::Options,
    path: PathBuf,
}

impl RawRocksdb {
    /// A new, empty database in `path`.
    pub(crate) fn create(path: &Path) -> Result<Self, BenchError> {
        let defaults = RocksdbOptions::default();
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(defaults.block_cache_bytes));
        table.set_bloom_filter(f64::from(defaults.bloom_bits_per_key), false);
        table.set_cache_index_and_filter_blocks(true);
        let mut cf_options = rocksdb::Options::default();
        cf_options.set_block_based_table_factory(&table);
        cf_options.set_compression_type(DBCompressionType::Lz4);
        cf_options.set_bottommost_compression_type(DBCompressionType::Zstd);
        cf_options.set_write_buffer_size(defaults.write_buffer_bytes);
        let mut db_options = cf_options.clone();
        db_options.create_if_missing(true);
        db_options.set_max_background_jobs(defaults.background_jobs as i32);
        let db = Db::open(&db_options, path)?;
        Ok(Self { db, cf_options, path: path.to_path_buf() })
    }

    /// Writes `ops` (table, key, value or delete) in one synced batch.
    pub(crate) fn commit<'a>(
        &self,
        ops: impl IntoIterator<Item = (&'a str, &'a [u8], Option<&'a [u8]>)>,
    ) -> Result<(), BenchError> {
        self.write(ops, true)
    }

    /// Writes `ops` in one batch, synced or not.
    pub(crate) fn write<'a>(
        &self,
        ops: impl IntoIterator<Item = (&'a str, &'a [u8], Option<&'a [u8]>)>,
        sync: bool,
    ) -> Result<(), BenchError> {
        let mut batch = WriteBatch::default();
        for (table, key, value) in ops {
            if self.db.cf_handle(table).is_none() {
                self.db.create_cf(table, &self.cf_options)?;
            }
            let cf = self.db.cf_handle(table).ok_or_else(|| missing(table))?;
            match value {
                Some(v) => batch.put_cf(&cf, key, v),
                None => batch.delete_cf(&cf, key),
            }
        }
        let mut write = WriteOptions::default();
        write.set_sync(sync);
        Ok(self.db.write_opt(batch, &write)?)
    }

    /// The length of each value of `keys` in `table`, read from one snapshot.
    pub(crate) fn value_lens(
        &self,
        table: &str,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<usize>>, BenchError> {
        let cf = self.db.cf_handle(table).ok_or_else(|| missing(table))?;
        let snapshot = self.db.snapshot();
        keys.iter().map(|k| Ok(snapshot.get_pinned_cf(&cf, k)?.map(|v| v.len()))).collect()
    }

    /// The number of keys of `table` in `[lo, hi)` for each range, read from one snapshot.
    pub(crate) fn scan_counts(
        &self,
        table: &str,
        ranges: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u64>, BenchError> {
        let cf = self.db.cf_handle(table).ok_or_else(|| missing(table))?;
        let snapshot = self.db.snapshot();
        let mut counts = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            let mut read = ReadOptions::default();
            read.set_iterate_upper_bound(hi.clone());
            let mut it = snapshot.raw_iterator_cf_opt(&cf, read);
            it.seek(lo);
            let mut found = 0;
            while let Some(pair) = it.item() {
                std::hint::black_box(pair);
                found += 1;
                it.next();
            }
            it.status()?;
            counts.push(found);
        }
        Ok(counts)
    }

    /// Flushes the memtables (after an unsynced bulk load).
    pub(crate) fn flush(&self) -> Result<(), BenchError> {
        for name in Db::list_cf(&self.cf_options, &self.path)? {
            if let Some(cf) = self.db.cf_handle(&name) {
                self.db.flush_cf(&cf)?;
            }
        }
        Ok(())
    }

    /// Bytes of the database's files.
    pub(crate) fn disk_bytes(&self) -> Result<u64, BenchError> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.path).map_err(BenchError::io(&self.path))? {
            let entry = entry.map_err(BenchError::io(&self.path))?;
            total += entry.metadata().map_err(BenchError::io(entry.path()))?.len();
        }
        Ok(total)
    }
}

fn missing(table: &str) -> BenchError {
    BenchError::Check(format!("raw rocksdb: no table {table}"))
}
