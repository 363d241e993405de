//! `Database::open_read_only`: every acknowledged commit is visible, indexed or only in the log;
//! nothing on disk changes; a caught-up store is read from the checkpoint's log position; and at
//! every crash point of a workload a read-only open sees exactly what a writer's open then sees.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainstore_engine::db::{Database, Error, Options};
use chainstore_engine::vfs::{CrashFate, FaultFs, RealFs, Vfs};
use chainstore_engine::wal::{Durability, RecoveryMode, WalOptions, inspect};

const DIR: &str = "/store";

/// An indexer that runs only when asked (`flush`), 64 KiB log segments.
fn quiet(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        wal: WalOptions { segment_size: 64 << 10, ..WalOptions::default() },
        index_interval: Duration::from_secs(3600),
        index_batch_bytes: usize::MAX,
        ..Options::default()
    }
}

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn value(n: u64) -> Vec<u8> {
    vec![n as u8; 200]
}

/// Commits `kv/n` for `n` in `range`, each its own transaction.
fn commit(db: &Database, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        let mut t = db.begin_write();
        t.put("kv", &key(n), &value(n)).unwrap();
        t.commit().unwrap();
    }
}

/// Kills the "process": nothing it does after this reaches the disk (the indexer's shutdown
/// batch fails), then the page cache survives (a process crash).
fn kill(fs: &FaultFs, db: Database) {
    fs.die_after(0);
    drop(db);
    fs.crash(CrashFate::KeepUnsynced);
}

/// Every file under `dir` with its contents.
fn files(fs: &FaultFs, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("wal")] {
        let mut names = fs.list(&sub).unwrap_or_default();
        names.sort();
        out.extend(names.into_iter().map(|n| {
            let path = sub.join(n);
            (path.clone(), fs.contents(&path).unwrap())
        }));
    }
    out
}

/// The log files and `FORMAT` of two listings are the same (names the ones that differ).
fn assert_same_log(before: &[(PathBuf, Vec<u8>)], after: &[(PathBuf, Vec<u8>)], what: &str) {
    let log = |f: &[(PathBuf, Vec<u8>)]| -> Vec<(PathBuf, Vec<u8>)> {
        let keep = |p: &Path| p.starts_with("/store/wal") || p.ends_with("FORMAT");
        f.iter().filter(|(p, _)| keep(p)).cloned().collect()
    };
    let (before, after) = (log(before), log(after));
    let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before), "{what} changed the log's files");
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        assert!(a == b, "{what} changed {}", path.display());
    }
}

fn assert_rows(db: &Database, upto: u64, what: &str) {
    let r = db.begin_read();
    for n in 1..=upto + 1 {
        let got = r.get("kv", &key(n)).unwrap();
        assert_eq!(got, (n <= upto).then(|| value(n)), "{what}: kv/{n}");
    }
}

#[test]
fn a_read_only_open_sees_commits_only_in_the_log_and_changes_nothing() {
    let fs = FaultFs::new();
    let db = Database::open(DIR, quiet(&fs)).unwrap();
    commit(&db, 1..=10);
    db.flush().unwrap();
    commit(&db, 11..=30);
    kill(&fs, db);
    let before = files(&fs, Path::new(DIR));

    let ro = Database::open_read_only(DIR, quiet(&fs)).unwrap();
    let stats = ro.stats();
    assert_eq!((stats.checkpoint, stats.visible_seq), (10, 30), "20 commits only in the log");
    assert_rows(&ro, 30, "read-only");
    let mut t = ro.begin_write();
    t.put("kv", b"x", b"y").unwrap();
    assert!(matches!(t.commit(), Err(Error::ReadOnly { .. })));
    assert!(matches!(ro.flush(), Err(Error::ReadOnly { .. })));
    assert!(matches!(ro.compact(), Err(Error::ReadOnly { .. })));
    ro.close().unwrap();
    // The log and the format file are untouched. (The backend may run its own crash recovery
    // on open, as redb does after an unclean shutdown; the lock file names its holder.)
    assert_same_log(&before, &files(&fs, Path::new(DIR)), "the read-only open");

    let db = Database::open(DIR, quiet(&fs)).unwrap();
    assert_rows(&db, 30, "writer after the read-only open");
}

#[test]
fn a_read_only_open_of_a_caught_up_store_reads_from_the_checkpoint_position() {
    let fs = FaultFs::new();
    let db = Database::open(DIR, quiet(&fs)).unwrap();
    commit(&db, 1..=40);
    db.close().unwrap(); // indexes everything: the checkpoint is the last record
    // Damage record 3 (in the active segment, before the checkpoint's position): a writer's
    // open reads the whole log and refuses it; a read-only open does not read there.
    let wal_dir = Path::new(DIR).join("wal");
    let mut lengths = Vec::new();
    inspect(&fs, &wal_dir, RecoveryMode::Strict, &mut |r| lengths.push(r.payload.len())).unwrap();
    assert_eq!(lengths.len(), 40, "all records are in the active segment");
    let segment = wal_dir.join(format!("{:020}.wal", 1));
    let third = 56 + lengths[..2].iter().map(|l| 21 + l).sum::<usize>();
    let mut image = fs.contents(&segment).unwrap();
    image[third + 21 + 5] ^= 0x40;
    fs.set_contents(&segment, image).unwrap();

    let ro = Database::open_read_only(DIR, quiet(&fs)).unwrap();
    assert_eq!(ro.stats().visible_seq, 40);
    assert_rows(&ro, 40, "read-only");
    drop(ro);
    let err = Database::open(DIR, quiet(&fs)).unwrap_err();
    assert!(matches!(err, Error::Wal(_)), "{err}");
}

/// Buffered commits indexed and then lost from the log in a power cut: the backend is ahead of
/// the log, and the read-only open shows the backend's state as the writer's open does.
#[test]
fn a_read_only_open_handles_a_backend_ahead_of_the_log() {
    let fs = FaultFs::new();
    let opts = Options { durability: Durability::Buffered, ..quiet(&fs) };
    let db = Database::open(DIR, opts.clone()).unwrap();
    commit(&db, 1..=5);
    db.flush().unwrap();
    commit(&db, 6..=8);
    db.flush().unwrap();
    // A power cut: the log's unsynced (buffered) records are lost, the backend's synced
    // batches are not.
    fs.die_after(0);
    drop(db);
    fs.crash(CrashFate::DropUnsynced);
    let ro = Database::open_read_only(DIR, opts.clone()).unwrap();
    assert_eq!((ro.stats().checkpoint, ro.stats().visible_seq), (8, 8));
    assert_rows(&ro, 8, "read-only");
    drop(ro);
    let db = Database::open(DIR, opts).unwrap();
    assert_eq!(db.stats().visible_seq, 8);
    assert_rows(&db, 8, "writer");
}

#[test]
fn a_read_only_open_refuses_a_directory_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { vfs: Arc::new(RealFs), ..Options::default() };
    let err = Database::open_read_only(dir.path(), opts).unwrap_err();
    assert!(err.to_string().contains("not a chainstore store"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
}

const THREADS: u64 = 2;
const TXNS: u64 = 12;

fn busy(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        wal: WalOptions { segment_size: 4096, ..WalOptions::default() },
        index_batch_bytes: 512,
        index_interval: Duration::from_millis(1),
        ..Options::default()
    }
}

/// Each transaction `n` of thread `t` sets `x/t` to `n` and inserts `log/t/n`; the indexer runs
/// as it goes. Returns the acknowledged (t, n).
fn workload(fs: &FaultFs) -> Vec<(u64, u64)> {
    let Ok(db) = Database::open(DIR, busy(fs)) else { return Vec::new() };
    let db = Arc::new(db);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, acked) = (db.clone(), acked.clone());
            std::thread::spawn(move || {
                for n in 1..=TXNS {
                    let mut txn = db.begin_write();
                    txn.put("x", &t.to_be_bytes(), &n.to_be_bytes()).unwrap();
                    txn.put("log", &[t.to_be_bytes(), n.to_be_bytes()].concat(), &[1u8; 64])
                        .unwrap();
                    match txn.commit() {
                        Ok(_) => acked.lock().unwrap().push((t, n)),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    fs.die_after(0);
    drop(db);
    acked
}

/// What a database shows of the workload: per thread, `x/t` and the `log/t/n` present.
fn state(db: &Database) -> Vec<(Option<Vec<u8>>, Vec<u64>)> {
    let r = db.begin_read();
    (0..THREADS)
        .map(|t| {
            let x = r.get("x", &t.to_be_bytes()).unwrap();
            let logs = (1..=TXNS)
                .filter(|n| {
                    let k = [t.to_be_bytes(), n.to_be_bytes()].concat();
                    r.get("log", &k).unwrap().is_some()
                })
                .collect();
            (x, logs)
        })
        .collect()
}

/// Power loss at every write and sync point (with every fate of the unsynced writes): the
/// read-only open sees every acknowledged transaction and changes no byte of the log, and the
/// writer's open afterwards sees exactly the same.
#[test]
fn at_every_crash_point_a_read_only_open_sees_what_the_writer_then_sees() {
    let probe = FaultFs::new();
    workload(&probe);
    let total = probe.mutations();
    let step = if std::env::var_os("CI").is_some() { 1 } else { 3 };
    let (mut cases, mut from_log) = (0, 0);
    for point in (0..total + 20).step_by(step) {
        let fs = FaultFs::new();
        fs.die_after(point);
        let acked = workload(&fs);
        let unsynced = fs.unsynced_writes();
        for fate in [
            CrashFate::DropUnsynced,
            CrashFate::KeepUnsynced,
            CrashFate::Tear { ops: unsynced / 2, keep_bytes: 100 },
            CrashFate::Garbage { ops: unsynced.saturating_sub(1), seed: point },
        ] {
            let what = format!("crash after {point} of ~{total} ops, {fate:?}");
            let crashed = fs.fork();
            crashed.crash(fate);
            if crashed.contents(&Path::new(DIR).join("FORMAT")).is_err() {
                assert!(acked.is_empty(), "{what}: commits acknowledged before the store existed");
                continue;
            }
            let before = files(&crashed, Path::new(DIR));
            let ro = Database::open_read_only(DIR, busy(&crashed))
                .unwrap_or_else(|e| panic!("{what}: read-only open failed: {e}"));
            let seen = state(&ro);
            let stats = ro.stats();
            from_log += usize::from(stats.visible_seq > stats.checkpoint);
            drop(ro);
            for &(t, n) in &acked {
                assert!(seen[t as usize].1.contains(&n), "{what}: acknowledged {t}/{n} not seen");
            }
            assert_same_log(&before, &files(&crashed, Path::new(DIR)), &what);
            let db = Database::open(DIR, busy(&crashed))
                .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
            assert_eq!(state(&db), seen, "{what}: the writer sees something else");
            cases += 1;
        }
    }
    assert!(cases > 100, "only {cases} cases");
    assert!(from_log > cases / 10, "only {from_log} of {cases} cases had commits only in the log");
}
