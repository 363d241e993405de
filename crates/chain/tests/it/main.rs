//! Integration tests of the chain store.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod cache;
mod commit;
mod common;
mod history;
mod import;
mod logs;
mod power_loss;
mod read_only;
mod snapshot;
mod unwind;
mod verify;
