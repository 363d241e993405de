//! Fuzz target: arbitrary bytes through the commit log's decoders (`SegmentHeader::decode`,
//! `decode_record`, `scan_segment`), checking their invariants. The checks live beside the engine's
//! integration tests, which run the same entry point over the seed corpus on stable Rust.

#![no_main]

#[path = "../../crates/engine/tests/it/wal_fuzz_check.rs"]
mod wal_fuzz_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wal_fuzz_check::check(data));
