//! A real full disk: a small tmpfs (mounting needs root; skipped with a printed reason
//! otherwise).

use std::path::Path;
use std::sync::Arc;

use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::{Durability, WalError, WalOptions};

use crate::common::{Tmpfs, open_collect, payload};

fn fill(path: &Path, bytes: usize) {
    std::fs::write(path, vec![1u8; bytes]).unwrap();
}

#[test]
fn enospc_on_a_real_full_disk_loses_nothing_and_recovers_when_space_frees() {
    let tmpfs = match Tmpfs::mount("2m") {
        Ok(t) => t,
        Err(reason) => {
            println!("skipped: a size-limited tmpfs is needed ({reason}); run as root");
            return;
        }
    };
    let dir = tmpfs.path.join("wal");
    let filler = tmpfs.path.join("filler");
    let opts = WalOptions { segment_size: 256 << 10, ..WalOptions::default() };
    let (wal, _, _) = open_collect(Arc::new(RealFs), &dir, opts, 1).unwrap();
    // Leave room for about two more segments.
    fill(&filler, (2 << 20) - 3 * (256 << 10) - 64 * 1024);
    let mut acked = Vec::new();
    let err = loop {
        let p = payload(acked.len() as u64, 4000);
        match wal.append(1, &p, Durability::Immediate) {
            Ok(seq) => acked.push((seq, p)),
            Err(e) => break e,
        }
        assert!(acked.len() < 10_000, "the disk never filled up");
    };
    assert!(matches!(err, WalError::OutOfSpace { .. }), "expected OutOfSpace, got {err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    // No half-created segment is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    std::fs::remove_file(&filler).unwrap();
    for _ in 0..100 {
        let p = payload(acked.len() as u64, 4000);
        acked.push((wal.append(1, &p, Durability::Immediate).unwrap(), p));
    }
    drop(wal);
    let (_, report, seen) = open_collect(Arc::new(RealFs), &dir, opts, 1).unwrap();
    assert_eq!(report.dropped, None);
    let seen: Vec<(u64, Vec<u8>)> = seen.into_iter().map(|(s, _, p)| (s, p)).collect();
    assert_eq!(seen, acked, "acknowledged records differ after the disk filled up");
}
