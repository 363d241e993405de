//! The chain store: open and close, commit and unwind, blocks, transactions, receipts, logs,
//! state, proofs, prune, verify and stats, as Python's `ChainStore` has them.

use std::ffi::c_char;
use std::fmt;
use std::marker::PhantomData;

use alloy_primitives::{Address, B256};
use chainstore_chain::{ChainStore, LogFilter, PRUNE_BATCH_OPS, Retention};
use chainstore_engine::db::Options;
use chainstore_engine::wal::Durability;
use chainstore_json::input::{self, Hex, InputError, Object, Quantity64};
use chainstore_json::output;
use serde::Deserialize;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use serde_json::Value;

use crate::options::{self, OpenOptions, STORE_OPTIONS};
use crate::{
    CsBytes, CsStatus, Failure, Out, Result, arg, block_arg, call, from_handle, into_handle, live,
    opt_arg, parsed,
};

/// `cs_store_open` flag: open for queries only.
pub const CS_OPEN_READ_ONLY: u32 = 1;
/// `cs_store_open` flag: a commit returns once the OS has it, not once it is on stable storage.
pub const CS_OPEN_BUFFERED: u32 = 2;

/// An open chain store (opaque to C).
pub struct CsStore {
    store: ChainStore,
    /// What `cs_store_prune` keeps when given no retention.
    retention: Retention,
}

/// Opens the store in `path` and writes its handle to `out`.
fn open(path: &str, options: OpenOptions, out: Out<*mut CsStore>) -> Result<()> {
    let store = if options.read_only {
        ChainStore::open_read_only(path, options.engine)?
    } else {
        ChainStore::open(path, options.engine)?
    };
    out.set(into_handle(CsStore { store, retention: options.retention }));
    Ok(())
}

/// Opens (creating if needed) the chain store in directory `path` with `flags`
/// (`CS_OPEN_READ_ONLY`, `CS_OPEN_BUFFERED`, or 0), and stores its handle in `*out`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_open(
    path: *const c_char,
    flags: u32,
    out: *mut *mut CsStore,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises, checked for null inside.
        let (path, out) = unsafe { (arg(path, "path")?, Out::new(out, "out")?) };
        if flags & !(CS_OPEN_READ_ONLY | CS_OPEN_BUFFERED) != 0 {
            return Err(Failure::invalid("flags", format!("unknown flags {flags:#x}")));
        }
        let durability = if flags & CS_OPEN_BUFFERED != 0 {
            Durability::Buffered
        } else {
            Durability::Immediate
        };
        let options = OpenOptions {
            engine: Options { durability, ..Options::default() },
            retention: Retention::default(),
            read_only: flags & CS_OPEN_READ_ONLY != 0,
        };
        open(path, options, out)
    })
}

/// Opens (creating if needed) the chain store in directory `path` with `options_json`, a JSON
/// object with the names of Python's `ChainStore(...)` keywords, each optional:
/// `{"backend": "redb" | "rocksdb", "durability": "immediate" | "buffered", "retention":
/// {"history": N, "receipts": N, "tx_index": N}, "max_bytes": N, "read_only": false}`
/// (`retention`: blocks to keep, absent or null for all, what `cs_store_prune` keeps when given
/// no retention; `max_bytes`: a quota on the bytes on disk). NULL is every default. A bad
/// option is `CS_STATUS_INVALID_INPUT` naming it (e.g. `"retention.history"`).
///
/// # Safety
/// `path` is a NUL-terminated string; `options_json` NULL or a NUL-terminated string; `out`
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_open_with(
    path: *const c_char,
    options_json: *const c_char,
    out: *mut *mut CsStore,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises, checked for null inside.
        let (path, text, out) = unsafe {
            (arg(path, "path")?, opt_arg(options_json, "options_json")?, Out::new(out, "out")?)
        };
        open(path, OpenOptions::parse(text, STORE_OPTIONS)?, out)
    })
}

/// Closes the store and frees the handle (freed even when closing fails). NULL is a no-op.
///
/// # Safety
/// `store` is NULL or a handle from `cs_store_open*`, not used again after this call and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_close(store: *mut CsStore) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise: given back exactly once.
        match unsafe { from_handle(store) } {
            Some(handle) => Ok(handle.store.close()?),
            None => Ok(()),
        }
    })
}

/// Commits one block, given as a JSON object in the CLI's block line format; `*out_head` gets
/// `{number, hash, stateRoot}` once the block is durable. A bad block is
/// `CS_STATUS_INVALID_INPUT` with the field at fault, and changes nothing.
///
/// # Safety
/// `store` is a live handle; `block_json` a NUL-terminated string; `out_head` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_commit(
    store: *const CsStore,
    block_json: *const c_char,
    out_head: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises, checked for null inside.
        let (store, text, out) = unsafe {
            (live(store, "store")?, arg(block_json, "block_json")?, Out::new(out_head, "out_head")?)
        };
        let block = input::parse_block(text)?;
        let info = store.store.commit_block(&block)?;
        out.set_json(&output::head_json(info.number, info.hash, info.state_root));
        Ok(())
    })
}

/// The head `{number, hash, stateRoot}` as JSON; `CS_STATUS_NOT_FOUND` on an empty store.
fn head_json(store: &ChainStore) -> Result<Value> {
    let head = store.head()?.ok_or_else(|| Failure::not_found("head block"))?;
    Ok(output::head_json(head.number, head.hash, head.state_root))
}

/// The head `{number, hash, stateRoot}`; `CS_STATUS_NOT_FOUND` on an empty store.
///
/// # Safety
/// `store` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_head(store: *const CsStore, out: *mut *mut c_char) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, out) = unsafe { (live(store, "store")?, Out::new(out, "out")?) };
        out.set_json(&head_json(&store.store)?);
        Ok(())
    })
}

/// Block `number` with its transactions (`chainstore block --json`: `{number, hash,
/// parentHash, timestamp, stateRoot, transactions}`); `CS_STATUS_NOT_FOUND` if there is none.
///
/// # Safety
/// `store` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_block(
    store: *const CsStore,
    number: u64,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, out) = unsafe { (live(store, "store")?, Out::new(out, "out")?) };
        let block = store.store.block(number)?.ok_or_else(|| Failure::not_found("block"))?;
        out.set_json(&output::block_json(&block));
        Ok(())
    })
}

/// The block with hash `hash` (32 bytes of hex), as `cs_store_block`; `CS_STATUS_NOT_FOUND`
/// if there is none.
///
/// # Safety
/// `store` is a live handle; `hash` a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_block_by_hash(
    store: *const CsStore,
    hash: *const c_char,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, hash, out) = unsafe {
            (live(store, "store")?, parsed(hash, "hash", input::hash)?, Out::new(out, "out")?)
        };
        let block = store.store.block_by_hash(hash)?.ok_or_else(|| Failure::not_found("block"))?;
        out.set_json(&output::block_json(&block));
        Ok(())
    })
}

/// A transaction by hash with where it is (`{hash, from, to, nonce, raw, blockNumber,
/// blockHash, transactionIndex}`); `CS_STATUS_NOT_FOUND` if unknown.
///
/// # Safety
/// `store` is a live handle; `hash` a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_transaction(
    store: *const CsStore,
    hash: *const c_char,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, hash, out) = unsafe {
            (live(store, "store")?, parsed(hash, "hash", input::hash)?, Out::new(out, "out")?)
        };
        let found =
            store.store.transaction(hash)?.ok_or_else(|| Failure::not_found("transaction"))?;
        out.set_json(&output::located_transaction_json(&found));
        Ok(())
    })
}

/// The receipt of the transaction with hash `hash`, with its logs and where it is
/// (`{transactionHash, status, gasUsed, logs, blockNumber, blockHash, transactionIndex}`);
/// `CS_STATUS_NOT_FOUND` if unknown, `CS_STATUS_PRUNED` if its block's receipts were pruned.
///
/// # Safety
/// `store` is a live handle; `hash` a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_receipt(
    store: *const CsStore,
    hash: *const c_char,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, hash, out) = unsafe {
            (live(store, "store")?, parsed(hash, "hash", input::hash)?, Out::new(out, "out")?)
        };
        let (receipt, at) =
            store.store.receipt(hash)?.ok_or_else(|| Failure::not_found("receipt"))?;
        out.set_json(&output::receipt_json(&receipt, &at));
        Ok(())
    })
}

/// One value or an array of them (a filter's `address`, a topic position).
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Visit<T> {
            type Value = OneOrMany<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string or an array of them")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::deserialize(s.into_deserializer()).map(|one| OneOrMany(vec![one]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany)
            }
        }
        d.deserialize_any(Visit(PhantomData))
    }
}

/// An `eth_getLogs` filter object without block tags or `blockHash`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilterDoc {
    from_block: Option<Quantity64>,
    to_block: Option<Quantity64>,
    address: Option<OneOrMany<Hex<20>>>,
    topics: Option<Vec<Option<OneOrMany<Hex<32>>>>>,
}

fn log_filter(text: &str) -> Result<LogFilter, InputError> {
    let Object(doc): Object<FilterDoc> = input::parse_json(text, true)?;
    let mut filter = LogFilter {
        from_block: doc.from_block.map(|Quantity64(n)| n),
        to_block: doc.to_block.map(|Quantity64(n)| n),
        ..LogFilter::default()
    };
    if let Some(OneOrMany(addresses)) = doc.address {
        filter.addresses = addresses.into_iter().map(|Hex(a)| Address::from(a)).collect();
    }
    let positions = doc.topics.unwrap_or_default();
    if positions.len() > filter.topics.len() {
        return Err(InputError::field("topics", "at most 4 topic positions"));
    }
    for (position, wanted) in positions.into_iter().zip(&mut filter.topics) {
        if let Some(OneOrMany(topics)) = position {
            *wanted = topics.into_iter().map(|Hex(t)| t).collect();
        }
    }
    Ok(filter)
}

/// The logs matching `filter_json`, an `eth_getLogs` filter object (`"{}"` for every log):
/// `fromBlock` and `toBlock` (quantities; default 0 and the head; no block tags),
/// `address` (one or an array: any of them), `topics` (up to 4 positions, each null for any,
/// a hash, or an array of alternatives). `*out` gets an array of `eth_getLogs` entries;
/// `CS_STATUS_PRUNED` if the range reaches below the retained receipts.
///
/// # Safety
/// `store` is a live handle; `filter_json` a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_logs(
    store: *const CsStore,
    filter_json: *const c_char,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, text, out) = unsafe {
            (live(store, "store")?, arg(filter_json, "filter_json")?, Out::new(out, "out")?)
        };
        let logs = store.store.logs(&log_filter(text)?)?;
        out.set_json(&Value::Array(logs.iter().map(output::log_json).collect()));
        Ok(())
    })
}

/// An account's fields in binary, as `cs_store_account_fields` returns them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsAccount {
    /// The nonce.
    pub nonce: u64,
    /// The balance, 32 bytes big-endian.
    pub balance: [u8; 32],
    /// The code hash (keccak256 of the empty string for an account without code).
    pub code_hash: [u8; 32],
    /// The storage root (the empty trie's root for an account without storage).
    pub storage_root: [u8; 32],
}

/// The account at `address` (20 bytes) at the head (`block` NULL) or at `*block`, written to
/// `*out` as binary fields: the same read as `cs_store_account` without the hex and JSON on
/// either side, for callers that read many accounts. `CS_STATUS_NOT_FOUND` if it does not
/// exist (`*out` is then untouched).
///
/// # Safety
/// `store` is a live handle; `address` NULL or valid for reading 20 bytes; `block` NULL or
/// valid; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_account_fields(
    store: *const CsStore,
    address: *const u8,
    block: *const u64,
    out: *mut CsAccount,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, block, out) =
            unsafe { (live(store, "store")?, block_arg(block), Out::new(out, "out")?) };
        if address.is_null() {
            return Err(Failure::invalid("address", "is NULL"));
        }
        // SAFETY: not null, and valid for reading 20 bytes (the caller's promise).
        let address = Address::from_slice(unsafe { std::slice::from_raw_parts(address, 20) });
        let info = match block {
            Some(n) => store.store.account_at(address, n)?,
            None => store.store.account(address)?,
        };
        let info = info.ok_or_else(|| Failure::not_found("account"))?;
        out.set(CsAccount {
            nonce: info.nonce,
            balance: info.balance.to_be_bytes(),
            code_hash: info.code_hash.0,
            storage_root: info.storage_root.0,
        });
        Ok(())
    })
}

/// An account `{address, nonce, balance, codeHash, storageHash}` at the head (`block` NULL)
/// or at `*block`; `CS_STATUS_NOT_FOUND` if it does not exist.
///
/// # Safety
/// `store` is a live handle; `address` a NUL-terminated string; `block` NULL or valid;
/// `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_account(
    store: *const CsStore,
    address: *const c_char,
    block: *const u64,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, address, block, out) = unsafe {
            (
                live(store, "store")?,
                parsed(address, "address", input::address)?,
                block_arg(block),
                Out::new(out, "out")?,
            )
        };
        let info = match block {
            Some(n) => store.store.account_at(address, n)?,
            None => store.store.account(address)?,
        };
        let info = info.ok_or_else(|| Failure::not_found("account"))?;
        out.set_json(&output::account_json(&address, Some(&info)));
        Ok(())
    })
}

/// The value of storage slot `slot` (hex of up to 32 bytes, or decimal) of `address`, at the
/// head or at `*block`, as 32 big-endian bytes written to `out_value` (zero if unset).
///
/// # Safety
/// `store` is a live handle; `address` and `slot` NUL-terminated strings; `block` NULL or
/// valid; `out_value` valid for writing 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_storage(
    store: *const CsStore,
    address: *const c_char,
    slot: *const c_char,
    block: *const u64,
    out_value: *mut u8,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises; `out_value` holds 32 bytes, written as one array.
        let (store, address, slot, block, out) = unsafe {
            (
                live(store, "store")?,
                parsed(address, "address", input::address)?,
                parsed(slot, "slot", input::word)?,
                block_arg(block),
                Out::new(out_value.cast::<[u8; 32]>(), "out_value")?,
            )
        };
        let value = match block {
            Some(n) => store.store.storage_at(address, slot, n)?,
            None => store.store.storage(address, slot)?,
        };
        out.set(B256::from(value).0);
        Ok(())
    })
}

/// The code of `address` at the head or at `*block` (`eth_getCode`): `*out` gets the bytes,
/// empty (`ptr` NULL, `len` 0) for an account without code or no account.
///
/// # Safety
/// `store` is a live handle; `address` a NUL-terminated string; `block` NULL or valid; `out`
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_code(
    store: *const CsStore,
    address: *const c_char,
    block: *const u64,
    out: *mut CsBytes,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, address, block, out) = unsafe {
            (
                live(store, "store")?,
                parsed(address, "address", input::address)?,
                block_arg(block),
                Out::new(out, "out")?,
            )
        };
        let code = match block {
            Some(n) => store.store.code_at(address, n)?,
            None => match store.store.account(address)? {
                Some(account) => store.store.code(account.code_hash)?,
                None => None,
            },
        };
        out.set(CsBytes::new(code.map(Vec::from).unwrap_or_default()));
        Ok(())
    })
}

/// An EIP-1186 proof (the `eth_getProof` result) of `address` and the `n_slots` slots in
/// `slots`, at the head or at `*block`.
///
/// # Safety
/// `store` is a live handle; `address` a NUL-terminated string; `slots` NULL (with `n_slots`
/// 0) or an array of `n_slots` NUL-terminated strings; `block` NULL or valid; `out` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_proof(
    store: *const CsStore,
    address: *const c_char,
    slots: *const *const c_char,
    n_slots: usize,
    block: *const u64,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, address, block, out) = unsafe {
            (
                live(store, "store")?,
                parsed(address, "address", input::address)?,
                block_arg(block),
                Out::new(out, "out")?,
            )
        };
        if slots.is_null() && n_slots > 0 {
            return Err(Failure::invalid("slots", "is NULL"));
        }
        let slots = (0..n_slots)
            .map(|i| {
                // SAFETY: `slots` has `n_slots` elements, each a NUL-terminated string (the
                // caller's promise).
                unsafe { parsed(*slots.add(i), &format!("slots[{i}]"), input::word) }
            })
            .collect::<Result<Vec<_>>>()?;
        let proof = match block {
            Some(n) => store.store.proof_at(address, &slots, n)?,
            None => store.store.proof(address, &slots)?,
        };
        let doc = serde_json::to_value(&proof).map_err(|e| Failure {
            status: CsStatus::Error,
            message: format!("proof to JSON: {e}"),
            field: None,
        })?;
        out.set_json(&doc);
        Ok(())
    })
}

/// Unwinds the chain to block `to`; `*out_head` gets the new head.
///
/// # Safety
/// `store` is a live handle; `out_head` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_unwind(
    store: *const CsStore,
    to: u64,
    out_head: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, out) = unsafe { (live(store, "store")?, Out::new(out_head, "out_head")?) };
        store.store.head()?.ok_or_else(|| Failure::not_found("head block"))?;
        store.store.unwind_to(to)?;
        out.set_json(&head_json(&store.store)?);
        Ok(())
    })
}

/// Prunes what `retention_json` does not keep (`{"history": N, "receipts": N, "tx_index": N}`,
/// blocks to keep, absent or null for all; NULL: the retention the store was opened with), in
/// batches of about `batch_ops` operations (0: the default, 20000), each its own durable
/// transaction. `*out` gets `{pruned[{what, blocks, entries}], batches, oldestAvailable}`.
///
/// # Safety
/// `store` is a live handle; `retention_json` NULL or a NUL-terminated string; `out` valid for
/// a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_prune(
    store: *const CsStore,
    retention_json: *const c_char,
    batch_ops: usize,
    out: *mut *mut c_char,
) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, text, out) = unsafe {
            (
                live(store, "store")?,
                opt_arg(retention_json, "retention_json")?,
                Out::new(out, "out")?,
            )
        };
        let retention = match text {
            Some(text) => options::retention(text)?,
            None => store.retention,
        };
        let batch_ops = if batch_ops == 0 { PRUNE_BATCH_OPS } else { batch_ops };
        let report = store.store.prune(&retention, batch_ops, &mut |_| {})?;
        out.set_json(&output::prune_json(&report, &store.store)?);
        Ok(())
    })
}

/// The full integrity check: `*out` gets `{ok, head, stateRoot, rows, problems[{table, key,
/// detail}]}`. Problems found are a report with `"ok": false`, not an error status.
///
/// # Safety
/// `store` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_verify(store: *const CsStore, out: *mut *mut c_char) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, out) = unsafe { (live(store, "store")?, Out::new(out, "out")?) };
        let report = store.store.verify(&mut |_| {})?;
        out.set_json(&output::verify_json(&report));
        Ok(())
    })
}

/// The engine's counters: `*out` gets `{backend, head, checkpoint, visibleSeq, logBytes,
/// memtableBytes, backendBytes}` (`head` null on an empty store).
///
/// # Safety
/// `store` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_stats(store: *const CsStore, out: *mut *mut c_char) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promises.
        let (store, out) = unsafe { (live(store, "store")?, Out::new(out, "out")?) };
        let head = store.store.head()?;
        out.set_json(&output::stats_json(head.as_ref(), &store.store.database().stats()));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str) -> Option<String> {
        log_filter(text).err().and_then(|e| e.field)
    }

    #[test]
    fn log_filters_parse_and_name_the_field_at_fault() {
        let a = format!("0x{}", "ab".repeat(20));
        let t = format!("0x{}", "01".repeat(32));
        let f = log_filter(&format!(
            r#"{{"fromBlock":"0x2","toBlock":3,"address":"{a}","topics":[null,["{t}","{t}"]]}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.from_block, f.to_block), (Some(2), Some(3)));
        assert_eq!(f.addresses.len(), 1);
        assert!(f.topics[0].is_empty() && f.topics[1].len() == 2);
        assert_eq!(log_filter("{}").ok(), Some(LogFilter::default()));

        assert_eq!(field_of(r#"{"fromBlock":"latest"}"#).as_deref(), Some("fromBlock"));
        assert_eq!(field_of(r#"{"address":["0x12"]}"#).as_deref(), Some("address[0]"));
        assert_eq!(field_of(r#"{"topics":[null,"0x1"]}"#).as_deref(), Some("topics[1]"));
        assert_eq!(field_of(r#"{"topics":[1]}"#).as_deref(), Some("topics[0]"));
        let five = r#"{"topics":[null,null,null,null,null]}"#;
        assert_eq!(field_of(five).as_deref(), Some("topics"));
        assert_eq!(field_of(r#"{"blockHash":"0x"}"#).as_deref(), Some("blockHash"));
    }
}
