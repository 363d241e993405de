//! Integration tests of the engine crate (one binary, modules per area).

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;
mod db_conformance;
mod db_crash_loop;
mod db_disk_full;
mod db_format;
mod db_isolation;
mod db_lock;
mod db_model;
mod db_power_loss;
mod db_read_only;
mod db_space;
mod engine_record_fuzz_check;
mod engine_record_fuzz_corpus;
mod wal_basic;
mod wal_corruption;
mod wal_crash_loop;
mod wal_disk_full;
mod wal_fuzz_check;
mod wal_fuzz_corpus;
mod wal_model;
mod wal_power_loss;
mod wal_read_from;
mod wal_torn_tail;
mod write_set_fuzz_check;
mod write_set_fuzz_corpus;

/// The stable half of every fuzz target: corpus, seeds and mutations.
#[path = "../../../../fuzz/stable.rs"]
mod stable;
