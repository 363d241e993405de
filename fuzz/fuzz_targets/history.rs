//! Fuzz target: arbitrary bytes through the state-history decoders (per-block change lists,
//! history values and history keys of accounts, slots and trie nodes); the first byte picks the
//! kind and part. The checks are `chainstore_chain::fuzz::check_history`, which the chain crate's
//! unit tests run over the corpus too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chainstore_chain::fuzz::check_history(data);
});
