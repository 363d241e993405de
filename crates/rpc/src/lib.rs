//! chainstore's Ethereum JSON-RPC read server: the methods a read-only node offers on what
//! the chain store holds (blocks, transactions, receipts, logs, state and proofs at any
//! retained block), over HTTP, with limits for public-facing use. `docs/rpc.md` lists the
//! methods, block tags, limits, errors, and the fields the store does not hold.
//!
//! ```
//! use std::sync::Arc;
//! use chainstore_chain::ChainStore;
//! use chainstore_rpc::{RpcConfig, RpcServer};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(ChainStore::open(dir.path(), Default::default()).unwrap());
//! let config = RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
//! let server = RpcServer::start(store, config).unwrap();
//! println!("serving on http://{}", server.local_addr());
//! server.stop();
//! ```

mod convert;
mod error;
mod eth;
mod ots;
mod params;
mod server;

pub use convert::{RpcTransaction, StoredTransaction};
pub use error::{
    INTERNAL_ERROR, INVALID_INPUT, INVALID_PARAMS, LIMIT_EXCEEDED, RESOURCE_NOT_FOUND,
    RESOURCE_UNAVAILABLE, RpcError,
};
pub use server::{Limits, RpcConfig, RpcServer, StartError};
