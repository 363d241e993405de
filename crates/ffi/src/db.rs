//! The generic transactional database (`chainstore_engine::db::Database`), as Python's
//! `Database` has it: named tables of byte keys and values, write transactions that commit
//! (first committer wins) or roll back, read snapshots, range and prefix iteration.

use std::ffi::c_char;
use std::ops::Bound;
use std::sync::Arc;

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::{Database, PairIter, ReadTxn, Result as DbResult, WriteTxn};
use serde_json::Value;

use crate::options::{self, DB_OPTIONS, OpenOptions};
use crate::{
    CsBytes, CsStatus, Failure, Out, Result, arg, bytes_arg, call, from_handle, into_handle, live,
    live_mut, opt_arg,
};

/// An open database (opaque to C). May be used from several threads at once.
pub struct CsDb {
    db: Database,
}

/// A write transaction (opaque to C): reads see its snapshot plus its own writes. Used by one
/// thread at a time.
pub struct CsWriteTxn {
    txn: WriteTxn,
}

/// A consistent read snapshot (opaque to C). May be used from several threads at once.
pub struct CsReadTxn {
    txn: Arc<ReadTxn>,
}

/// An iterator of key/value pairs (opaque to C). Used by one thread at a time.
pub struct CsIter {
    iter: PairIter<'static>,
    /// The snapshot the iterator reads, kept alive (and its versions pinned) while it does.
    _snapshot: Option<Arc<ReadTxn>>,
}

/// Opens (creating if needed) the database in directory `path` with `options_json`, a JSON
/// object with the names of Python's `Database(...)` keywords, each optional: `{"backend":
/// "redb" | "rocksdb", "durability": "immediate" | "buffered", "max_bytes": N, "read_only":
/// false}`; NULL is every default. Stores its handle in `*out`.
///
/// # Safety
/// `path` is a NUL-terminated string; `options_json` NULL or a NUL-terminated string; `out`
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_db_open(
    path: *const c_char,
    options_json: *const c_char,
    out: *mut *mut CsDb,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises, checked for null inside.
        let (path, text, out) = unsafe {
            (arg(path, "path")?, opt_arg(options_json, "options_json")?, Out::new(out, "out")?)
        };
        let options = OpenOptions::parse(text, DB_OPTIONS)?;
        let db = if options.read_only {
            Database::open_read_only(path, options.engine)?
        } else {
            Database::open(path, options.engine)?
        };
        out.set(into_handle(CsDb { db }));
        Ok(())
    })
}

/// Closes the database once the indexer has written everything, and frees the handle (freed
/// even when closing fails). NULL is a no-op. Transactions, snapshots and iterators taken from
/// it stay usable; the directory stays locked until the last of them is freed.
///
/// # Safety
/// `db` is NULL or a handle from `cs_db_open`, not used again after this call and not in use
/// by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_db_close(db: *mut CsDb) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        match unsafe { from_handle(db) } {
            Some(handle) => Ok(handle.db.close()?),
            None => Ok(()),
        }
    })
}

/// Waits until everything committed so far is in the backend.
///
/// # Safety
/// `db` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_db_flush(db: *const CsDb) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise.
        let db = unsafe { live(db, "db") }?;
        Ok(db.db.flush()?)
    })
}

/// Begins a write transaction; `durability` (`"immediate"` or `"buffered"`) overrides the
/// database's for its commit, NULL keeps it. `*out` gets the handle, which
/// `cs_write_txn_commit` or `cs_write_txn_rollback` frees.
///
/// # Safety
/// `db` is a live handle; `durability` NULL or a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_db_begin_write(
    db: *const CsDb,
    durability: *const c_char,
    out: *mut *mut CsWriteTxn,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (db, durability, out) =
            unsafe { (live(db, "db")?, opt_arg(durability, "durability")?, Out::new(out, "out")?) };
        let durability = durability.map(|d| options::durability(d, "durability")).transpose()?;
        let mut txn = db.db.begin_write();
        if let Some(d) = durability {
            txn.set_durability(d);
        }
        out.set(into_handle(CsWriteTxn { txn }));
        Ok(())
    })
}

/// Takes a read snapshot: it sees every commit made before it and nothing after. `*out` gets
/// the handle, freed with `cs_read_txn_free`.
///
/// # Safety
/// `db` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_db_begin_read(db: *const CsDb, out: *mut *mut CsReadTxn) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (db, out) = unsafe { (live(db, "db")?, Out::new(out, "out")?) };
        out.set(into_handle(CsReadTxn { txn: Arc::new(db.db.begin_read()) }));
        Ok(())
    })
}

/// Writes a value found by a `get` to `out`, or fails with `CS_STATUS_NOT_FOUND`.
fn set_found(out: Out<CsBytes>, value: Option<Vec<u8>>) -> Result<()> {
    out.set(CsBytes::new(value.ok_or_else(|| Failure::not_found("key"))?));
    Ok(())
}

/// `[start, end)`: each bound NULL (with length 0) for unbounded.
///
/// # Safety
/// `start` and `end` are null or valid for reading `start_len` and `end_len` bytes.
unsafe fn key_range(
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
) -> Result<KeyRange> {
    let bound = |ptr: *const u8, len, name, make: fn(Vec<u8>) -> Bound<Vec<u8>>| -> Result<_> {
        if ptr.is_null() && len == 0 {
            return Ok(Bound::Unbounded);
        }
        // SAFETY: the caller's promise.
        Ok(make(unsafe { bytes_arg(ptr, len, name) }?.to_vec()))
    };
    Ok(KeyRange {
        start: bound(start, start_len, "start", Bound::Included)?,
        end: bound(end, end_len, "end", Bound::Excluded)?,
    })
}

/// The value of `key` in `table`, this transaction's own writes included; `*out_value` gets
/// the bytes. `CS_STATUS_NOT_FOUND` if absent.
///
/// # Safety
/// `txn` is a live write transaction; `table` a NUL-terminated string; `key` NULL (with
/// `key_len` 0) or valid for `key_len` bytes; `out_value` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_get(
    txn: *mut CsWriteTxn,
    table: *const c_char,
    key: *const u8,
    key_len: usize,
    out_value: *mut CsBytes,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, key, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                bytes_arg(key, key_len, "key")?,
                Out::new(out_value, "out_value")?,
            )
        };
        set_found(out, txn.txn.get(table, key)?)
    })
}

/// Sets `key` in `table` to `value` (a table is created by its first write; names are 1 to 255
/// bytes, not starting with `__`).
///
/// # Safety
/// `txn` is a live write transaction; `table` a NUL-terminated string; `key` and `value` NULL
/// (with length 0) or valid for `key_len` and `value_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_put(
    txn: *mut CsWriteTxn,
    table: *const c_char,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, key, value) = unsafe {
            (
                live_mut(txn, "txn")?,
                arg(table, "table")?,
                bytes_arg(key, key_len, "key")?,
                bytes_arg(value, value_len, "value")?,
            )
        };
        Ok(txn.txn.put(table, key, value)?)
    })
}

/// Deletes `key` from `table` (a no-op if it is absent).
///
/// # Safety
/// `txn` is a live write transaction; `table` a NUL-terminated string; `key` NULL (with
/// `key_len` 0) or valid for `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_delete(
    txn: *mut CsWriteTxn,
    table: *const c_char,
    key: *const u8,
    key_len: usize,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, key) = unsafe {
            (live_mut(txn, "txn")?, arg(table, "table")?, bytes_arg(key, key_len, "key")?)
        };
        Ok(txn.txn.delete(table, key)?)
    })
}

/// An iterator over pairs read now: a write transaction's view changes as it writes.
fn iter_of_pairs(pairs: PairIter<'_>) -> Result<*mut CsIter> {
    let pairs = pairs.collect::<DbResult<Vec<_>>>()?;
    Ok(into_handle(CsIter { iter: Box::new(pairs.into_iter().map(Ok)), _snapshot: None }))
}

/// The pairs of `table` with `start <= key < end` (a bound NULL with length 0 is unbounded), in
/// key order (descending with `reverse`), this transaction's writes included. The pairs are
/// read by this call (a write transaction's view changes as it writes): scan large tables from
/// a snapshot. `*out` gets an iterator, freed with `cs_iter_free`.
///
/// # Safety
/// `txn` is a live write transaction; `table` a NUL-terminated string; `start` and `end` NULL
/// (with length 0) or valid for `start_len` and `end_len` bytes; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_range(
    txn: *mut CsWriteTxn,
    table: *const c_char,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    out: *mut *mut CsIter,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, range, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                key_range(start, start_len, end, end_len)?,
                Out::new(out, "out")?,
            )
        };
        out.set(iter_of_pairs(txn.txn.range(table, range, reverse)?)?);
        Ok(())
    })
}

/// The pairs of `table` whose keys start with `prefix`, as `cs_write_txn_range`.
///
/// # Safety
/// `txn` is a live write transaction; `table` a NUL-terminated string; `prefix` NULL (with
/// `prefix_len` 0) or valid for `prefix_len` bytes; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_prefix(
    txn: *mut CsWriteTxn,
    table: *const c_char,
    prefix: *const u8,
    prefix_len: usize,
    out: *mut *mut CsIter,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, prefix, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                bytes_arg(prefix, prefix_len, "prefix")?,
                Out::new(out, "out")?,
            )
        };
        out.set(iter_of_pairs(txn.txn.prefix(table, prefix)?)?);
        Ok(())
    })
}

/// Commits atomically and durably, and frees the transaction whatever the outcome; `*out_seq`
/// gets the commit's sequence number. `CS_STATUS_CONFLICT` if another transaction committed a
/// write to one of its keys since it began (nothing is written then: retry);
/// `CS_STATUS_QUOTA_EXCEEDED` if it would exceed `max_bytes`.
///
/// # Safety
/// `txn` is a write transaction from `cs_db_begin_write`, not used again after this call and
/// not in use by another thread; `out_seq` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_commit(txn: *mut CsWriteTxn, out_seq: *mut u64) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        let txn = unsafe { from_handle(txn) }.ok_or_else(|| Failure::invalid("txn", "is NULL"))?;
        // SAFETY: the caller's promise.
        let out = unsafe { Out::new(out_seq, "out_seq") }?;
        out.set(txn.txn.commit()?);
        Ok(())
    })
}

/// Discards the transaction's writes and frees it. NULL is a no-op.
///
/// # Safety
/// `txn` is NULL or a write transaction from `cs_db_begin_write`, not used again after this
/// call and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_write_txn_rollback(txn: *mut CsWriteTxn) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        drop(unsafe { from_handle(txn) });
        Ok(())
    })
}

/// The sequence number of the newest commit the snapshot sees.
///
/// # Safety
/// `txn` is a live snapshot; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_seq(txn: *const CsReadTxn, out: *mut u64) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, out) = unsafe { (live(txn, "txn")?, Out::new(out, "out")?) };
        out.set(txn.txn.seq());
        Ok(())
    })
}

/// The value of `key` in `table`; `*out_value` gets the bytes. `CS_STATUS_NOT_FOUND` if
/// absent.
///
/// # Safety
/// `txn` is a live snapshot; `table` a NUL-terminated string; `key` NULL (with `key_len` 0) or
/// valid for `key_len` bytes; `out_value` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_get(
    txn: *const CsReadTxn,
    table: *const c_char,
    key: *const u8,
    key_len: usize,
    out_value: *mut CsBytes,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, key, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                bytes_arg(key, key_len, "key")?,
                Out::new(out_value, "out_value")?,
            )
        };
        set_found(out, txn.txn.get(table, key)?)
    })
}

/// The tables that have data in the snapshot, sorted: `*out` gets a JSON array of names.
///
/// # Safety
/// `txn` is a live snapshot; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_tables(
    txn: *const CsReadTxn,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, out) = unsafe { (live(txn, "txn")?, Out::new(out, "out")?) };
        out.set_json(&Value::from(txn.txn.tables()?));
        Ok(())
    })
}

/// An iterator reading `pairs` lazily from `snapshot`, which it keeps alive.
fn snapshot_iter(pairs: PairIter<'static>, snapshot: &Arc<ReadTxn>) -> *mut CsIter {
    into_handle(CsIter { iter: pairs, _snapshot: Some(snapshot.clone()) })
}

/// The pairs of `table` with `start <= key < end` (a bound NULL with length 0 is unbounded), in
/// key order (descending with `reverse`), read lazily from the snapshot. `*out` gets an
/// iterator, freed with `cs_iter_free`; it keeps the snapshot alive, so the snapshot may be
/// freed first.
///
/// # Safety
/// `txn` is a live snapshot; `table` a NUL-terminated string; `start` and `end` NULL (with
/// length 0) or valid for `start_len` and `end_len` bytes; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_range(
    txn: *const CsReadTxn,
    table: *const c_char,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    out: *mut *mut CsIter,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, range, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                key_range(start, start_len, end, end_len)?,
                Out::new(out, "out")?,
            )
        };
        out.set(snapshot_iter(txn.txn.range(table, range, reverse)?, &txn.txn));
        Ok(())
    })
}

/// The pairs of `table` whose keys start with `prefix`, as `cs_read_txn_range`.
///
/// # Safety
/// `txn` is a live snapshot; `table` a NUL-terminated string; `prefix` NULL (with `prefix_len`
/// 0) or valid for `prefix_len` bytes; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_prefix(
    txn: *const CsReadTxn,
    table: *const c_char,
    prefix: *const u8,
    prefix_len: usize,
    out: *mut *mut CsIter,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (txn, table, prefix, out) = unsafe {
            (
                live(txn, "txn")?,
                arg(table, "table")?,
                bytes_arg(prefix, prefix_len, "prefix")?,
                Out::new(out, "out")?,
            )
        };
        out.set(snapshot_iter(txn.txn.prefix(table, prefix)?, &txn.txn));
        Ok(())
    })
}

/// Frees a snapshot (iterators taken from it stay usable). NULL is a no-op.
///
/// # Safety
/// `txn` is NULL or a snapshot from `cs_db_begin_read`, not used again after this call and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_read_txn_free(txn: *mut CsReadTxn) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        drop(unsafe { from_handle(txn) });
        Ok(())
    })
}

/// The next pair: `*out_key` and `*out_value` get its bytes (each freed with
/// `cs_bytes_free`). `CS_STATUS_NOT_FOUND` once there are no more pairs; after an error, free
/// the iterator.
///
/// # Safety
/// `iter` is a live iterator not in use by another thread; `out_key` and `out_value` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_iter_next(
    iter: *mut CsIter,
    out_key: *mut CsBytes,
    out_value: *mut CsBytes,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (iter, out_key, out_value) = unsafe {
            (
                live_mut(iter, "iter")?,
                Out::new(out_key, "out_key")?,
                Out::new(out_value, "out_value")?,
            )
        };
        let (key, value) = iter.iter.next().ok_or_else(|| Failure {
            status: CsStatus::NotFound,
            message: "no more pairs".to_owned(),
            field: None,
        })??;
        out_key.set(CsBytes::new(key));
        out_value.set(CsBytes::new(value));
        Ok(())
    })
}

/// Frees an iterator. NULL is a no-op.
///
/// # Safety
/// `iter` is NULL or an iterator from chainstore, not used again after this call and not in use
/// by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_iter_free(iter: *mut CsIter) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        drop(unsafe { from_handle(iter) });
        Ok(())
    })
}
