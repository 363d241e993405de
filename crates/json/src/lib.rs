//! chainstore's JSON formats, shared by the `chainstore` binary and the language bindings, and
//! the classes of errors the bindings report.
//!
//! - [`input`]: block commit lines (`docs/cli.md`, "Block commit lines") and their parts as
//!   serde types, parsed with errors that name the field at fault ([`input::InputError`]);
//!   [`input::block_to_json`] writes a block in exactly the format [`input::parse_block`] reads.
//! - [`output`]: blocks, transactions, receipts, logs, accounts and storage as documents in the
//!   Ethereum JSON-RPC conventions.
//! - [`kind`]: what a caller does about an error ([`kind::ErrorKind`]), the basis of the Python
//!   exceptions and the C status codes.
//!
//! ```
//! use chainstore_json::input::parse_block;
//! let block = parse_block(r#"{"number":"0x0","hash":"0x01","timestamp":0}"#);
//! let err = block.expect_err("a 1-byte hash");
//! assert_eq!(err.field.as_deref(), Some("hash"));
//! ```

pub mod input;
pub mod kind;
pub mod output;
