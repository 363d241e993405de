//! The `engine_record` target's entry point ([`crate::engine_record_fuzz_check::check`]) on
//! stable Rust: over the committed corpus `fuzz/corpus/engine_record/` and a few hundred
//! pseudo-random and mutated inputs (each opens a database twice, so fewer than the decoders'
//! thousands). The seeds frame write sets a real database logged with the log's own encoder.

use chainstore_engine::wal::format::{Position, SEGMENT_HEADER_LEN, encode_record};

use crate::engine_record_fuzz_check::{SALT, WRITE_SET, check, segment};
use crate::stable::Stable;
use crate::write_set_fuzz_check::encode;
use crate::write_set_fuzz_corpus::logged_write_sets;

const INPUTS: usize = 600;

/// The records part of a segment holding `records` (type, payload) from sequence number 1 on,
/// followed by `padding` zero bytes (the unused, preallocated rest of a segment).
fn records(records: &[(u8, &[u8])], padding: usize) -> Vec<u8> {
    let mut image = segment(&[]);
    for (i, (ty, payload)) in records.iter().enumerate() {
        let at = Position { salt: SALT, offset: image.len() as u64 };
        encode_record(&mut image, at, 1 + i as u64, *ty, payload);
    }
    image.resize(image.len() + padding, 0);
    image.split_off(SEGMENT_HEADER_LEN)
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let logged = logged_write_sets();
    let all: Vec<(u8, &[u8])> = logged.iter().map(|(_, p)| (WRITE_SET, &p[..])).collect();
    let one = &logged[0].1[..];
    // Cut inside the last record (the check seals checksums, so a cut is what tears a record).
    let mut torn = records(&all, 0);
    torn.truncate(torn.len() - 20);
    let trailing = [&logged[1].1[..], &[0]].concat();
    // What no transaction can write (the database's encoder refuses the name): a put into a
    // backend's own table. Replay must refuse it.
    let reserved =
        encode(&[("__chainstore_meta".into(), b"checkpoint".to_vec(), Some(vec![0xff; 8]))]);
    vec![
        ("one-record", records(&[(WRITE_SET, one)], 64)),
        ("all-records", records(&all, 64)),
        ("unknown-type", records(&[(WRITE_SET, one), (2, one)], 32)),
        ("bad-write-set", records(&[(WRITE_SET, one), (WRITE_SET, &trailing)], 32)),
        ("reserved-table", records(&[(WRITE_SET, one), (WRITE_SET, &reserved)], 32)),
        ("torn-tail", torn),
        ("no-records", vec![0; 64]),
    ]
    .into_iter()
    .map(|(name, bytes)| (name.to_string(), bytes))
    .collect()
}

#[test]
fn corpus_and_mutations() {
    let stable = Stable { target: "engine_record", seeds: seeds(), tokens: &[], inputs: INPUTS };
    let outcomes = stable.run(check);
    for outcome in ["replayed", "bad record", "damaged log"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 50, "{outcomes:?}");
    }
}
