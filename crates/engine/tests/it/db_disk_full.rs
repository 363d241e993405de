//! A real full disk under the database, on every backend: on a small tmpfs (mounting needs root;
//! skipped with a printed reason otherwise) transactions fill the disk through the store until a
//! commit or a flush fails. The failure is a clean out-of-space error, no acknowledged
//! transaction is lost, and once space is freed the same store, without a reopen, indexes
//! everything and takes commits again; then it reopens with all of it. Two layouts: small log segments (the log or the backend may run out first),
//! and one large preallocated segment (the backend runs out first, and its own error must say
//! so). (`wal_disk_full.rs` does the same for the commit log alone.)

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use chainstore_engine::backend::BackendError;
use chainstore_engine::db::{BackendChoice, Database, Error, Options};
use chainstore_engine::wal::WalOptions;

use crate::common::{Tmpfs, noise};

/// A value that does not compress (RocksDB compresses its blocks).
fn value(n: u64) -> Vec<u8> {
    noise(n.wrapping_mul(0x9e37_79b9_7f4a_7c15), 16 << 10)
}

fn options(backend: &BackendChoice, segment_size: u64) -> Options {
    Options {
        backend: backend.clone(),
        // Every segment at its full size from the start: `BackendFirst` needs its one segment
        // made before the disk is filled.
        wal: WalOptions {
            segment_size,
            initial_segment_size: segment_size,
            ..WalOptions::default()
        },
        index_batch_bytes: 256 << 10,
        index_interval: Duration::from_millis(10),
        ..Options::default()
    }
}

/// Fills the file system of `filler` completely, then frees `free` bytes of it.
fn leave_free(filler: &Path, free: u64) {
    let mut file = std::fs::File::create(filler).unwrap();
    let chunk = vec![1u8; 1 << 20];
    let mut len = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n as u64,
        }
    }
    file.set_len(len.saturating_sub(free)).unwrap();
    file.sync_all().unwrap();
}

/// Commits until a commit or a flush fails; returns the acknowledged transactions and the error.
fn fill(db: &Database) -> (Vec<u64>, Error) {
    for n in 0u64..100_000 {
        let mut txn = db.begin_write();
        txn.put("blocks", &n.to_be_bytes(), &value(n)).unwrap();
        if let Err(e) = txn.commit() {
            return ((0..n).collect(), e);
        }
        if n % 8 == 7
            && let Err(e) = db.flush()
        {
            return ((0..=n).collect(), e);
        }
    }
    panic!("the disk never filled up");
}

/// The layout and what must run out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// 256 KiB log segments, 8 MiB free: whichever runs out first.
    SmallSegments,
    /// One 16 MiB log segment, made before the disk is filled, 8 MiB free: the backend.
    BackendFirst,
}

fn disk_full_loses_nothing(name: &str, backend: BackendChoice, layout: Layout) {
    let tmpfs = match Tmpfs::mount("48m") {
        Ok(t) => t,
        Err(reason) => {
            println!("skipped ({name}): a size-limited tmpfs is needed ({reason}); run as root");
            return;
        }
    };
    let segment_size = match layout {
        Layout::SmallSegments => 256 << 10,
        Layout::BackendFirst => 16 << 20,
    };
    let dir = tmpfs.path.join("store");
    let db = Database::open(&dir, options(&backend, segment_size)).unwrap();
    let filler = tmpfs.path.join("filler");
    leave_free(&filler, 8 << 20);
    let (acked, err) = fill(&db);
    let what = format!("{name}, {layout:?}");
    eprintln!("{what}: {} transactions acknowledged, then: {err}", acked.len());
    assert!(err.is_out_of_space(), "{what}: expected a full disk, got {err}");
    if layout == Layout::BackendFirst {
        assert!(matches!(err, Error::Backend(BackendError::OutOfSpace(_))), "{what}: {err}");
    }
    assert!(acked.len() > 16, "{what}: only {} transactions fit", acked.len());

    // Space is freed under the running store: it goes on by itself, without a reopen. RocksDB
    // recovers in the background (its error handler polls for space) and may still refuse a
    // batch just after it accepted one, so each flush may be retried for a while.
    std::fs::remove_file(&filler).unwrap();
    let started = std::time::Instant::now();
    flush_within(&db, started, &what);
    eprintln!("{what}: indexing resumed {:?} after space was freed", started.elapsed());
    check(&db, &acked, &what);
    let mut txn = db.begin_write();
    txn.put("blocks", b"after", b"space was freed").unwrap();
    txn.commit().unwrap_or_else(|e| panic!("{what}: commit after freeing space: {e}"));
    flush_within(&db, started, &what);
    db.close().unwrap();

    let db = Database::open(&dir, options(&backend, segment_size))
        .unwrap_or_else(|e| panic!("{what}: reopen after freeing space: {e}"));
    check(&db, &acked, &what);
    assert_eq!(
        db.begin_read().get("blocks", b"after").unwrap().as_deref(),
        Some(&b"space was freed"[..])
    );
    assert_eq!(db.stats().checkpoint, db.stats().visible_seq, "{what}: everything indexed");
}

/// Flushes, retrying failures until 30 s after `started`.
fn flush_within(db: &Database, started: std::time::Instant, what: &str) {
    while let Err(e) = db.flush() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: flush after freeing: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check(db: &Database, acked: &[u64], what: &str) {
    let r = db.begin_read();
    for &n in acked {
        let got = r.get("blocks", &n.to_be_bytes()).unwrap();
        assert!(got.as_deref() == Some(&value(n)[..]), "{what}: acknowledged {n} is lost");
    }
}

#[test]
fn a_full_disk_under_redb_is_a_clean_error_and_loses_nothing() {
    for layout in [Layout::SmallSegments, Layout::BackendFirst] {
        disk_full_loses_nothing("redb", BackendChoice::Redb(Default::default()), layout);
    }
}

#[cfg(feature = "rocksdb")]
#[test]
fn a_full_disk_under_rocksdb_is_a_clean_error_and_loses_nothing() {
    use chainstore_engine::backend::RocksdbOptions;
    let opts = RocksdbOptions {
        write_buffer_bytes: 1 << 20,
        block_cache_bytes: 8 << 20,
        ..RocksdbOptions::default()
    };
    for layout in [Layout::SmallSegments, Layout::BackendFirst] {
        disk_full_loses_nothing("rocksdb", BackendChoice::Rocksdb(opts), layout);
    }
}
