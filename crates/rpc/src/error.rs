//! Errors of the RPC methods and their JSON-RPC codes (EIP-1474 where it defines one).

use chainstore_chain::ChainError;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

/// `-32602`: the params do not parse; the message names the param and field at fault.
pub const INVALID_PARAMS: i32 = -32602;
/// `-32603`: the store failed (a database error or a corrupt entry).
pub const INTERNAL_ERROR: i32 = -32603;
/// `-32000`: the request is well-formed but cannot be answered (e.g. a block above the head).
pub const INVALID_INPUT: i32 = -32000;
/// `-32001`: a block hash the store does not know, where the method needs a block.
pub const RESOURCE_NOT_FOUND: i32 = -32001;
/// `-32002`: the data was pruned; `data.oldestAvailable` is the oldest block that has it.
pub const RESOURCE_UNAVAILABLE: i32 = -32002;
/// `-32005`: a limit of the server was exceeded (range, results, time).
pub const LIMIT_EXCEEDED: i32 = -32005;

/// Why a method failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// A param does not parse: `param` is its position and name, `detail` what is wrong.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// A block hash the store does not know.
    #[error("unknown block {0}")]
    UnknownBlock(alloy_primitives::B256),
    /// A well-formed request that cannot be answered.
    #[error("{0}")]
    InvalidInput(String),
    /// A limit of the server was exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The store failed, or refused (pruned data, a block above the head).
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let object = error_object(e);
        metrics::counter!("chainstore_rpc_errors_total", "code" => object.code().to_string())
            .increment(1);
        object
    }
}

/// The JSON-RPC error object of `e`.
fn error_object(e: RpcError) -> ErrorObjectOwned {
    let message = e.to_string();
    match e {
        RpcError::InvalidParams(_) => ErrorObjectOwned::owned::<()>(INVALID_PARAMS, message, None),
        RpcError::UnknownBlock(_) => {
            ErrorObjectOwned::owned::<()>(RESOURCE_NOT_FOUND, message, None)
        }
        RpcError::InvalidInput(_) => ErrorObjectOwned::owned::<()>(INVALID_INPUT, message, None),
        RpcError::LimitExceeded(_) => ErrorObjectOwned::owned::<()>(LIMIT_EXCEEDED, message, None),
        RpcError::Chain(ChainError::Pruned { oldest_available, .. }) => {
            let data = json!({ "oldestAvailable": format!("{oldest_available:#x}") });
            ErrorObjectOwned::owned(RESOURCE_UNAVAILABLE, message, Some(data))
        }
        RpcError::Chain(ChainError::AboveHead { .. } | ChainError::Empty) => {
            ErrorObjectOwned::owned::<()>(INVALID_INPUT, message, None)
        }
        RpcError::Chain(_) => {
            tracing::error!(target: "chainstore::rpc", "store error: {message}");
            ErrorObjectOwned::owned::<()>(INTERNAL_ERROR, message, None)
        }
    }
}

/// Shorthand for results of the RPC methods.
pub(crate) type Result<T, E = RpcError> = std::result::Result<T, E>;
