//! Fuzz target: arbitrary bytes through the database's write-set decoder (`decode_write_set`),
//! with the checks of `crates/engine/tests/it/write_set_fuzz_check.rs`, which the stable test
//! `write_set_fuzz_corpus` runs over the corpus too.

#![no_main]

#[path = "../../crates/engine/tests/it/write_set_fuzz_check.rs"]
mod write_set_fuzz_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    write_set_fuzz_check::check(data);
});
