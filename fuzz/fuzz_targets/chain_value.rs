//! Fuzz target: arbitrary bytes through the chain store's value decoders (headers, stored
//! transactions and receipts in RLP, accounts, storage values, log pointers, the import marker,
//! numbers); the first byte picks the table. The checks are `chainstore_chain::fuzz::check_value`,
//! which the chain crate's unit tests run over the corpus too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chainstore_chain::fuzz::check_value(data);
});
