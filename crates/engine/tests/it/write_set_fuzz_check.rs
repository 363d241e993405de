//! The write-set decoder ([`decode_write_set`]) on arbitrary bytes: the entry point of the
//! `write_set` fuzz target (`fuzz/fuzz_targets/write_set.rs` includes this file) and of the stable
//! test `write_set_fuzz_corpus`.
//!
//! A write set is the payload of the database's commit-log records (format in
//! `crates/engine/src/db/writeset.rs` and `docs/format.md`). Only the public API is used, so the
//! file compiles in both places. A broken invariant panics, which is what a fuzzer reports.

use chainstore_engine::db::{WriteOp, decode_write_set};

/// Decodes `data` as a write set. Errors are fine; a decoded write set must hold only what a
/// transaction can write (valid table names), account for its bytes, and decode the same once
/// encoded again by the documented format.
pub(crate) fn check(data: &[u8]) -> &'static str {
    let ops = match decode_write_set(data) {
        Ok(ops) => ops,
        Err(e) => {
            assert!(!e.is_empty(), "an empty error message");
            return "error";
        }
    };
    for (table, _, _) in &ops {
        assert!(valid_table_name(table), "the decoder accepted the table name {table:?}");
    }
    let encoded = encode(&ops);
    assert!(
        encoded.len() <= data.len(),
        "{} ops decoded from fewer bytes than they take",
        ops.len()
    );
    assert_eq!(decode_write_set(&encoded).as_ref(), Ok(&ops), "decode, encode, decode differ");
    if ops.is_empty() { "empty" } else { "decoded" }
}

/// The rule for table names a transaction may write (`WriteTxn::put`): 1 to 255 bytes, not
/// starting with `__` (the backends' own tables).
fn valid_table_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.starts_with("__")
}

/// Encodes operations as the format says, one table entry per run of operations on one table:
/// `u16` table count; per table `u8` name length, name, `u32` operation count; per operation
/// `u8` kind (1 put, 2 delete), `u32` key length, key, and for a put `u32` value length, value
/// (all little-endian).
pub(crate) fn encode(ops: &[WriteOp]) -> Vec<u8> {
    let runs: Vec<&[WriteOp]> = ops.chunk_by(|a, b| a.0 == b.0).collect();
    let mut out = (runs.len() as u16).to_le_bytes().to_vec();
    for run in runs {
        out.push(run[0].0.len() as u8);
        out.extend_from_slice(run[0].0.as_bytes());
        out.extend_from_slice(&(run.len() as u32).to_le_bytes());
        for (_, key, value) in run {
            out.push(if value.is_some() { 1 } else { 2 });
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            if let Some(value) = value {
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
        }
    }
    out
}
