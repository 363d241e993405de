//! `chainstore.ChainStore`: blocks, transactions, receipts, logs, state and proofs.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use alloy_primitives::{B256, hex};
use chainstore_chain::{ChainStore, LogFilter, PRUNE_BATCH_OPS, Result as ChainResult, Retention};
use chainstore_json::input::block_from_value;
use chainstore_json::output;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::convert::{self, opt_to_py, to_py, to_value};
use crate::errors::{ChainstoreError, chain_error, closed, input_error, invalid};
use crate::options::engine_options;

/// A chain store in a directory: blocks, transactions, receipts, logs and Ethereum state with
/// incremental state roots, EIP-1186 proofs at the head and at retained heights, unwind and
/// prune. Every block commit is one durable transaction.
///
/// Documents are returned in the Ethereum JSON-RPC shapes (`dict`s of `0x` hex strings), the
/// same as the CLI's `--json` output. The GIL is released while the store works; one object may
/// be used from many threads (commits are serialized, reads run in parallel).
#[pyclass(name = "ChainStore", module = "chainstore", frozen)]
pub(crate) struct PyChainStore {
    store: RwLock<Option<Arc<ChainStore>>>,
    /// What `prune()` keeps when called without a retention.
    retention: Retention,
    path: PathBuf,
}

impl PyChainStore {
    /// The open store (a clone of the handle, so no lock is held while it works).
    fn get(&self) -> PyResult<Arc<ChainStore>> {
        let guard = self.store.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or_else(|| closed("chain store"))
    }

    /// Runs `f` on the store without the GIL, mapping its error.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&ChainStore) -> ChainResult<T> + Send,
    ) -> PyResult<T> {
        let store = self.get()?;
        py.detach(|| f(&store)).map_err(chain_error)
    }
}

/// A retention `dict` (`history`, `receipts`, `tx_index`: blocks to keep, or None for all).
fn retention(obj: Option<&Bound<'_, PyDict>>) -> PyResult<Retention> {
    let Some(d) = obj else { return Ok(Retention::default()) };
    let mut r = Retention::default();
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| invalid(Some("retention"), "keys are str"))?;
        let field = format!("retention.{key}");
        let keep = convert::opt_number(Some(&v), &field)?;
        match key.as_str() {
            "history" => r.history = keep,
            "receipts" => r.receipts = keep,
            "tx_index" => r.tx_index = keep,
            _ => {
                return Err(invalid(
                    Some(&field),
                    "unknown field (expected one of: history, receipts, tx_index)",
                ));
            }
        }
    }
    Ok(r)
}

#[pymethods]
impl PyChainStore {
    /// Opens (creating if needed) the chain store in directory `path`.
    ///
    /// `backend`: "redb" or "rocksdb"; `durability`: "immediate" (a commit returns once it is on
    /// stable storage) or "buffered" (once the OS has it); `retention`: what `prune()` keeps
    /// when called without one, e.g. `{"history": 128, "receipts": 10000}`; `max_bytes`: a
    /// quota on the bytes on disk; `read_only`: queries only (commits, unwinds and prunes fail),
    /// and other processes may have the store open for writing.
    #[new]
    #[pyo3(signature = (path, *, backend = "redb", durability = "immediate", retention = None, max_bytes = None, read_only = false))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        backend: &str,
        durability: &str,
        retention: Option<&Bound<'_, PyDict>>,
        max_bytes: Option<u64>,
        read_only: bool,
    ) -> PyResult<Self> {
        let options = engine_options(backend, durability, max_bytes)?;
        let retention = self::retention(retention)?;
        let store = py
            .detach(|| {
                if read_only {
                    ChainStore::open_read_only(&path, options)
                } else {
                    ChainStore::open(&path, options)
                }
            })
            .map_err(chain_error)?;
        Ok(Self { store: RwLock::new(Some(Arc::new(store))), retention, path })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Closes the store (flushing what the indexer has not written yet). Later calls raise
    /// `ChainstoreError`; closing twice is a no-op. Fails while another thread is using it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.store.write().unwrap_or_else(|e| e.into_inner());
        let Some(store) = guard.take() else { return Ok(()) };
        match Arc::try_unwrap(store) {
            Ok(store) => py.detach(|| store.close()).map_err(chain_error),
            Err(store) => {
                *guard = Some(store);
                Err(ChainstoreError::new_err("the chain store is in use by another thread"))
            }
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Commits one block, given as a `dict` with the field names of the CLI's block lines
    /// (`number`, `hash`, `parentHash`, `timestamp`, `stateRoot`, `transactions`, `receipts`,
    /// `state`). Returns `{number, hash, stateRoot}` once the block is durable. A bad block
    /// raises `InvalidInput` naming the field at fault and changes nothing.
    fn commit<'py>(
        &self,
        py: Python<'py>,
        block: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = to_value(block, "")?;
        let store = self.get()?;
        let info = py.detach(|| {
            let block = block_from_value(&value).map_err(Error::Input)?;
            store.commit_block(&block).map_err(Error::Chain)
        });
        let info = info.map_err(|e| match e {
            Error::Input(e) => input_error(e),
            Error::Chain(e) => chain_error(e),
        })?;
        to_py(py, &output::head_json(info.number, info.hash, info.state_root))
    }

    /// The head block's `{number, hash, stateRoot}`, or None on an empty store.
    fn head<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let head = self.run(py, |s| s.head())?;
        opt_to_py(py, head.map(|h| output::head_json(h.number, h.hash, h.state_root)))
    }

    /// A block by number (`int`) or hash (hex `str` or `bytes`), with its transactions; None
    /// if there is no such block.
    fn block<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let block = if id.is_instance_of::<pyo3::types::PyInt>() {
            let n = convert::number(id, "id")?;
            self.run(py, |s| s.block(n))?
        } else {
            let hash = convert::hash(id, "id")?;
            self.run(py, |s| s.block_by_hash(hash))?
        };
        opt_to_py(py, block.as_ref().map(output::block_json))
    }

    /// A transaction by hash, with its block and index; None if unknown.
    fn transaction<'py>(
        &self,
        py: Python<'py>,
        hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let hash = convert::hash(hash, "hash")?;
        let found = self.run(py, |s| s.transaction(hash))?;
        opt_to_py(py, found.as_ref().map(output::located_transaction_json))
    }

    /// A transaction's receipt with its logs; None if unknown. Raises `Pruned` if the receipts
    /// of its block were pruned.
    fn receipt<'py>(
        &self,
        py: Python<'py>,
        hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let hash = convert::hash(hash, "hash")?;
        let found = self.run(py, |s| s.receipt(hash))?;
        opt_to_py(py, found.map(|(r, at)| output::receipt_json(&r, &at)))
    }

    /// The logs matching an `eth_getLogs` filter: blocks `from_block..=to_block` (default: 0
    /// to the head), emitted by any of `address` (one or a list; default any), with `topics[i]`
    /// one of the given values (None or [] for any) at each position. A list of log documents.
    #[pyo3(signature = (*, from_block = None, to_block = None, address = None, topics = None))]
    fn logs<'py>(
        &self,
        py: Python<'py>,
        from_block: Option<&Bound<'py, PyAny>>,
        to_block: Option<&Bound<'py, PyAny>>,
        address: Option<&Bound<'py, PyAny>>,
        topics: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut filter = LogFilter {
            from_block: convert::opt_number(from_block, "from_block")?,
            to_block: convert::opt_number(to_block, "to_block")?,
            ..Default::default()
        };
        if let Some(a) = address.filter(|a| !a.is_none()) {
            filter.addresses = convert::one_or_many(a, "address", convert::address)?;
        }
        if let Some(t) = topics.filter(|t| !t.is_none()) {
            let positions: Vec<Bound<'py, PyAny>> = t.extract()?;
            if positions.len() > 4 {
                return Err(invalid(Some("topics"), "at most 4 topic positions"));
            }
            for (i, p) in positions.iter().enumerate() {
                if !p.is_none() {
                    filter.topics[i] =
                        convert::one_or_many(p, &format!("topics[{i}]"), convert::hash)?;
                }
            }
        }
        let logs = self.run(py, |s| s.logs(&filter))?;
        to_py(py, &Value::Array(logs.iter().map(output::log_json).collect()))
    }

    /// An account `{address, nonce, balance, codeHash, storageHash}` at the head, or at
    /// `block` (any block the retained history covers); None if it does not exist.
    #[pyo3(signature = (address, block = None))]
    fn account<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
        block: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let addr = convert::address(address, "address")?;
        let block = convert::opt_number(block, "block")?;
        let info = self.run(py, |s| match block {
            Some(n) => s.account_at(addr, n),
            None => s.account(addr),
        })?;
        opt_to_py(py, info.map(|i| output::account_json(&addr, Some(&i))))
    }

    /// The value of a storage slot as a 32-byte word (`eth_getStorageAt`), at the head or at
    /// `block`. `slot` is an `int` or hex of up to 32 bytes.
    #[pyo3(signature = (address, slot, block = None))]
    fn storage(
        &self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        block: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let addr = convert::address(address, "address")?;
        let slot = convert::slot(slot, "slot")?;
        let block = convert::opt_number(block, "block")?;
        let value = self.run(py, |s| match block {
            Some(n) => s.storage_at(addr, slot, n),
            None => s.storage(addr, slot),
        })?;
        Ok(hex::encode_prefixed(B256::from(value)))
    }

    /// An account's code as `0x` hex (`eth_getCode`: "0x" if it has none), at the head or at
    /// `block`.
    #[pyo3(signature = (address, block = None))]
    fn code(
        &self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        block: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let addr = convert::address(address, "address")?;
        let block = convert::opt_number(block, "block")?;
        let code = self.run(py, |s| match block {
            Some(n) => s.code_at(addr, n),
            None => match s.account(addr)? {
                Some(a) => s.code(a.code_hash),
                None => Ok(None),
            },
        })?;
        Ok(hex::encode_prefixed(code.unwrap_or_default()))
    }

    /// An EIP-1186 proof (the `eth_getProof` result) of an account and storage slots, present
    /// or absent, against the state root of the head or of `block`.
    #[pyo3(signature = (address, slots = None, block = None))]
    fn proof<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
        slots: Option<&Bound<'py, PyAny>>,
        block: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let addr = convert::address(address, "address")?;
        let slots = match slots.filter(|s| !s.is_none()) {
            Some(s) => convert::one_or_many(s, "slots", convert::slot)?,
            None => Vec::new(),
        };
        let block = convert::opt_number(block, "block")?;
        let proof = self.run(py, |s| match block {
            Some(n) => s.proof_at(addr, &slots, n),
            None => s.proof(addr, &slots),
        })?;
        let value = serde_json::to_value(&proof)
            .map_err(|e| ChainstoreError::new_err(format!("proof to JSON: {e}")))?;
        to_py(py, &value)
    }

    /// Unwinds the chain to block `to` (it becomes the head; blocks above it are removed and
    /// their state changes reverted). Returns the new head `{number, hash, stateRoot}`.
    fn unwind<'py>(&self, py: Python<'py>, to: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let target = convert::number(to, "to")?;
        let head = self.run(py, |s| {
            s.head()?.ok_or(chainstore_chain::ChainError::Empty)?;
            s.unwind_to(target)?;
            s.head()
        })?;
        opt_to_py(py, head.map(|h| output::head_json(h.number, h.hash, h.state_root)))
    }

    /// Prunes what `retention` (default: the one the store was opened with) does not keep,
    /// in batches of about `batch_ops` operations, each its own durable transaction. Returns
    /// `{pruned[{what, blocks, entries}], batches, oldestAvailable{...}}`.
    #[pyo3(signature = (retention = None, *, batch_ops = PRUNE_BATCH_OPS))]
    fn prune<'py>(
        &self,
        py: Python<'py>,
        retention: Option<&Bound<'py, PyDict>>,
        batch_ops: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let retention =
            if retention.is_some() { self::retention(retention)? } else { self.retention };
        if batch_ops == 0 {
            return Err(invalid(Some("batch_ops"), "must be at least 1"));
        }
        let report = self.run(py, |s| {
            let report = s.prune(&retention, batch_ops, &mut |_| {})?;
            output::prune_json(&report, s)
        })?;
        to_py(py, &report)
    }

    /// The full integrity check: `{ok, head, stateRoot, rows, problems[{table, key, detail}]}`.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = self.run(py, |s| s.verify(&mut |_| {}))?;
        to_py(py, &output::verify_json(&report))
    }

    /// The engine's counters: `{backend, head, checkpoint, visibleSeq, logBytes,
    /// memtableBytes, backendBytes}`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let doc =
            self.run(py, |s| Ok(output::stats_json(s.head()?.as_ref(), &s.database().stats())))?;
        to_py(py, &doc)
    }

    fn __repr__(&self) -> String {
        let open = self.store.read().map(|s| s.is_some()).unwrap_or(false);
        format!("ChainStore({:?}{})", self.path, if open { "" } else { ", closed" })
    }
}

/// Why a commit failed: the block did not parse, or the store refused it.
enum Error {
    Input(chainstore_json::input::InputError),
    Chain(chainstore_chain::ChainError),
}
