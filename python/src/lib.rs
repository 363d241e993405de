//! The `chainstore` Python package's native module, `chainstore._chainstore`: a chain store
//! ([`chain::PyChainStore`]) and the generic transactional database ([`db::PyDatabase`]) with an
//! exception hierarchy ([`errors`]). Documents come back in the shapes of the Ethereum JSON-RPC
//! (and of the `chainstore` CLI's `--json` output): `dict`s of `0x` hex strings. Every call that
//! touches the store releases the GIL; every object may be shared between threads.

mod chain;
mod convert;
mod db;
mod errors;
mod options;

use pyo3::prelude::*;

/// mimalloc for the extension's own allocations (Python's objects keep pymalloc), tuned as in the
/// `chainstore` binary (`chainstore_alloc`): a commit allocates its write set on the caller's
/// thread and the background indexer frees it on another.
#[global_allocator]
static ALLOCATOR: chainstore_alloc::MiMalloc = chainstore_alloc::MiMalloc;

/// The native module.
#[pymodule]
fn _chainstore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    chainstore_alloc::tune();
    errors::register(m)?;
    m.add_class::<chain::PyChainStore>()?;
    m.add_class::<db::PyDatabase>()?;
    m.add_class::<db::PyWriteTxn>()?;
    m.add_class::<db::PySnapshot>()?;
    m.add_class::<db::PyPairIter>()?;
    m.add("PRUNE_BATCH_OPS", chainstore_chain::PRUNE_BATCH_OPS)?;
    Ok(())
}
