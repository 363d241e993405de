//! Integration tests of the engine crate (one binary, modules per area).

mod common;
mod wal_basic;
mod wal_corruption;
mod wal_fuzz_check;
mod wal_fuzz_corpus;
