//! The block line parser of `chainstore ingest` (`chainstore_json::input::parse_block`) on arbitrary
//! bytes: the entry point of the `block_line` fuzz target (`fuzz/fuzz_targets/block_line.rs`
//! includes this file) and of the stable test `block_line_fuzz_corpus`.
//!
//! Errors are fine. A line that parses must give the same block once written back by
//! `block_to_json` (the writer the tests and benchmarks use) and parsed again. A broken invariant
//! panics, which is what a fuzzer reports.

use alloy_primitives::{Address, hex};
use chainstore_chain::BlockCommit;

use super::json_in::{block_to_json, parse_block};

/// Parses `data` as one block line. `ingest` refuses a line that is not UTF-8 before parsing it;
/// here invalid sequences become U+FFFD, so that every input reaches the parser.
pub(crate) fn check(data: &[u8]) -> &'static str {
    let line = String::from_utf8_lossy(data);
    match parse_block(&line) {
        Ok(block) => {
            if spellings_suffice(&block) {
                let again = serde_json::to_string(&block_to_json(&block)).expect("JSON text");
                let parsed = parse_block(&again).unwrap_or_else(|e| panic!("{e}: {again}"));
                assert_eq!(parsed, block, "written back as {again}");
            }
            "parsed"
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty error message");
            "error"
        }
    }
}

/// Whether `block_to_json` can write every `state` entry under a key of its own: it has 3 × 2^n
/// spellings (at most 192) for an address with n letters among its hex digits.
fn spellings_suffice(block: &BlockCommit) -> bool {
    let spellings = |a: &Address| {
        let letters = hex::encode(a).bytes().filter(u8::is_ascii_alphabetic).count();
        3usize << letters.min(6)
    };
    block
        .state
        .iter()
        .all(|(a, _)| block.state.iter().filter(|(b, _)| b == a).count() <= spellings(a))
}
