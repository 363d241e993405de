//! `chainstore.Database`: the generic transactional key-value database (named tables, snapshot
//! isolation, write transactions as context managers, range and prefix iteration).

use std::collections::VecDeque;
use std::ops::Bound as KeyBound;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::{Database, PairIter, ReadTxn, Result as DbResult, WriteTxn};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::convert::key_bytes;
use crate::errors::{ChainstoreError, closed, db_error};
use crate::options::{durability_choice, engine_options};

/// Pairs fetched per GIL release while iterating.
const CHUNK: usize = 256;

/// A transactional key-value database in a directory: named tables of `bytes` keys and
/// values, snapshot isolation, first-committer-wins write transactions. Safe to share between
/// threads; the GIL is released while it works.
#[pyclass(name = "Database", module = "chainstore", frozen)]
pub(crate) struct PyDatabase {
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
}

impl PyDatabase {
    fn get(&self) -> PyResult<Arc<Database>> {
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or_else(|| closed("database"))
    }
}

#[pymethods]
impl PyDatabase {
    /// Opens (creating if needed) the database in directory `path`. Options as for
    /// `ChainStore`: `backend`, `durability`, `max_bytes`, `read_only`.
    #[new]
    #[pyo3(signature = (path, *, backend = "redb", durability = "immediate", max_bytes = None, read_only = false))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        backend: &str,
        durability: &str,
        max_bytes: Option<u64>,
        read_only: bool,
    ) -> PyResult<Self> {
        let options = engine_options(backend, durability, max_bytes)?;
        let db = py
            .detach(|| {
                if read_only {
                    Database::open_read_only(&path, options)
                } else {
                    Database::open(&path, options)
                }
            })
            .map_err(db_error)?;
        Ok(Self { db: RwLock::new(Some(Arc::new(db))), path })
    }

    /// The database's directory.
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// A write transaction, for `with db.write() as txn:` (commits when the block ends
    /// normally, rolls back when it raises). `durability` overrides the database's for this
    /// commit.
    #[pyo3(signature = (*, durability = None))]
    fn write(&self, durability: Option<&str>) -> PyResult<PyWriteTxn> {
        let mut txn = self.get()?.begin_write();
        if let Some(d) = durability {
            txn.set_durability(durability_choice(d)?);
        }
        Ok(PyWriteTxn { txn: Mutex::new(Some(txn)) })
    }

    /// A consistent read snapshot: sees every commit made before it and nothing after.
    fn read(&self) -> PyResult<PySnapshot> {
        Ok(PySnapshot { txn: Arc::new(self.get()?.begin_read()) })
    }

    /// Writes what the indexer has not written yet into the backend.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.get()?;
        py.detach(|| db.flush()).map_err(db_error)
    }

    /// Closes the database. Later calls raise `ChainstoreError`; closing twice is a no-op.
    /// Fails while another thread is using it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        let Some(db) = guard.take() else { return Ok(()) };
        match Arc::try_unwrap(db) {
            Ok(db) => py.detach(|| db.close()).map_err(db_error),
            Err(db) => {
                *guard = Some(db);
                Err(ChainstoreError::new_err("the database is in use by another thread"))
            }
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let open = self.db.read().map(|d| d.is_some()).unwrap_or(false);
        format!("Database({:?}{})", self.path, if open { "" } else { ", closed" })
    }
}

/// `[start, end)` of `bytes` bounds (None: unbounded).
fn key_range(
    start: Option<&Bound<'_, PyAny>>,
    end: Option<&Bound<'_, PyAny>>,
) -> PyResult<KeyRange> {
    let bound = |b: Option<&Bound<'_, PyAny>>, name, make: fn(Vec<u8>) -> KeyBound<Vec<u8>>| match b
        .filter(|b| !b.is_none())
    {
        Some(b) => key_bytes(b, name).map(make),
        None => Ok(KeyBound::Unbounded),
    };
    Ok(KeyRange {
        start: bound(start, "start", KeyBound::Included)?,
        end: bound(end, "end", KeyBound::Excluded)?,
    })
}

/// A write transaction with snapshot isolation. Use it as a context manager, or call
/// `commit()` / `rollback()`; one that is dropped uncommitted rolls back.
#[pyclass(name = "WriteTxn", module = "chainstore", frozen)]
pub(crate) struct PyWriteTxn {
    txn: Mutex<Option<WriteTxn>>,
}

impl PyWriteTxn {
    /// Runs `f` on the open transaction without the GIL.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut WriteTxn) -> DbResult<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.txn.lock().unwrap_or_else(|e| e.into_inner());
            let txn = guard.as_mut().ok_or(Failed::Finished)?;
            f(txn).map_err(Failed::Db)
        })
        .map_err(PyErr::from)
    }
}

/// Why an operation on a write transaction failed.
enum Failed {
    Finished,
    Db(chainstore_engine::db::Error),
}

impl From<Failed> for PyErr {
    fn from(e: Failed) -> Self {
        match e {
            Failed::Finished => {
                ChainstoreError::new_err("the transaction is finished (committed or rolled back)")
            }
            Failed::Db(e) => db_error(e),
        }
    }
}

#[pymethods]
impl PyWriteTxn {
    /// The value of `key` in `table` (this transaction's own writes included), or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = key_bytes(key, "key")?;
        let value = self.with(py, |t| t.get(table, &key))?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// Sets `key` in `table` to `value` (tables are created by their first write).
    fn put(
        &self,
        py: Python<'_>,
        table: &str,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (key, value) = (key_bytes(key, "key")?, key_bytes(value, "value")?);
        self.with(py, |t| t.put(table, &key, &value))
    }

    /// Deletes `key` from `table` (a no-op if it is absent).
    fn delete(&self, py: Python<'_>, table: &str, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = key_bytes(key, "key")?;
        self.with(py, |t| t.delete(table, &key))
    }

    /// The `(key, value)` pairs of `table` with `start <= key < end` (None: unbounded), in key
    /// order (descending with `reverse`), this transaction's writes included. The pairs are
    /// read when called (a write transaction's view changes as it writes); iterate a
    /// snapshot's `range` for large scans.
    #[pyo3(signature = (table, start = None, end = None, *, reverse = false))]
    fn range(
        &self,
        py: Python<'_>,
        table: &str,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyPairIter> {
        let range = key_range(start, end)?;
        let pairs =
            self.with(py, |t| t.range(table, range, reverse)?.collect::<DbResult<Vec<_>>>())?;
        Ok(PyPairIter::new(Box::new(pairs.into_iter().map(Ok)), None))
    }

    /// The pairs of `table` whose keys start with `prefix`, as `range`.
    fn prefix(
        &self,
        py: Python<'_>,
        table: &str,
        prefix: &Bound<'_, PyAny>,
    ) -> PyResult<PyPairIter> {
        let prefix = key_bytes(prefix, "prefix")?;
        let pairs = self.with(py, |t| t.prefix(table, &prefix)?.collect::<DbResult<Vec<_>>>())?;
        Ok(PyPairIter::new(Box::new(pairs.into_iter().map(Ok)), None))
    }

    /// Commits atomically and durably; returns the commit's sequence number. Raises
    /// `Conflict` if another transaction committed a write to the same key since this one
    /// began (nothing is written then).
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| {
            let txn = self
                .txn
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or(Failed::Finished)?;
            txn.commit().map_err(Failed::Db)
        })
        .map_err(PyErr::from)
    }

    /// Discards the writes. Rolling back a finished transaction is a no-op.
    fn rollback(&self) {
        drop(self.txn.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits if the block ended normally (and the transaction is still open), rolls back if
    /// it raised; the exception, if any, propagates.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let open = self.txn.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.rollback();
        } else if open {
            self.commit(py)?;
        }
        Ok(false)
    }
}

/// A consistent read snapshot of a `Database`.
#[pyclass(name = "Snapshot", module = "chainstore", frozen)]
pub(crate) struct PySnapshot {
    txn: Arc<ReadTxn>,
}

#[pymethods]
impl PySnapshot {
    /// The sequence number of the newest commit this snapshot sees.
    #[getter]
    fn seq(&self) -> u64 {
        self.txn.seq()
    }

    /// The value of `key` in `table`, or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = key_bytes(key, "key")?;
        let value = py.detach(|| self.txn.get(table, &key)).map_err(db_error)?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// The tables that have data in this snapshot, sorted.
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.txn.tables()).map_err(db_error)
    }

    /// An iterator of the `(key, value)` pairs of `table` with `start <= key < end` (None:
    /// unbounded), in key order (descending with `reverse`), read lazily from this snapshot.
    #[pyo3(signature = (table, start = None, end = None, *, reverse = false))]
    fn range(
        &self,
        table: &str,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<PyPairIter> {
        let iter = self.txn.range(table, key_range(start, end)?, reverse).map_err(db_error)?;
        Ok(PyPairIter::new(iter, Some(self.txn.clone())))
    }

    /// An iterator of the pairs of `table` whose keys start with `prefix`, as `range`.
    fn prefix(&self, table: &str, prefix: &Bound<'_, PyAny>) -> PyResult<PyPairIter> {
        let prefix = key_bytes(prefix, "prefix")?;
        let iter = self.txn.prefix(table, &prefix).map_err(db_error)?;
        Ok(PyPairIter::new(iter, Some(self.txn.clone())))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        false
    }
}

/// An iterator of `(key, value)` pairs of `bytes`.
#[pyclass(name = "PairIterator", module = "chainstore", frozen)]
pub(crate) struct PyPairIter {
    state: Mutex<IterState>,
}

struct IterState {
    iter: PairIter<'static>,
    buffered: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// An error met after the buffered pairs, reported once they are consumed.
    error: Option<chainstore_engine::db::Error>,
    /// The snapshot the iterator reads, kept alive (and its memtable versions pinned).
    _snapshot: Option<Arc<ReadTxn>>,
}

impl PyPairIter {
    fn new(iter: PairIter<'static>, snapshot: Option<Arc<ReadTxn>>) -> Self {
        let state = IterState { iter, buffered: VecDeque::new(), error: None, _snapshot: snapshot };
        Self { state: Mutex::new(state) }
    }
}

#[pymethods]
impl PyPairIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>> {
        let next = py.detach(|| {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.buffered.is_empty() {
                if let Some(e) = state.error.take() {
                    return Err(e);
                }
                // A chunk per GIL release.
                for _ in 0..CHUNK {
                    match state.iter.next() {
                        Some(Ok(pair)) => state.buffered.push_back(pair),
                        Some(Err(e)) => {
                            state.error = Some(e);
                            break;
                        }
                        None => break,
                    }
                }
            }
            match state.buffered.pop_front() {
                Some(pair) => Ok(Some(pair)),
                None => state.error.take().map_or(Ok(None), Err),
            }
        });
        let pair = next.map_err(db_error)?;
        Ok(pair.map(|(k, v)| (PyBytes::new(py, &k), PyBytes::new(py, &v))))
    }
}
