//! Simulated power loss on `FaultFs`: a workload of concurrent appenders is stopped at every
//! write/sync point, crashed with every fate, recovered, and checked.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chainstore_engine::vfs::{CrashFate, FaultFs};
use chainstore_engine::wal::{Durability, Wal, WalOptions};

use crate::common::open_collect;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 50;

fn opts() -> WalOptions {
    // Segments of 256, 512, 1024, then 2048 bytes: the cut points include growing segments.
    WalOptions { segment_size: 2048, initial_segment_size: 256, ..WalOptions::default() }
}

/// The payload a workload thread writes for its `n`-th record: self-describing, so recovery can
/// check that every record it returns is one that was really submitted.
fn make_payload(thread: u64, n: u64) -> Vec<u8> {
    let len = 8 + ((thread * 131 + n * 17) % 300) as usize;
    let mut p = vec![(thread * 7 + n) as u8; len];
    p[..4].copy_from_slice(&(thread as u32).to_le_bytes());
    p[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    p
}

fn parse_payload(p: &[u8]) -> Option<(u64, u64)> {
    let thread = u32::from_le_bytes(p.get(..4)?.try_into().ok()?) as u64;
    let n = u32::from_le_bytes(p.get(4..8)?.try_into().ok()?) as u64;
    (make_payload(thread, n) == p).then_some((thread, n))
}

/// Runs the workload until it finishes or the file system dies; returns the acknowledged
/// (seq, payload) pairs.
fn run_workload(fs: &FaultFs, dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let Ok((wal, _)) = Wal::open(Arc::new(fs.clone()), dir, opts(), 1, &mut |_| {}) else {
        return Vec::new();
    };
    let wal = Arc::new(wal);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (wal, acked) = (wal.clone(), acked.clone());
            std::thread::spawn(move || {
                for n in 0..PER_THREAD {
                    let p = make_payload(t, n);
                    let durability =
                        if n % 5 == 4 { Durability::Buffered } else { Durability::Immediate };
                    match wal.append(1, &p, durability) {
                        // A buffered record is only promised to survive a process crash.
                        Ok(seq) if durability == Durability::Immediate => {
                            acked.lock().unwrap().push((seq, p))
                        }
                        Ok(_) => {}
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
    // Dropping the log tries a final sync; on a dead file system that fails, harmlessly.
    drop(wal);
    acked
}

fn fates(unsynced: usize) -> Vec<CrashFate> {
    let mut fates = vec![CrashFate::DropUnsynced, CrashFate::KeepUnsynced];
    for ops in 0..=unsynced.min(6) {
        fates.push(CrashFate::KeepPrefix { ops });
        for keep_bytes in [1, 17, 100] {
            fates.push(CrashFate::Tear { ops, keep_bytes });
        }
        fates.push(CrashFate::Garbage { ops, seed: ops as u64 });
    }
    fates
}

fn check_recovery(fs: FaultFs, dir: &Path, acked: &[(u64, Vec<u8>)], what: &str) {
    let (wal, _, seen) = open_collect(Arc::new(fs.clone()), dir, opts(), 1)
        .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
    for (i, (seq, _, p)) in seen.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "{what}: records are not a gap-free prefix");
        assert!(parse_payload(p).is_some(), "{what}: record {seq} was never submitted");
    }
    for (seq, p) in acked {
        let got = seen.get(*seq as usize - 1).map(|r| &r.2);
        assert_eq!(got, Some(p), "{what}: acknowledged record {seq} lost or changed");
    }
    // The recovered log takes new records and reopens clean.
    let next = wal.append(1, &make_payload(99, 0), Durability::Immediate).unwrap();
    assert_eq!(next, seen.len() as u64 + 1, "{what}");
    drop(wal);
    let (_, report, again) = open_collect(Arc::new(fs), dir, opts(), 1).unwrap();
    assert_eq!(again.len(), seen.len() + 1, "{what}");
    assert_eq!(report.dropped, None, "{what}: second recovery found damage");
}

#[test]
fn every_crash_point_and_fate_recovers_acknowledged_records() {
    let dir = Path::new("/db/wal");
    let probe = FaultFs::new();
    run_workload(&probe, dir);
    let total = probe.mutations();
    assert!(total > 200, "workload too small to be interesting: {total} mutations");
    let mut cases = 0;
    // Thread interleavings differ between runs, so the number of points varies a little.
    for point in 0..total + 20 {
        let fs = FaultFs::new();
        fs.die_after(point);
        let acked = run_workload(&fs, dir);
        for fate in fates(fs.unsynced_writes()) {
            let crashed = fs.fork();
            crashed.crash(fate);
            check_recovery(crashed, dir, &acked, &format!("crash after {point} ops, {fate:?}"));
            cases += 1;
        }
    }
    assert!(cases > 1000, "only {cases} cases");
}

#[test]
fn fsync_failure_poisons_and_nothing_after_it_is_acknowledged() {
    let dir = Path::new("/db/wal");
    for k in [1, 2, 3, 5, 8, 13] {
        let fs = FaultFs::new();
        let (wal, _) = Wal::open(Arc::new(fs.clone()), dir, opts(), 1, &mut |_| {}).unwrap();
        fs.fail_sync_at(k);
        let mut acked = Vec::new();
        let mut failure = None;
        for n in 0..40 {
            let p = make_payload(0, n);
            match wal.append(1, &p, Durability::Immediate) {
                Ok(seq) => {
                    assert!(failure.is_none(), "record {seq} acknowledged after a failed fsync");
                    acked.push((seq, p));
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let failure = failure.expect("the injected fsync failure was not reported");
        assert!(failure.contains("poisoned") || failure.contains("fdatasync"), "{failure}");
        drop(wal);
        fs.crash(CrashFate::DropUnsynced);
        check_recovery(fs, dir, &acked, &format!("sync {k} failed"));
    }
}

#[test]
fn full_disk_rolls_back_and_the_log_recovers_when_space_frees() {
    let dir = Path::new("/db/wal");
    let fs = FaultFs::new();
    let (wal, _) = Wal::open(Arc::new(fs.clone()), dir, opts(), 1, &mut |_| {}).unwrap();
    // Room for the first segment only: the first rotation hits ENOSPC while preallocating.
    fs.set_space_limit(Some(fs.used_bytes() + 100));
    let mut acked = Vec::new();
    let mut n = 0;
    let err = loop {
        let p = make_payload(0, n);
        n += 1;
        match wal.append(1, &p, Durability::Immediate) {
            Ok(seq) => acked.push((seq, p)),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, chainstore_engine::wal::WalError::OutOfSpace { .. }),
        "expected OutOfSpace, got {err}"
    );
    // Still full: still refused, still nothing half-written.
    assert!(wal.append(1, &make_payload(0, n), Durability::Immediate).is_err());
    fs.set_space_limit(None);
    for _ in 0..30 {
        let p = make_payload(0, n);
        n += 1;
        acked.push((wal.append(1, &p, Durability::Immediate).unwrap(), p));
    }
    let seqs: Vec<u64> = acked.iter().map(|a| a.0).collect();
    assert_eq!(
        seqs,
        (1..=acked.len() as u64).collect::<Vec<_>>(),
        "sequence numbers reused or skipped"
    );
    drop(wal);
    fs.crash(CrashFate::DropUnsynced);
    check_recovery(fs, dir, &acked, "after ENOSPC");
}
