//! Power loss at every write/sync point of a workload whose indexer runs concurrently, so the
//! crash points include every step between the backend commit, its checkpoint and the log
//! truncation. Checks: every acknowledged transaction is there, nothing is half-applied.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainstore_engine::db::{Database, Options};
use chainstore_engine::vfs::{CrashFate, FaultFs};
use chainstore_engine::wal::WalOptions;

const THREADS: u64 = 2;
const TXNS: u64 = 12;

fn options(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        wal: WalOptions { segment_size: 4096, ..WalOptions::default() },
        index_batch_bytes: 512,
        index_interval: Duration::from_millis(1),
        ..Options::default()
    }
}

fn num(v: Option<Vec<u8>>) -> Option<u64> {
    v.map(|b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// Each transaction `n` of thread `t` sets `x/t` and `y/t` to `n` and inserts `log/t/n`.
fn workload(fs: &FaultFs, dir: &Path) -> Vec<(u64, u64)> {
    let Ok(db) = Database::open(dir, options(fs)) else { return Vec::new() };
    let db = Arc::new(db);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, acked) = (db.clone(), acked.clone());
            std::thread::spawn(move || {
                for n in 1..=TXNS {
                    let mut txn = db.begin_write();
                    txn.put("x", &t.to_be_bytes(), &n.to_be_bytes()).unwrap();
                    txn.put("y", &t.to_be_bytes(), &n.to_be_bytes()).unwrap();
                    txn.put("log", &[t.to_be_bytes(), n.to_be_bytes()].concat(), &[1u8; 64])
                        .unwrap();
                    match txn.commit() {
                        Ok(_) => acked.lock().unwrap().push((t, n)),
                        Err(_) => return,
                    }
                    // Index now and then, so crash points fall inside indexer batches too.
                    if n % 4 == t * 2 && db.flush().is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // Kill the "process" before its database is dropped: nothing after this point happened.
    fs.die_after(0);
    drop(db);
    acked
}

fn check(fs: FaultFs, dir: &Path, acked: &[(u64, u64)], what: &str) {
    let db =
        Database::open(dir, options(&fs)).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let r = db.begin_read();
    for t in 0..THREADS {
        let x = num(r.get("x", &t.to_be_bytes()).unwrap());
        let y = num(r.get("y", &t.to_be_bytes()).unwrap());
        assert_eq!(x, y, "{what}: thread {t}'s transaction is half-applied");
        let last = x.unwrap_or(0);
        let acked_last = acked.iter().filter(|a| a.0 == t).map(|a| a.1).max().unwrap_or(0);
        assert!(last >= acked_last, "{what}: thread {t} acknowledged {acked_last}, found {last}");
        for n in 1..=TXNS {
            let present =
                r.get("log", &[t.to_be_bytes(), n.to_be_bytes()].concat()).unwrap().is_some();
            assert_eq!(
                present,
                n <= last,
                "{what}: log entry {t}/{n} inconsistent with x = {last}"
            );
        }
    }
    drop(r);
    db.flush().unwrap_or_else(|e| panic!("{what}: flush after recovery failed: {e}"));
    let mut txn = db.begin_write();
    txn.put("x", b"after", b"1").unwrap();
    txn.commit().unwrap_or_else(|e| panic!("{what}: commit after recovery failed: {e}"));
}

#[test]
fn every_crash_point_keeps_acknowledged_transactions_whole() {
    let dir = Path::new("/store");
    let probe = FaultFs::new();
    workload(&probe, dir);
    let total = probe.mutations();
    assert!(total > 100, "workload too small: {total} mutations");
    let step = if std::env::var_os("CI").is_some() { 1 } else { 2 };
    let mut cases = 0;
    for point in (0..total + 20).step_by(step) {
        let fs = FaultFs::new();
        fs.die_after(point);
        let acked = workload(&fs, dir);
        let unsynced = fs.unsynced_writes();
        let mut fates = vec![CrashFate::DropUnsynced, CrashFate::KeepUnsynced];
        for ops in [0, unsynced / 2, unsynced.saturating_sub(1)] {
            fates.push(CrashFate::Tear { ops, keep_bytes: 100 });
            fates.push(CrashFate::Garbage { ops, seed: point });
        }
        for fate in fates {
            let crashed = fs.fork();
            crashed.crash(fate);
            check(crashed, dir, &acked, &format!("crash after {point} of ~{total} ops, {fate:?}"));
            cases += 1;
        }
    }
    assert!(cases > 500, "only {cases} cases");
}

/// Crashes at every write and sync of one indexer batch — the backend commit with its
/// checkpoint, the snapshot swap, the log truncation — and checks that nothing is lost or
/// duplicated whatever the fate of the unsynced writes.
#[test]
fn every_crash_point_of_an_indexer_batch_is_safe() {
    let dir = Path::new("/store");
    let quiet = |fs: &FaultFs| Options {
        index_interval: Duration::from_secs(3600),
        index_batch_bytes: usize::MAX,
        ..options(fs)
    };
    let setup = || {
        let fs = FaultFs::new();
        let db = Database::open(dir, quiet(&fs)).unwrap();
        for n in 1..=40u64 {
            let mut t = db.begin_write();
            t.put("kv", &n.to_be_bytes(), &[n as u8; 100]).unwrap();
            t.commit().unwrap();
        }
        (fs, db)
    };
    let (probe_fs, probe) = setup();
    let before = probe_fs.mutations();
    probe.flush().unwrap();
    let batch_ops = probe_fs.mutations() - before;
    assert!(batch_ops >= 4, "an indexer batch took only {batch_ops} writes/syncs");
    for point in 0..=batch_ops {
        for fate in [
            CrashFate::DropUnsynced,
            CrashFate::KeepUnsynced,
            CrashFate::Tear { ops: 0, keep_bytes: 1 },
        ] {
            let (fs, db) = setup();
            fs.die_after(point);
            let _ = db.flush();
            drop(db);
            fs.crash(fate);
            let db = Database::open(dir, quiet(&fs))
                .unwrap_or_else(|e| panic!("point {point} {fate:?}: {e}"));
            let r = db.begin_read();
            let rows: Vec<_> = r
                .range("kv", chainstore_engine::backend::KeyRange::all(), false)
                .unwrap()
                .map(|p| p.unwrap())
                .collect();
            assert_eq!(rows.len(), 40, "point {point} {fate:?}");
            for (i, (k, v)) in rows.iter().enumerate() {
                let n = i as u64 + 1;
                assert_eq!(
                    (k.as_slice(), v.as_slice()),
                    (&n.to_be_bytes()[..], &[n as u8; 100][..]),
                    "point {point} {fate:?}"
                );
            }
            drop(r);
            db.flush().unwrap();
            assert_eq!(db.stats().checkpoint, db.stats().visible_seq);
        }
    }
}
