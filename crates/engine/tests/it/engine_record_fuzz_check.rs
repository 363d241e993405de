//! The database's commit-log records as it replays them on open, on arbitrary bytes: the entry
//! point of the `engine_record` fuzz target (`fuzz/fuzz_targets/engine_record.rs` includes this
//! file and `wal_fuzz_check.rs`) and of the stable test `engine_record_fuzz_corpus`.
//!
//! The input is the part of a log segment after its header: records (type, sequence number,
//! payload) and whatever follows them. The check puts a segment header in front, seals every
//! record's checks and checksums where its length field says it is (so the fuzzer gets past them
//! to the record types and write sets; the framing itself is the `wal_decode` target's), writes
//! the segment into an in-memory file system and opens a database on it. Expected: the database
//! opens if and only if every record the log recovery hands over is a write set that decodes,
//! and then every key reads as the records wrote it, before and after the records are indexed
//! into the backend. Only the public API is used.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chainstore_engine::backend::{KeyRange, MemoryBackend};
use chainstore_engine::db::{BackendChoice, Database, Error, Options, decode_write_set};
use chainstore_engine::vfs::{FaultFs, OpenMode, Vfs};
use chainstore_engine::wal::format::{SEGMENT_HEADER_LEN, SegmentHeader};
use chainstore_engine::wal::{self, RecoveryMode, WalOptions};

use crate::wal_fuzz_check::fix_checksums;

/// The salt of the segment the check builds (its records' header checks are keyed by it).
pub(crate) const SALT: u32 = 0x5eed_0001;

/// Record type of a write set (the only type the database writes).
pub(crate) const WRITE_SET: u8 = 1;

/// Per table and key, the value the log leaves (`None`: deleted).
type Model = BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>;

/// A table's rows, in key order.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Why the database must refuse to open.
#[derive(Debug)]
enum Refusal {
    /// The log itself is damaged (beyond a torn tail).
    Log(String),
    /// Record `seq` passed its checksums but is not a write set that decodes.
    Record(u64),
}

/// Opens a database on a log made of `data` (see the module docs) and checks what it replays.
pub(crate) fn check(data: &[u8]) -> &'static str {
    let fs = FaultFs::new();
    let dir = Path::new("/db");
    write_segment(&fs, &dir.join("wal"), &segment(data));
    let expected = replay_model(&fs, &dir.join("wal"));
    let backend = MemoryBackend::new();
    match (expected, Database::open(dir, options(&fs, &backend))) {
        (Ok(model), Ok(db)) => {
            assert_reads(&db, &model);
            db.close().expect("close after replay");
            // Now from the backend (the records were indexed and the log truncated).
            let db = Database::open(dir, options(&fs, &backend)).expect("reopen after indexing");
            assert_reads(&db, &model);
            db.close().expect("close after reopening");
            if model.is_empty() { "empty" } else { "replayed" }
        }
        (Ok(_), Err(e)) => panic!("the database refused a log whose records all decode: {e}"),
        (Err(why), Ok(_)) => panic!("the database opened a log it cannot replay: {why:?}"),
        (Err(Refusal::Log(damage)), Err(e)) => {
            assert!(matches!(e, Error::Wal(_)), "log damage ({damage}) reported as {e:?}");
            "damaged log"
        }
        (Err(Refusal::Record(seq)), Err(e)) => {
            assert!(
                matches!(e, Error::CorruptRecord { seq: s, .. } if s == seq),
                "record {seq} does not decode, but the error is {e:?}"
            );
            "bad record"
        }
    }
}

/// Segment 1 (records from 1 on, salt [`SALT`]) with `records` after its header, every header
/// check and checksum sealed.
pub(crate) fn segment(records: &[u8]) -> Vec<u8> {
    let header = SegmentHeader {
        number: 1,
        first_seq: 1,
        prev_last_seq: 0,
        segment_len: (SEGMENT_HEADER_LEN + records.len()) as u64,
        salt: SALT,
    };
    let mut image = header.encode().to_vec();
    image.extend_from_slice(records);
    fix_checksums(&image)
}

fn write_segment(fs: &FaultFs, wal_dir: &Path, image: &[u8]) {
    fs.create_dir_all(wal_dir).expect("create the log directory");
    let path = wal_dir.join(format!("{:020}.wal", 1));
    drop(fs.open(&path, OpenMode::CreateNew).expect("create the segment"));
    fs.set_contents(&path, image.to_vec()).expect("write the segment");
}

fn options(fs: &FaultFs, backend: &MemoryBackend) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        backend: BackendChoice::Memory(backend.clone()),
        wal: WalOptions { segment_size: 64 << 10, ..WalOptions::default() },
        ..Options::default()
    }
}

/// What replaying the log must give: the records recovery hands over (as `wal::inspect` sees
/// them), decoded by the public decoder and applied in order.
fn replay_model(fs: &FaultFs, wal_dir: &Path) -> Result<Model, Refusal> {
    let mut model = Model::new();
    let mut bad = None;
    let scan = wal::inspect(fs, wal_dir, RecoveryMode::TolerateTornTail, &mut |rec| {
        if bad.is_some() {
            return;
        }
        let ops = match rec.ty {
            WRITE_SET => decode_write_set(rec.payload),
            _ => Err(String::new()),
        };
        match ops {
            Ok(ops) => model.extend(ops.into_iter().map(|(t, k, v)| ((t, k), v))),
            Err(_) => bad = Some(rec.seq),
        }
    });
    match (scan, bad) {
        (Err(e), _) => Err(Refusal::Log(e.to_string())),
        (Ok(_), Some(seq)) => Err(Refusal::Record(seq)),
        (Ok(_), None) => Ok(model),
    }
}

/// Every key of the model reads as the model says, and each table holds no other keys.
fn assert_reads(db: &Database, model: &Model) {
    let r = db.begin_read();
    let mut live: BTreeMap<&str, Rows> = BTreeMap::new();
    for ((table, key), value) in model {
        let got = r.get(table, key).expect("read a replayed key");
        assert_eq!(&got, value, "table {table:?} key {key:02x?}");
        let rows = live.entry(table).or_default();
        if let Some(v) = value {
            rows.push((key.clone(), v.clone()));
        }
    }
    for (table, expected) in live {
        let rows: Rows = r
            .range(table, KeyRange::all(), false)
            .expect("scan a table")
            .map(|p| p.expect("a row"))
            .collect();
        assert_eq!(rows, expected, "the rows of table {table:?}");
    }
}
