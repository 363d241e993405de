//! The genesis file parser of `chainstore genesis` (`genesis_file::parse`) on arbitrary bytes: the
//! entry point of the `genesis` fuzz target (`fuzz/fuzz_targets/genesis.rs` includes this file
//! and `genesis_file.rs`) and of the stable test `genesis_fuzz_corpus`.
//!
//! Errors are fine. A file that parses must give what the command commits as block 0: every
//! address once, each with a balance and without zero slots; and its header must hash. A broken
//! invariant panics, which is what a fuzzer reports.

use std::collections::HashSet;

use alloy_primitives::B256;

use super::genesis_file::parse;

/// Parses `data` as a genesis file. The command refuses a file that is not UTF-8 before parsing
/// it; here invalid sequences become U+FFFD, so that every input reaches the parser.
pub(crate) fn check(data: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(data);
    match parse(&text) {
        Ok(genesis) => {
            let mut seen = HashSet::new();
            for (address, change) in &genesis.alloc {
                assert!(seen.insert(address), "{address} twice in alloc");
                let change = change.as_ref().expect("alloc never deletes an account");
                assert!(change.balance.is_some(), "{address} without a balance");
                assert!(change.storage.iter().all(|(_, v)| !v.is_zero()), "a zero slot kept");
            }
            let _ = genesis.header.hash(genesis.state_root.unwrap_or(B256::ZERO));
            "parsed"
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty error message");
            "error"
        }
    }
}
