//! Fuzz target: arbitrary text through the block line parser of `chainstore ingest`, with the
//! checks of `crates/cli/tests/it/block_line_fuzz_check.rs`, which the stable test
//! `block_line_fuzz_corpus` runs over the corpus too. The parser is the one the binary uses.

#![no_main]

#[path = "../../crates/cli/tests/it/block_line_fuzz_check.rs"]
mod block_line_fuzz_check;
use chainstore_json::input as json_in;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    block_line_fuzz_check::check(data);
});
