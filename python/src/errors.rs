//! The exception hierarchy: every error is a `ChainstoreError`; callers react to the subclasses.

use chainstore_chain::ChainError;
use chainstore_engine::db::Error as DbError;
use chainstore_json::input::InputError;
use chainstore_json::kind::{ErrorKind, chain_error_kind, db_error_kind};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    chainstore,
    ChainstoreError,
    PyException,
    "Base class of every error the chainstore package raises."
);
pyo3::create_exception!(
    chainstore,
    InvalidInput,
    ChainstoreError,
    "An argument or a block is malformed or does not fit the store; nothing was changed. \
     `field` names the field at fault (e.g. `transactions[1].hash`), or is None."
);
pyo3::create_exception!(
    chainstore,
    CorruptionError,
    ChainstoreError,
    "Stored data is damaged: a checksum or a decode failed. Run `verify()`."
);
pyo3::create_exception!(
    chainstore,
    Locked,
    ChainstoreError,
    "The directory is open in another process (or in another object of this one)."
);
pyo3::create_exception!(
    chainstore,
    QuotaExceeded,
    ChainstoreError,
    "The commit would exceed the store's byte quota (`max_bytes`) or the disk is full; \
     nothing was written, deletes still work."
);
pyo3::create_exception!(
    chainstore,
    Conflict,
    ChainstoreError,
    "A write-write conflict: another transaction committed a write to the same key since this \
     one began. Nothing was written; retry the transaction."
);
pyo3::create_exception!(
    chainstore,
    Pruned,
    ChainstoreError,
    "What was asked for is below the retained history window."
);

/// Adds the exception classes to the module; `InvalidInput.field` defaults to None.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    py.get_type::<InvalidInput>().setattr("field", py.None())?;
    m.add("ChainstoreError", py.get_type::<ChainstoreError>())?;
    m.add("InvalidInput", py.get_type::<InvalidInput>())?;
    m.add("CorruptionError", py.get_type::<CorruptionError>())?;
    m.add("Locked", py.get_type::<Locked>())?;
    m.add("QuotaExceeded", py.get_type::<QuotaExceeded>())?;
    m.add("Conflict", py.get_type::<Conflict>())?;
    m.add("Pruned", py.get_type::<Pruned>())?;
    Ok(())
}

/// `InvalidInput(message)` with `field` set.
pub(crate) fn invalid(field: Option<&str>, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let err = InvalidInput::new_err(message);
        // Setting an attribute on a fresh exception instance only fails without memory.
        if let Err(e) = err.value(py).setattr("field", field) {
            return e;
        }
        err
    })
}

/// An argument that does not parse: `InvalidInput` naming the argument (or the field in it).
pub(crate) fn input_error(e: InputError) -> PyErr {
    invalid(e.field.as_deref(), e.to_string())
}

/// The exception of a class, with `message`.
fn exception(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::InvalidInput { field } => invalid(field, message),
        ErrorKind::Locked => Locked::new_err(message),
        ErrorKind::QuotaExceeded => QuotaExceeded::new_err(message),
        ErrorKind::Conflict => Conflict::new_err(message),
        ErrorKind::Pruned => Pruned::new_err(message),
        ErrorKind::Corruption => CorruptionError::new_err(message),
        ErrorKind::Other => ChainstoreError::new_err(message),
    }
}

/// The exception for a database error.
pub(crate) fn db_error(e: DbError) -> PyErr {
    exception(db_error_kind(&e), e.to_string())
}

/// The exception for a chain store error. Commit errors that one field of the block causes
/// are `InvalidInput` naming that field, as `chainstore ingest` reports them.
pub(crate) fn chain_error(e: ChainError) -> PyErr {
    exception(chain_error_kind(&e), e.to_string())
}

/// The error of an operation on a closed store or database.
pub(crate) fn closed(what: &str) -> PyErr {
    ChainstoreError::new_err(format!("the {what} is closed"))
}
