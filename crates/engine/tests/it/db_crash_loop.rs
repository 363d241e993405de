//! SIGKILL crash loop at the engine level: a child process commits transactions (the indexer
//! running underneath) and prints a line after each acknowledgement; the parent kills it at
//! random moments and checks that every acknowledged transaction is there, whole. It runs on
//! every on-disk backend: on RocksDB it is what proves that the checkpoint (written in the same
//! synced `WriteBatch` as the data) and the commit-log truncation after it survive a crash.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainstore_engine::backend::{Backend, RedbBackend};
use chainstore_engine::db::{BackendChoice, Database, Error, Options};
use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::WalOptions;

const CHILD_ENV: &str = "CHAINSTORE_DB_CRASH_CHILD_DIR";
const BACKEND_ENV: &str = "CHAINSTORE_DB_CRASH_CHILD_BACKEND";

fn options(backend: &str) -> Options {
    let backend = match backend {
        "redb" => BackendChoice::Redb(Default::default()),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => BackendChoice::Rocksdb(Default::default()),
        other => panic!("no backend {other}"),
    };
    Options {
        backend,
        // Small segments, so the indexer's truncations delete segments while the child runs.
        wal: WalOptions { segment_size: 64 << 10, ..WalOptions::default() },
        index_batch_bytes: 32 << 10,
        index_interval: Duration::from_millis(5),
        ..Options::default()
    }
}

fn num(v: Option<Vec<u8>>) -> u64 {
    v.map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// Transaction `n` sets `x` and `y` to `n` and inserts `log/n` (with a payload big enough to keep
/// the indexer busy).
fn commit(db: &Database, n: u64) -> Result<u64, Error> {
    let mut t = db.begin_write();
    t.put("state", b"x", &n.to_be_bytes())?;
    t.put("state", b"y", &n.to_be_bytes())?;
    t.put("log", &n.to_be_bytes(), &[n as u8; 512])?;
    t.commit()
}

#[test]
#[ignore = "child process of db_crash_loop_keeps_acknowledged_transactions_whole"]
fn db_crash_loop_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let backend = std::env::var(BACKEND_ENV).unwrap();
    let db = Database::open(Path::new(&dir), options(&backend)).unwrap();
    let start = num(db.begin_read().get("state", b"x").unwrap()) + 1;
    let mut out = std::io::stdout();
    // The test harness prints "test <name> ... " without a newline before the test runs.
    writeln!(out, "\nready").unwrap();
    out.flush().unwrap();
    for n in start.. {
        commit(&db, n).unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

fn spawn_child(
    dir: &Path,
    backend: &str,
) -> (std::process::Child, Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "db_crash_loop::db_crash_loop_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .env(BACKEND_ENV, backend)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        })
    };
    (child, lines, reader)
}

fn wait_for(lines: &Mutex<Vec<String>>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.lock().unwrap().iter().any(|l| l == what) {
        assert!(Instant::now() < deadline, "the child never printed {what:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn db_crash_loop_keeps_acknowledged_transactions_whole() {
    crash_loop("redb");
}

#[cfg(feature = "rocksdb")]
#[test]
fn db_crash_loop_on_rocksdb_keeps_acknowledged_transactions_whole() {
    crash_loop("rocksdb");
}

/// The checkpoint in the backend of the store in `dir`, read by opening the backend alone.
fn backend_checkpoint(dir: &Path, backend: &str) -> u64 {
    let snapshot = match backend {
        "redb" => RedbBackend::open(&RealFs, &dir.join("data.redb"), Default::default())
            .unwrap()
            .snapshot(),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => chainstore_engine::backend::RocksdbBackend::open(
            &dir.join("rocksdb"),
            Default::default(),
        )
        .unwrap()
        .snapshot(),
        other => panic!("no backend {other}"),
    };
    snapshot.unwrap().checkpoint()
}

fn crash_loop(backend: &str) {
    let iterations = if std::env::var_os("CI").is_some() { 60 } else { 20 };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut last_acked = 0;
    let mut max_checkpoint = 0;
    for iteration in 0..iterations {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (mut child, lines, reader) = spawn_child(dir.path(), backend);
        wait_for(&lines, "ready");
        if iteration == 0 {
            // A second process on the same directory gets a clear error naming the holder.
            match Database::open(dir.path(), options(backend)) {
                Err(Error::Locked { owner, .. }) => {
                    assert_eq!(owner, Some(format!("pid {}", child.id())));
                }
                other => panic!("expected Locked while the child holds the store, got {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5 + rng % 80));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("ack ")?.parse::<u64>().ok())
            .max();
        last_acked = acked.unwrap_or(last_acked).max(last_acked);

        // What the backend holds before this process indexes anything: the child's batches,
        // after each of which it truncated its log.
        max_checkpoint = max_checkpoint.max(backend_checkpoint(dir.path(), backend));
        let db = Database::open(dir.path(), options(backend))
            .unwrap_or_else(|e| panic!("iteration {iteration}: reopen failed: {e}"));
        let r = db.begin_read();
        let x = num(r.get("state", b"x").unwrap());
        let y = num(r.get("state", b"y").unwrap());
        assert_eq!(x, y, "iteration {iteration}: a transaction is half-applied");
        assert!(x >= last_acked, "iteration {iteration}: acknowledged {last_acked}, found {x}");
        assert!(x <= last_acked + 1, "iteration {iteration}: more than one unacknowledged commit");
        let logged = r.prefix("log", b"").unwrap().count() as u64;
        assert_eq!(logged, x, "iteration {iteration}: log entries do not match x = {x}");
        last_acked = x;
    }
    assert!(last_acked > iterations, "the child committed almost nothing: {last_acked}");
    assert!(max_checkpoint > 0, "no crash came after an indexer batch: nothing was tested");
    // Each commit wrote over 512 bytes of log: without truncations the segments would hold them.
    let log_bytes: u64 = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(log_bytes < last_acked * 512, "the log was never truncated: {log_bytes} bytes");
}
