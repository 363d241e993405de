//! chainstore's C ABI: a chain store ([`chain`]) and the generic transactional database
//! ([`db`]) behind opaque handles, every function returning a [`CsStatus`], the error's message
//! (and the field at fault) kept per thread, documents in and out as JSON in the shapes of the
//! CLI (`chainstore_json`), keys and values as owned byte buffers ([`CsBytes`]). The header,
//! `include/chainstore.h`, is generated from this crate by cbindgen (the test
//! `header_is_current` keeps it current) and states the ownership rules;
//! `examples/c/chainstore_test.c` uses every function.

#![expect(unsafe_code, reason = "a C ABI: exported symbols and pointers that C passes in")]

mod chain;
mod db;
mod options;

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};

use chainstore_chain::ChainError;
use chainstore_engine::db::Error as DbError;
use chainstore_json::input::InputError;
use chainstore_json::kind::{ErrorKind, chain_error_kind, db_error_kind};
use serde_json::Value;

pub use chain::*;
pub use db::*;

/// The outcome of a call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsStatus {
    /// Success.
    Ok = 0,
    /// What was asked for does not exist (an empty store's head, an absent account or key), or
    /// an iterator has no more pairs.
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

/// Bytes owned by the caller: `len` bytes at `ptr` (`ptr` is NULL when `len` is 0). Free them
/// with `cs_bytes_free()` and nothing else.
#[repr(C)]
#[derive(Debug)]
pub struct CsBytes {
    /// The first byte, or NULL when empty.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

impl CsBytes {
    /// Hands `bytes` over to C (the caller frees them with `cs_bytes_free`).
    fn new(bytes: Vec<u8>) -> Self {
        if bytes.is_empty() {
            return Self { ptr: ptr::null_mut(), len: 0 };
        }
        let bytes = bytes.into_boxed_slice();
        let len = bytes.len();
        Self { ptr: Box::into_raw(bytes).cast(), len }
    }
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

    /// An error of class `kind`, as both bindings classify them.
    fn of_kind(kind: ErrorKind, message: String) -> Self {
        let (status, field) = match kind {
            ErrorKind::InvalidInput { field } => (CsStatus::InvalidInput, field),
            ErrorKind::Locked => (CsStatus::Locked, None),
            ErrorKind::QuotaExceeded => (CsStatus::QuotaExceeded, None),
            ErrorKind::Conflict => (CsStatus::Conflict, None),
            ErrorKind::Pruned => (CsStatus::Pruned, None),
            ErrorKind::Corruption => (CsStatus::Corruption, None),
            ErrorKind::Other => (CsStatus::Error, None),
        };
        Self { status, message, field: field.map(str::to_owned) }
    }
}

impl From<ChainError> for Failure {
    fn from(e: ChainError) -> Self {
        Self::of_kind(chain_error_kind(&e), e.to_string())
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Self::of_kind(db_error_kind(&e), e.to_string())
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

/// An optional C string argument: NULL is `None`.
///
/// # Safety
/// As [`arg`].
unsafe fn opt_arg<'a>(s: *const c_char, name: &str) -> Result<Option<&'a str>> {
    // SAFETY: the caller's promise.
    (!s.is_null()).then(|| unsafe { arg(s, name) }).transpose()
}

/// A C string argument parsed by one of `chainstore_json::input`'s field parsers (an address,
/// a hash, a slot), its errors naming `name`.
///
/// # Safety
/// As [`arg`].
unsafe fn parsed<T>(
    s: *const c_char,
    name: &str,
    parse: fn(&Value, &str) -> Result<T, InputError>,
) -> Result<T> {
    // SAFETY: the caller's promise.
    let text = unsafe { arg(s, name) }?;
    Ok(parse(&Value::String(text.to_owned()), name)?)
}

/// A borrowed byte buffer argument: `len` bytes at `ptr`, which may be NULL when `len` is 0.
///
/// # Safety
/// `ptr` is null or valid for reading `len` bytes during the call.
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Failure::invalid(name, "is NULL")) };
    }
    // SAFETY: not null, valid for `len` bytes that C does not change during the call (the
    // caller's promise).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The object behind a handle, borrowed for the call.
///
/// # Safety
/// `handle` is null or a live handle of type `T` that no other thread frees or mutates during
/// the call.
unsafe fn live<'a, T>(handle: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: null or a live handle, only read here (the caller's promise).
    unsafe { handle.as_ref() }.ok_or_else(|| Failure::invalid(name, "is NULL"))
}

/// The object behind a handle, borrowed mutably for the call.
///
/// # Safety
/// `handle` is null or a live handle of type `T` that no other thread uses during the call.
unsafe fn live_mut<'a, T>(handle: *mut T, name: &str) -> Result<&'a mut T> {
    // SAFETY: null or a live handle used by this call alone (the caller's promise).
    unsafe { handle.as_mut() }.ok_or_else(|| Failure::invalid(name, "is NULL"))
}

/// A handle for C: the object, boxed, owned by the caller until a consuming call gives it back.
fn into_handle<T>(object: T) -> *mut T {
    Box::into_raw(Box::new(object))
}

/// The object behind a handle, given back by C (`None` for NULL).
///
/// # Safety
/// `handle` is null or a handle of type `T` from [`into_handle`], given back exactly once and
/// not in use by another thread.
unsafe fn from_handle<T>(handle: *mut T) -> Option<Box<T>> {
    // SAFETY: a `Box` from `into_handle`, given back exactly once (the caller's promise).
    (!handle.is_null()).then(|| unsafe { Box::from_raw(handle) })
}

/// An out-parameter, checked not NULL before the call does any work: a call that fails on it
/// changes nothing and allocates nothing.
struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// `out` is null or valid for a write of a `T` during the call.
    unsafe fn new(out: *mut T, name: &str) -> Result<Self> {
        NonNull::new(out).map(Self).ok_or_else(|| Failure::invalid(name, "is NULL"))
    }

    /// Writes the result (the previous value is overwritten, not dropped).
    fn set(self, value: T) {
        // SAFETY: not null and valid for a write (promised to `Out::new`).
        unsafe { self.0.as_ptr().write(value) }
    }
}

impl Out<*mut c_char> {
    /// Writes `doc` as a new C string, owned by the caller (freed with `cs_string_free`).
    fn set_json(self, doc: &Value) {
        self.set(c_string(doc.to_string()).into_raw());
    }
}

/// An optional block number: NULL for the head.
///
/// # Safety
/// `block` is null or points to a `u64`.
unsafe fn block_arg(block: *const u64) -> Option<u64> {
    // SAFETY: null or a valid `u64` (the caller's promise).
    unsafe { block.as_ref() }.copied()
}

/// The message of the last error on this thread ("" if none); owned by chainstore, valid
/// until the next call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn cs_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().0.as_ptr())
}

/// The field at fault of the last error on this thread (for `CS_STATUS_INVALID_INPUT`: e.g.
/// `"transactions[1].hash"`, `"address"`, `"retention.history"`, `"table"`), or NULL; owned by
/// chainstore, valid until the next call on this thread.
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
        // SAFETY: allocated by `CString::into_raw` in `Out::set_json`, given back exactly once.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Frees bytes that chainstore returned through an `out` parameter. Empty bytes (`ptr` NULL)
/// are a no-op.
///
/// # Safety
/// `bytes` is as chainstore returned it (both fields unchanged), not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cs_bytes_free(bytes: CsBytes) {
    if !bytes.ptr.is_null() {
        let slice = ptr::slice_from_raw_parts_mut(bytes.ptr, bytes.len);
        // SAFETY: a boxed slice of `len` bytes from `CsBytes::new`, given back exactly once.
        drop(unsafe { Box::from_raw(slice) });
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

    #[test]
    fn handles_are_as_thread_safe_as_the_header_says() {
        fn shared<T: Send + Sync>() {}
        fn one_thread_at_a_time<T: Send>() {}
        shared::<CsStore>();
        shared::<CsDb>();
        shared::<CsReadTxn>();
        one_thread_at_a_time::<CsWriteTxn>();
        one_thread_at_a_time::<CsIter>();
    }

    #[test]
    fn bytes_round_trip() {
        let empty = CsBytes::new(Vec::new());
        assert!(empty.ptr.is_null() && empty.len == 0);
        let bytes = CsBytes::new(vec![1, 2, 3]);
        // SAFETY: `ptr` holds `len` bytes from `CsBytes::new`.
        assert_eq!(unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }, [1, 2, 3]);
        // SAFETY: both as `CsBytes::new` returned them, freed once.
        unsafe {
            cs_bytes_free(empty);
            cs_bytes_free(bytes);
        }
    }
}
