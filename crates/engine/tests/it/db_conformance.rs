//! One conformance suite, run against every backend: first at the `Backend` trait, then through
//! the `Database` (memtable and backend together, before and after indexing).

use std::ops::Bound;
use std::sync::Arc;

use chainstore_engine::backend::{
    Backend, Checkpoint, KeyRange, MemoryBackend, RedbBackend, RedbOptions,
};
use chainstore_engine::db::{BackendChoice, Database, Options};
use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::LogPosition;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn kv(pairs: &[(&str, &str)]) -> Pairs {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

fn op(table: &str, key: &str, value: Option<&str>) -> chainstore_engine::backend::Op {
    (Arc::from(table), Arc::from(key.as_bytes()), value.map(|v| Arc::from(v.as_bytes())))
}

fn backend_suite(backend: &dyn Backend) {
    let empty = backend.snapshot().unwrap();
    assert_eq!(empty.checkpoint(), 0);
    assert_eq!(empty.get("t", b"a").unwrap(), None);
    assert_eq!(empty.range("t", &KeyRange::all(), false).unwrap().count(), 0);

    backend
        .apply(
            &[
                op("t", "a", Some("1")),
                op("t", "b", Some("2")),
                op("t", "c", Some("3")),
                op("u", "a", Some("x")),
            ],
            5.into(),
        )
        .unwrap();
    let s1 = backend.snapshot().unwrap();
    backend.apply(&[op("t", "b", None), op("t", "d", Some("4"))], 9.into()).unwrap();
    let s2 = backend.snapshot().unwrap();

    // Snapshots are stable while later batches land.
    assert_eq!((s1.checkpoint(), s2.checkpoint()), (5, 9));
    assert_eq!(s1.get("t", b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(s2.get("t", b"b").unwrap(), None);
    assert_eq!(empty.get("t", b"a").unwrap(), None);

    let collect = |s: &Arc<dyn chainstore_engine::backend::BackendSnapshot>,
                   r: KeyRange,
                   rev: bool|
     -> Pairs { s.range("t", &r, rev).unwrap().map(|x| x.unwrap()).collect() };
    assert_eq!(collect(&s2, KeyRange::all(), false), kv(&[("a", "1"), ("c", "3"), ("d", "4")]));
    assert_eq!(collect(&s2, KeyRange::all(), true), kv(&[("d", "4"), ("c", "3"), ("a", "1")]));
    let r = KeyRange { start: Bound::Excluded(b"a".to_vec()), end: Bound::Included(b"c".to_vec()) };
    assert_eq!(collect(&s1, r.clone(), false), kv(&[("b", "2"), ("c", "3")]));
    assert_eq!(collect(&s1, r, true), kv(&[("c", "3"), ("b", "2")]));
    let empty_range =
        KeyRange { start: Bound::Included(b"c".to_vec()), end: Bound::Excluded(b"a".to_vec()) };
    assert_eq!(collect(&s1, empty_range, false), kv(&[]));
    assert_eq!(s2.range("u", &KeyRange::prefix(b"a"), false).unwrap().count(), 1);
    assert_eq!(s2.tables().unwrap(), vec!["t".to_string(), "u".to_string()]);

    // Binary keys sort as bytes, including 0x00 and 0xff.
    backend
        .apply(&[op("bin", "\u{0}", Some("z")), op("bin", "\u{7f}", Some("m"))], 10.into())
        .unwrap();
    let s3 = backend.snapshot().unwrap();
    let keys: Vec<Vec<u8>> =
        s3.range("bin", &KeyRange::all(), false).unwrap().map(|x| x.unwrap().0).collect();
    assert_eq!(keys, vec![vec![0u8], vec![0x7f]]);

    // The log position is stored with its checkpoint, and removed with a checkpoint without one.
    assert_eq!(s3.log_position().unwrap(), None);
    let position = LogPosition { segment: 7, offset: 4096, seq: 11 };
    backend.apply(&[], Checkpoint { seq: 12, position: Some(position) }).unwrap();
    let s4 = backend.snapshot().unwrap();
    assert_eq!((s4.checkpoint(), s4.log_position().unwrap()), (12, Some(position)));
    backend.apply(&[op("t", "e", Some("5"))], 13.into()).unwrap();
    assert_eq!(s4.log_position().unwrap(), Some(position), "snapshots are stable");
    assert_eq!(backend.snapshot().unwrap().log_position().unwrap(), None);
    backend.apply(&[], Checkpoint { seq: 14, position: Some(LAST_POSITION) }).unwrap();
}

/// The log position the suite leaves stored, with checkpoint 14.
const LAST_POSITION: LogPosition = LogPosition { segment: 9, offset: 56, seq: 14 };

#[test]
fn memory_backend_conforms() {
    backend_suite(&MemoryBackend::new());
}

/// The suite, then a reopen: the checkpoint and the data are durable.
fn durable_backend_suite<B: Backend>(open: impl Fn() -> B) {
    let backend = open();
    backend_suite(&backend);
    drop(backend);
    let backend = open();
    let s = backend.snapshot().unwrap();
    assert_eq!((s.checkpoint(), s.log_position().unwrap()), (14, Some(LAST_POSITION)));
    assert_eq!(s.get("t", b"d").unwrap(), Some(b"4".to_vec()));
    assert_eq!(s.tables().unwrap(), vec!["bin".to_string(), "t".to_string(), "u".to_string()]);
}

#[test]
fn redb_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.redb");
    durable_backend_suite(|| RedbBackend::open(&RealFs, &path, RedbOptions::default()).unwrap());
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_backend_conforms() {
    use chainstore_engine::backend::{RocksdbBackend, RocksdbOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rocksdb");
    durable_backend_suite(|| RocksdbBackend::open(&path, RocksdbOptions::default()).unwrap());
}

fn database_suite(choice: BackendChoice) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { backend: choice, ..Options::default() };
    let db = Database::open(dir.path(), opts.clone()).unwrap();
    let mut txn = db.begin_write();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        txn.put("t", k.as_bytes(), v.as_bytes()).unwrap();
    }
    txn.put("other", b"a", b"x").unwrap();
    let s1 = txn.commit().unwrap();
    let before_index = db.begin_read();
    let mut txn = db.begin_write();
    txn.delete("t", b"b").unwrap();
    txn.put("t", b"d", b"4").unwrap();
    // A transaction reads its own writes, merged over its snapshot, in both directions.
    let own: Pairs = txn.range("t", KeyRange::all(), false).unwrap().map(|x| x.unwrap()).collect();
    assert_eq!(own, kv(&[("a", "1"), ("c", "3"), ("d", "4")]));
    let own_rev: Pairs =
        txn.range("t", KeyRange::all(), true).unwrap().map(|x| x.unwrap()).collect();
    assert_eq!(own_rev, kv(&[("d", "4"), ("c", "3"), ("a", "1")]));
    assert!(txn.commit().unwrap() > s1);

    let check = |db: &Database| {
        let r = db.begin_read();
        assert_eq!(r.get("t", b"b").unwrap(), None);
        assert_eq!(r.get("t", b"d").unwrap(), Some(b"4".to_vec()));
        let all: Pairs =
            r.range("t", KeyRange::all(), false).unwrap().map(|x| x.unwrap()).collect();
        assert_eq!(all, kv(&[("a", "1"), ("c", "3"), ("d", "4")]));
        let rev: Pairs = r.range("t", KeyRange::all(), true).unwrap().map(|x| x.unwrap()).collect();
        assert_eq!(rev, kv(&[("d", "4"), ("c", "3"), ("a", "1")]));
        let pre: Pairs = r.prefix("other", b"").unwrap().map(|x| x.unwrap()).collect();
        assert_eq!(pre, kv(&[("a", "x")]));
        assert_eq!(r.tables().unwrap(), vec!["other".to_string(), "t".to_string()]);
    };
    check(&db);
    db.flush().unwrap();
    assert_eq!(db.stats().checkpoint, db.stats().visible_seq);
    check(&db);
    // The snapshot taken before the second commit still sees the first state after indexing.
    assert_eq!(before_index.get("t", b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(before_index.seq(), s1);
    drop(before_index);
    db.close().unwrap();
    let db = Database::open(dir.path(), opts).unwrap();
    check(&db);
}

#[test]
fn database_on_memory_conforms() {
    database_suite(BackendChoice::Memory(MemoryBackend::new()));
}

#[test]
fn database_on_redb_conforms() {
    database_suite(BackendChoice::Redb(RedbOptions::default()));
}

#[cfg(feature = "rocksdb")]
#[test]
fn database_on_rocksdb_conforms() {
    database_suite(BackendChoice::Rocksdb(Default::default()));
}

/// Long ranges cross the memtable's fetch chunks, with deletions and bounds, in both directions.
fn long_ranges_suite(backend: BackendChoice) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        backend,
        index_interval: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    let db = Database::open(dir.path(), opts).unwrap();
    let mut model = std::collections::BTreeMap::new();
    for round in 0..3u32 {
        let mut t = db.begin_write();
        for i in 0..3000u32 {
            let k = (i * 7919 % 5000).to_be_bytes().to_vec();
            if (i + round) % 5 == 0 {
                t.delete("t", &k).unwrap();
                model.remove(&k);
            } else {
                let v = (i + round * 10_000).to_be_bytes().to_vec();
                t.put("t", &k, &v).unwrap();
                model.insert(k, v);
            }
        }
        t.commit().unwrap();
        if round == 0 {
            db.flush().unwrap(); // the first round in the backend, the others in the memtable
        }
    }
    let r = db.begin_read();
    let lo = 1000u32.to_be_bytes().to_vec();
    let hi = 4000u32.to_be_bytes().to_vec();
    let range = KeyRange { start: Bound::Included(lo.clone()), end: Bound::Excluded(hi.clone()) };
    let want: Pairs =
        model.range(lo.clone()..hi.clone()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let got: Pairs = r.range("t", range.clone(), false).unwrap().map(|p| p.unwrap()).collect();
    assert_eq!(got, want);
    let got_rev: Pairs = r.range("t", range.clone(), true).unwrap().map(|p| p.unwrap()).collect();
    assert_eq!(got_rev, want.iter().rev().cloned().collect::<Pairs>());
    // A transaction's own writes merge lazily over the same.
    let mut t = db.begin_write();
    t.put("t", &2000u32.to_be_bytes(), b"own").unwrap();
    t.delete("t", &2001u32.to_be_bytes()).unwrap();
    let mut want_own = model.clone();
    want_own.insert(2000u32.to_be_bytes().to_vec(), b"own".to_vec());
    want_own.remove(2001u32.to_be_bytes().as_slice());
    let want_own: Pairs = want_own.range(lo..hi).map(|(k, v)| (k.clone(), v.clone())).collect();
    let got_own: Pairs = t.range("t", range, false).unwrap().map(|p| p.unwrap()).collect();
    assert_eq!(got_own, want_own);
}

#[test]
fn long_ranges_over_memtable_and_redb_agree_with_a_model() {
    long_ranges_suite(BackendChoice::Redb(RedbOptions::default()));
}

#[cfg(feature = "rocksdb")]
#[test]
fn long_ranges_over_memtable_and_rocksdb_agree_with_a_model() {
    long_ranges_suite(BackendChoice::Rocksdb(Default::default()));
}
