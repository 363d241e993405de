//! chainstore's C ABI: a chain store behind an opaque handle, every function returning a
//! [`CsStatus`], the error's message (and the field at fault) kept per thread, documents in and
//! out as JSON in the shapes of the CLI (`chainstore_json`). The header, `include/chainstore.h`,
//! is generated from this crate by cbindgen (the test `header_is_current` keeps it current) and
//! states the ownership rules; `examples/c/chainstore_test.c` uses every function.

#![expect(unsafe_code, reason = "a C ABI: exported symbols and pointers that C passes in")]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use alloy_primitives::B256;
use chainstore_chain::{ChainError, ChainStore};
use chainstore_engine::db::Options;
use chainstore_engine::wal::Durability;
use chainstore_json::input::{self, InputError};
use chainstore_json::kind::{ErrorKind, chain_error_kind};
use chainstore_json::output;
use serde_json::Value;

/// The outcome of a call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsStatus {
    /// Success.
    Ok = 0,
    /// What was asked for does not exist (an empty store's head, an absent account).
    NotFound = 1,
    /// A malformed argument or block, or a block that does not follow the head; nothing was
    /// changed. `cs_last_error_field()` names the field at fault.
    InvalidInput = 2,
    /// The directory is open in another process (or another handle of this one).
    Locked = 3,
    /// The byte quota or the disk is full; nothing was written.
    QuotaExceeded = 4,
    /// A write-write conflict; retry.
    Conflict = 5,
    /// Below the retained history window.
    Pruned = 6,
    /// Stored data is damaged.
    Corruption = 7,
    /// Anything else (I/O, a read-only store, ...).
    Error = 8,
    /// A bug: chainstore panicked. The handle should be closed.
    Panic = 9,
}

/// `cs_store_open` flag: open for queries only.
pub const CS_OPEN_READ_ONLY: u32 = 1;
/// `cs_store_open` flag: a commit returns once the OS has it, not once it is on stable storage.
pub const CS_OPEN_BUFFERED: u32 = 2;

/// An open chain store (opaque to C).
pub struct CsStore {
    store: ChainStore,
}

/// A failed call: its status, message and field at fault.
struct Failure {
    status: CsStatus,
    message: String,
    field: Option<String>,
}

impl Failure {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: CsStatus::InvalidInput,
            message: format!("{field}: {}", message.into()),
            field: Some(field.to_owned()),
        }
    }

    fn not_found(what: &str) -> Self {
        Self { status: CsStatus::NotFound, message: format!("{what} not found"), field: None }
    }
}

impl From<ChainError> for Failure {
    fn from(e: ChainError) -> Self {
        let (status, field) = match chain_error_kind(&e) {
            ErrorKind::InvalidInput { field } => (CsStatus::InvalidInput, field),
            ErrorKind::Locked => (CsStatus::Locked, None),
            ErrorKind::QuotaExceeded => (CsStatus::QuotaExceeded, None),
            ErrorKind::Conflict => (CsStatus::Conflict, None),
            ErrorKind::Pruned => (CsStatus::Pruned, None),
            ErrorKind::Corruption => (CsStatus::Corruption, None),
            ErrorKind::Other => (CsStatus::Error, None),
        };
        Self { status, message: e.to_string(), field: field.map(str::to_owned) }
    }
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Self { status: CsStatus::InvalidInput, message: e.to_string(), field: e.field }
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

thread_local! {
    /// The last error on this thread: message and field at fault.
    static LAST_ERROR: RefCell<(CString, Option<CString>)> =
        RefCell::new((CString::default(), None));
}

/// A C string without interior NULs.
fn c_string(s: String) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Runs `f`, catching panics, and records the error for `cs_last_error`.
fn call(f: impl FnOnce() -> Result<()>) -> CsStatus {
    let failure = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return CsStatus::Ok,
        Ok(Err(failure)) => failure,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Failure { status: CsStatus::Panic, message: format!("panic: {detail}"), field: None }
        }
    };
    LAST_ERROR.with(|last| {
        *last.borrow_mut() = (c_string(failure.message), failure.field.map(c_string));
    });
    failure.status
}

/// A borrowed C string argument.
///
/// # Safety
/// `s` is null or a NUL-terminated string valid for the call.
unsafe fn arg<'a>(s: *const c_char, name: &str) -> Result<&'a str> {
    if s.is_null() {
        return Err(Failure::invalid(name, "is NULL"));
    }
    // SAFETY: not null, and the caller passes a NUL-terminated string that outlives the call.
    let s = unsafe { CStr::from_ptr(s) };
    s.to_str().map_err(|_| Failure::invalid(name, "is not UTF-8"))
}

/// The store behind a handle.
///
/// # Safety
/// `store` is null or a handle from `cs_store_open` that was not closed.
unsafe fn handle<'a>(store: *const CsStore) -> Result<&'a ChainStore> {
    // SAFETY: the caller passes null or a live handle, which is only read here.
    unsafe { store.as_ref() }.map(|h| &h.store).ok_or_else(|| Failure::invalid("store", "is NULL"))
}

/// Stores `doc` as a new C string in `*out`.
///
/// # Safety
/// `out` is null or valid for a write.
unsafe fn put_out(out: *mut *mut c_char, doc: &Value) -> Result<()> {
    if out.is_null() {
        return Err(Failure::invalid("out", "is NULL"));
    }
    let text = c_string(doc.to_string()).into_raw();
    // SAFETY: not null and valid for a write (the caller's promise).
    unsafe { out.write(text) };
    Ok(())
}

/// An optional block number: NULL for the head.
///
/// # Safety
/// `block` is null or points to a `u64`.
unsafe fn block_arg(block: *const u64) -> Option<u64> {
    // SAFETY: null or a valid `u64` (the caller's promise).
    unsafe { block.as_ref() }.copied()
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
        // SAFETY: the caller's promise, checked for null inside.
        let path = unsafe { arg(path, "path") }?;
        if out.is_null() {
            return Err(Failure::invalid("out", "is NULL"));
        }
        if flags & !(CS_OPEN_READ_ONLY | CS_OPEN_BUFFERED) != 0 {
            return Err(Failure::invalid("flags", format!("unknown flags {flags:#x}")));
        }
        let durability = if flags & CS_OPEN_BUFFERED != 0 {
            Durability::Buffered
        } else {
            Durability::Immediate
        };
        let options = Options { durability, ..Options::default() };
        let store = if flags & CS_OPEN_READ_ONLY != 0 {
            ChainStore::open_read_only(path, options)?
        } else {
            ChainStore::open(path, options)?
        };
        let handle = Box::into_raw(Box::new(CsStore { store }));
        // SAFETY: checked not null above; valid for a write (the caller's promise).
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Closes the store and frees the handle (freed even when closing fails). NULL is a no-op.
///
/// # Safety
/// `store` is NULL or a handle from `cs_store_open`, not used again after this call and not
/// in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_close(store: *mut CsStore) -> CsStatus {
    call(|| {
        if store.is_null() {
            return Ok(());
        }
        // SAFETY: a handle from `cs_store_open` (a `Box`), given back exactly once.
        let handle = unsafe { Box::from_raw(store) };
        Ok(handle.store.close()?)
    })
}

/// Commits one block, given as a JSON object in the CLI's block line format; `*out_head` gets
/// `{number, hash, stateRoot}` once the block is durable. A bad block is `CS_INVALID_INPUT`
/// with the field at fault, and changes nothing.
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
        let (store, text) = unsafe { (handle(store)?, arg(block_json, "block_json")?) };
        let block = input::parse_block(text)?;
        let info = store.commit_block(&block)?;
        // SAFETY: the caller's promise.
        unsafe { put_out(out_head, &output::head_json(info.number, info.hash, info.state_root)) }
    })
}

/// The head `{number, hash, stateRoot}`; `CS_NOT_FOUND` on an empty store.
///
/// # Safety
/// `store` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_store_head(store: *const CsStore, out: *mut *mut c_char) -> CsStatus {
    call(|| {
        // SAFETY: the caller's promise.
        let store = unsafe { handle(store) }?;
        let head = store.head()?.ok_or_else(|| Failure::not_found("head block"))?;
        // SAFETY: the caller's promise.
        unsafe { put_out(out, &output::head_json(head.number, head.hash, head.state_root)) }
    })
}

/// An account `{address, nonce, balance, codeHash, storageHash}` at the head (`block` NULL)
/// or at `*block`; `CS_NOT_FOUND` if it does not exist.
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
        let (store, address, block) =
            unsafe { (handle(store)?, arg(address, "address")?, block_arg(block)) };
        let address = input::address(&Value::String(address.to_owned()), "address")?;
        let info = match block {
            Some(n) => store.account_at(address, n)?,
            None => store.account(address)?,
        };
        let info = info.ok_or_else(|| Failure::not_found("account"))?;
        // SAFETY: the caller's promise.
        unsafe { put_out(out, &output::account_json(&address, Some(&info))) }
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
        // SAFETY: the caller's promises.
        let (store, address, slot, block) = unsafe {
            (handle(store)?, arg(address, "address")?, arg(slot, "slot")?, block_arg(block))
        };
        let address = input::address(&Value::String(address.to_owned()), "address")?;
        let slot = input::word(&Value::String(slot.to_owned()), "slot")?;
        if out_value.is_null() {
            return Err(Failure::invalid("out_value", "is NULL"));
        }
        let value = match block {
            Some(n) => store.storage_at(address, slot, n)?,
            None => store.storage(address, slot)?,
        };
        let word = B256::from(value);
        // SAFETY: not null, valid for 32 bytes (the caller's promise); a fresh local source.
        unsafe { ptr::copy_nonoverlapping(word.as_ptr(), out_value, 32) };
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
        let (store, address, block) =
            unsafe { (handle(store)?, arg(address, "address")?, block_arg(block)) };
        let address = input::address(&Value::String(address.to_owned()), "address")?;
        if slots.is_null() && n_slots > 0 {
            return Err(Failure::invalid("slots", "is NULL"));
        }
        let slots = (0..n_slots)
            .map(|i| {
                let name = format!("slots[{i}]");
                // SAFETY: `slots` has `n_slots` elements (the caller's promise).
                let text = unsafe { arg(*slots.add(i), &name) }?;
                Ok(input::word(&Value::String(text.to_owned()), &name)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let proof = match block {
            Some(n) => store.proof_at(address, &slots, n)?,
            None => store.proof(address, &slots)?,
        };
        let doc = serde_json::to_value(&proof).map_err(|e| Failure {
            status: CsStatus::Error,
            message: format!("proof to JSON: {e}"),
            field: None,
        })?;
        // SAFETY: the caller's promise.
        unsafe { put_out(out, &doc) }
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
        // SAFETY: the caller's promise.
        let store = unsafe { handle(store) }?;
        store.head()?.ok_or_else(|| Failure::not_found("head block"))?;
        store.unwind_to(to)?;
        let head = store.head()?.ok_or_else(|| Failure::not_found("head block"))?;
        // SAFETY: the caller's promise.
        unsafe { put_out(out_head, &output::head_json(head.number, head.hash, head.state_root)) }
    })
}

/// The message of the last error on this thread ("" if none); owned by chainstore, valid
/// until the next call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn cs_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().0.as_ptr())
}

/// The field at fault of the last error on this thread (for `CS_INVALID_INPUT`: e.g.
/// `"transactions[1].hash"`, `"address"`), or NULL; owned by chainstore, valid until the next
/// call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn cs_last_error_field() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().1.as_ref().map_or(ptr::null(), |f| f.as_ptr()))
}

/// Frees a string that chainstore returned through an `out` parameter. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from chainstore's `out` parameters, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: allocated by `CString::into_raw` in `put_out`, given back exactly once.
        drop(unsafe { CString::from_raw(s) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: `cs_last_error` returns a NUL-terminated string owned by this thread.
        unsafe { CStr::from_ptr(cs_last_error()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status() {
        assert_eq!(call(|| panic!("boom")), CsStatus::Panic);
        assert_eq!(last_error(), "panic: boom");
        assert!(cs_last_error_field().is_null());
        let status = call(|| Err(Failure::invalid("slot", "is NULL")));
        assert_eq!(status, CsStatus::InvalidInput);
        // SAFETY: the field is a NUL-terminated string owned by this thread.
        let field = unsafe { CStr::from_ptr(cs_last_error_field()) };
        assert_eq!(field.to_str(), Ok("slot"));
    }
}
