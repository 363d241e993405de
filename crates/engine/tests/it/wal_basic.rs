//! Basic behaviour of the commit log on real files.

use std::sync::Arc;

use chainstore_engine::vfs::{FaultFs, RealFs};
use chainstore_engine::wal::{Durability, WalError, WalOptions};

use crate::common::{noise, open_collect, payload, small_opts};

#[test]
fn records_survive_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(4096);
    let (wal, report, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    assert_eq!((report.records, seen.len()), (0, 0));
    let mut expect = Vec::new();
    for i in 0..300u64 {
        let p = payload(i, 700);
        let seq = wal.append(1 + (i % 3) as u8, &p, Durability::Immediate).unwrap();
        assert_eq!(seq, i + 1);
        expect.push((seq, 1 + (i % 3) as u8, p));
    }
    assert!(wal.segment_count() > 10, "{} segments", wal.segment_count());
    drop(wal);
    let (wal, report, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    assert_eq!(seen, expect);
    assert_eq!(report.dropped, None);
    assert_eq!(wal.next_seq(), 301);
    // Replay from the middle only hands over the tail.
    drop(wal);
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 250).unwrap();
    assert_eq!(seen, expect[249..].to_vec());
}

#[test]
fn reused_record_buffers_carry_nothing_over() {
    // Record buffers are reused once written: a short record after a long one, or one encoded in
    // place, must read back as exactly its own bytes.
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(64 << 10);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let sizes = [5000usize, 10, 3000, 0, 4999, 1, 20_000, 7];
    let mut expect = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let p = noise(i as u64 + 1, size);
        let seq = if i % 2 == 0 {
            wal.append(3, &p, Durability::Immediate).unwrap()
        } else {
            // Encoded straight into the record, with a wrong size hint.
            let prepared = wal.prepare_with(3, 100, |out| out.extend_from_slice(&p)).unwrap();
            assert_eq!(prepared.len(), 21 + size);
            let ticket = wal.submit_prepared(prepared).unwrap();
            wal.wait(ticket, Durability::Immediate).unwrap();
            ticket.seq
        };
        expect.push((seq, 3, p));
    }
    // A record found too large once encoded is refused, and the next one is whole.
    let err = wal.prepare_with(3, 0, |out| out.resize(out.len() + (70 << 10), 9)).unwrap_err();
    assert!(matches!(err, WalError::RecordTooLarge { .. }), "{err}");
    expect.push((wal.append(3, b"after", Durability::Immediate).unwrap(), 3, b"after".to_vec()));
    drop(wal);
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    assert_eq!(seen, expect);
}

#[test]
fn truncate_through_removes_only_wholly_covered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(1024);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    for i in 0..100u64 {
        wal.append(1, &payload(i, 200), Durability::Immediate).unwrap();
    }
    let before = wal.segment_count();
    let removed = wal.truncate_through(50).unwrap();
    assert!(removed > 0 && removed < before);
    assert_eq!(wal.segment_count(), before - removed);
    drop(wal);
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 51).unwrap();
    let seqs: Vec<u64> = seen.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (51..=100).collect::<Vec<_>>());
    // Asking for records that were truncated away is an error, not a silent gap.
    let err = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap_err();
    assert!(matches!(err, WalError::Corruption(_)), "{err}");
}

#[test]
fn group_commit_with_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(64 << 10);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let wal = Arc::new(wal);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..100u64)
                    .map(|i| {
                        let p = [vec![t], payload(i, 300)].concat();
                        (wal.append(1, &p, Durability::Immediate).unwrap(), p)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(u64, Vec<u8>)> =
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    acked.sort();
    drop(wal);
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let seen: Vec<(u64, Vec<u8>)> = seen.into_iter().map(|(s, _, p)| (s, p)).collect();
    assert_eq!(seen, acked);
}

#[test]
fn every_waiter_hears_of_a_failed_group_commit() {
    // Appenders wait parked while another thread leads; a group that fails must wake every one
    // of them with the error, not only those whose records were synced before it.
    let cases = [("failed fdatasync", true), ("full disk", false)];
    for (case, fail) in cases.into_iter().cycle().take(40) {
        let fs = FaultFs::new();
        let dir = std::path::Path::new("/wal");
        let opts = small_opts(64 << 10);
        let (wal, _, _) = open_collect(Arc::new(fs.clone()), dir, opts, 1).unwrap();
        let wal = Arc::new(wal);
        wal.append(1, b"first", Durability::Immediate).unwrap();
        if fail {
            fs.fail_sync_at(20);
        } else {
            fs.set_space_limit(Some(fs.used_bytes() + (48 << 10)));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        for t in 0..16u64 {
            let (wal, tx) = (wal.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                let err = loop {
                    match wal.append(1, &payload(t * 10_000 + i, 600), Durability::Immediate) {
                        Ok(_) => i += 1,
                        Err(e) => break e,
                    }
                };
                let _ = tx.send(err.to_string());
            });
        }
        drop(tx);
        for n in 0..16 {
            let err = rx.recv_timeout(std::time::Duration::from_secs(10));
            assert!(err.is_ok(), "{case}: appender {n} of 16 never returned");
        }
    }
}

#[test]
fn quota_refuses_before_writing_and_frees_on_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { segment_size: 1024, max_bytes: Some(4096), ..WalOptions::default() };
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let mut last = 0;
    let err = loop {
        match wal.append(1, &[7u8; 100], Durability::Immediate) {
            Ok(seq) => last = seq,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, WalError::QuotaExceeded { limit: 4096, .. }), "{err}");
    assert!(wal.live_bytes() <= 4096);
    wal.truncate_through(last).unwrap();
    assert_eq!(wal.append(1, &[7u8; 100], Durability::Immediate).unwrap(), last + 1);
}

#[test]
fn invalid_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), small_opts(1024), 1).unwrap();
    assert!(matches!(wal.append(0, b"x", Durability::Immediate), Err(WalError::ZeroType)));
    let err = wal.append(1, &[0u8; 2000], Durability::Immediate).unwrap_err();
    assert!(matches!(err, WalError::RecordTooLarge { .. }), "{err}");
    assert_eq!(wal.append(1, b"ok", Durability::Immediate).unwrap(), 1);
}

#[test]
fn buffered_appends_are_synced_by_sync_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(4096);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    for i in 0..50 {
        wal.append(2, &payload(i, 100), Durability::Buffered).unwrap();
    }
    assert!(wal.synced_seq() < 50);
    wal.sync().unwrap();
    assert_eq!(wal.synced_seq(), 50);
    drop(wal);
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    assert_eq!(seen.len(), 50);
}

#[test]
fn from_seq_past_the_log_skips_ahead_with_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(4096);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    for i in 0..5 {
        wal.append(1, &payload(i, 10), Durability::Immediate).unwrap();
    }
    drop(wal);
    // As after a power loss in buffered mode where the index got further than the log.
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 20).unwrap();
    assert_eq!(wal.append(1, b"x", Durability::Immediate).unwrap(), 20);
    drop(wal);
    let (_, report, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let seqs: Vec<u64> = seen.iter().map(|r| r.0).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 20]);
    assert_eq!(report.dropped, None);
}

/// Segments start at `initial_segment_size` and double up to `segment_size`; a record larger
/// than the next size gets a segment that fits it; every file is preallocated to its header's
/// length, and everything reads back after a reopen.
#[test]
fn segments_grow_by_doubling_up_to_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_size: 64 << 10,
        initial_segment_size: 4 << 10,
        ..WalOptions::default()
    };
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let mut written = Vec::new();
    // 1,000-byte records fill 4, 8, 16, 32 and then 64 KiB segments.
    for i in 0..200u32 {
        let payload = vec![i as u8; 1000];
        written.push((wal.append(1, &payload, Durability::Immediate).unwrap(), payload));
    }
    // A 20 KB record after a full segment still gets a full one; write it where the next
    // segment would be small: reopen (the first new segment is 4 KiB again) and append it.
    drop(wal);
    let (wal, _, _) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let big = vec![9u8; 20_000];
    written.push((wal.append(1, &big, Durability::Immediate).unwrap(), big));
    drop(wal);

    let mut sizes: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    sizes.sort();
    let sizes: Vec<u64> = sizes.into_iter().map(|(_, len)| len).collect();
    assert_eq!(&sizes[..5], [4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10], "{sizes:?}");
    assert!(sizes[5..sizes.len() - 1].iter().all(|&s| s == 64 << 10), "{sizes:?}");
    // The reopen continued in the last segment if the big record fitted there, or started a
    // segment at least large enough for it.
    assert!(sizes.iter().all(|&s| s <= 64 << 10), "{sizes:?}");
    let (_, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts, 1).unwrap();
    let seen: Vec<(u64, Vec<u8>)> = seen.into_iter().map(|(s, _, p)| (s, p)).collect();
    assert_eq!(seen, written);
}
