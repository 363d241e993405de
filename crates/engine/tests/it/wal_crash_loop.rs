//! SIGKILL crash loop: a child process appends from several threads and prints a line after
//! each acknowledgement; the parent kills it at random moments and checks that every
//! acknowledged record survived.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainstore_engine::vfs::RealFs;
use chainstore_engine::wal::{Durability, Wal, WalOptions};

use crate::common::open_collect;

const CHILD_ENV: &str = "CHAINSTORE_WAL_CRASH_CHILD_DIR";
/// The first sequence number still needed (what an engine's checkpoint + 1 would be).
const FROM_ENV: &str = "CHAINSTORE_WAL_CRASH_CHILD_FROM";

fn opts() -> WalOptions {
    WalOptions { segment_size: 256 << 10, ..WalOptions::default() }
}

fn payload(thread: u64, n: u64) -> Vec<u8> {
    let mut p = format!("t{thread}-n{n}-").into_bytes();
    p.resize(p.len() + ((thread * 977 + n * 131) % 2000) as usize, b'x');
    p
}

/// The child side. Ignored in normal runs; the parent runs it by name in a subprocess.
#[test]
#[ignore = "child process of crash_loop_every_acknowledged_record_survives_sigkill"]
fn crash_loop_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let from = std::env::var(FROM_ENV).unwrap().parse().unwrap();
    let (wal, _) = Wal::open(Arc::new(RealFs), Path::new(&dir), opts(), from, &mut |_| {}).unwrap();
    let wal = Arc::new(wal);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    // The test harness prints "test <name> ... " without a newline before the test runs.
    writeln!(out.lock().unwrap()).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (wal, out) = (wal.clone(), out.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let seq = wal.append(1, &payload(t, n), Durability::Immediate).unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ack {seq} {t} {n}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn crash_loop_every_acknowledged_record_survives_sigkill() {
    let iterations = if std::env::var_os("CI").is_some() { 60 } else { 25 };
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut total_acked = 0;
    let mut from = 1u64;
    for iteration in 0..iterations {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let run_for = Duration::from_millis(5 + rng % 60);
        let mut child = Command::new(&exe)
            .args(["--exact", "wal_crash_loop::crash_loop_child", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, dir.path())
            .env(FROM_ENV, from.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let f: Vec<&str> = line.split(' ').collect();
                    if f.len() == 4 && f[0] == "ack" {
                        let parse = |s: &str| s.parse::<u64>().unwrap();
                        acked.lock().unwrap().push((parse(f[1]), parse(f[2]), parse(f[3])));
                    }
                }
            })
        };
        let started = Instant::now();
        while started.elapsed() < run_for && acked.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(run_for);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acked.lock().unwrap().clone();
        total_acked += acked.len();

        let (wal, _, seen) = open_collect(Arc::new(RealFs), dir.path(), opts(), from)
            .unwrap_or_else(|e| panic!("iteration {iteration}: recovery failed: {e}"));
        let first = from;
        for (i, r) in seen.iter().enumerate() {
            assert_eq!(r.0, first + i as u64, "iteration {iteration}: gap in the log");
        }
        for (seq, t, n) in acked {
            let got = seq.checked_sub(first).and_then(|i| seen.get(i as usize));
            assert_eq!(
                got.map(|r| &r.2),
                Some(&payload(t, n)),
                "iteration {iteration}: acknowledged record {seq} lost or changed"
            );
        }
        // Keep the log small, as the engine's indexer would.
        if let Some(last) = seen.last() {
            let through = last.0.saturating_sub(50).max(from - 1);
            wal.truncate_through(through).unwrap();
            from = through + 1;
        }
    }
    assert!(total_acked > iterations, "the child acknowledged almost nothing: {total_acked}");
}
