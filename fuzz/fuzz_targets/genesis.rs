//! Fuzz target: arbitrary text through the genesis file parser of `chainstore genesis`, with the
//! checks of `crates/cli/tests/it/genesis_fuzz_check.rs`, which the stable test
//! `genesis_fuzz_corpus` runs over the corpus too. The parser is the binary's own file.

#![no_main]

#[allow(dead_code, reason = "the target uses a part of the module")]
#[path = "../../crates/cli/src/genesis_file.rs"]
mod genesis_file;
#[path = "../../crates/cli/tests/it/genesis_fuzz_check.rs"]
mod genesis_fuzz_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    genesis_fuzz_check::check(data);
});
