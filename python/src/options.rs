//! Open options shared by `ChainStore` and `Database`: backend, durability, quota.

use chainstore_engine::db::{BackendChoice, Options};
use chainstore_engine::wal::Durability;
use pyo3::prelude::*;

use crate::errors::invalid;

/// The engine's options for `backend`, `durability` and `max_bytes`.
pub(crate) fn engine_options(
    backend: &str,
    durability: &str,
    max_bytes: Option<u64>,
) -> PyResult<Options> {
    Ok(Options {
        backend: backend_choice(backend)?,
        durability: durability_choice(durability)?,
        max_bytes,
        ..Options::default()
    })
}

/// `"redb"` (the default) or `"rocksdb"` (builds with the `rocksdb` feature).
fn backend_choice(name: &str) -> PyResult<BackendChoice> {
    name.parse().map_err(|e| invalid(Some("backend"), format!("{e}")))
}

/// `"immediate"` (fsync before a commit returns; the default) or `"buffered"`.
pub(crate) fn durability_choice(name: &str) -> PyResult<Durability> {
    name.parse().map_err(|e| invalid(Some("durability"), format!("{e}")))
}
