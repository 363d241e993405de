//! Fuzz target: arbitrary records in a commit-log segment, replayed by `Database::open`, with the
//! checks of `crates/engine/tests/it/engine_record_fuzz_check.rs`, which the stable test
//! `engine_record_fuzz_corpus` runs over the corpus too.

#![no_main]

#[path = "../../crates/engine/tests/it/engine_record_fuzz_check.rs"]
mod engine_record_fuzz_check;
/// For `fix_checksums`.
#[allow(dead_code, reason = "the target uses a part of the module")]
#[path = "../../crates/engine/tests/it/wal_fuzz_check.rs"]
mod wal_fuzz_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    engine_record_fuzz_check::check(data);
});
