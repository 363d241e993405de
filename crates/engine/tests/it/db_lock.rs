//! The directory lock is released when `close` or `drop` returns, so a store can be reopened at
//! once, in the same process, even while other threads start child processes (a forked child
//! holds a copy of every open descriptor, the lock's too, until it executes its program).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use chainstore_engine::db::{Database, Error, Options, Table};
use chainstore_engine::wal::WalOptions;

const COUNTER: Table<Vec<u8>, u64> = Table::new("counter");
const THREADS: usize = 4;
const ROUNDS: u64 = 60;

/// Starts a thread that forks child processes until `stop` is set.
fn spawner(stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut spawned = 0;
        while !stop.load(Ordering::Relaxed) {
            let _ = Command::new("true").status();
            spawned += 1;
        }
        spawned
    })
}

/// Small log segments: every fresh store preallocates one.
fn options() -> Options {
    Options {
        wal: WalOptions { segment_size: 1 << 20, ..WalOptions::default() },
        ..Options::default()
    }
}

/// Opens the store and adds one to its counter; returns the new value.
fn bump(dir: &Path) -> Result<u64, Error> {
    let db = Database::open(dir, options())?;
    let mut txn = db.begin_write();
    let n = txn.get_as(&COUNTER, &b"n".to_vec())?.unwrap_or(0) + 1;
    txn.put_as(&COUNTER, &b"n".to_vec(), &n)?;
    txn.commit()?;
    if n % 2 == 0 {
        db.close()?
    } else {
        drop(db)
    }
    Ok(n)
}

#[test]
fn reopening_at_once_in_a_tight_loop_from_several_threads_never_finds_the_lock_held() {
    let stop = Arc::new(AtomicBool::new(false));
    let children = spawner(stop.clone());
    let dirs: Vec<_> = (0..THREADS).map(|_| tempfile::tempdir().unwrap()).collect();
    thread::scope(|s| {
        for dir in &dirs {
            s.spawn(move || {
                for round in 1..=ROUNDS {
                    match bump(dir.path()) {
                        Ok(n) => assert_eq!(n, round),
                        Err(e) => panic!("round {round}: {e}"),
                    }
                }
            });
        }
    });
    stop.store(true, Ordering::Relaxed);
    assert!(children.join().unwrap() > 0, "no child process was started meanwhile");
}

#[test]
fn threads_racing_for_one_directory_take_turns_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let done = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut mine = 0;
                while mine < ROUNDS / 3 {
                    match bump(dir.path()) {
                        Ok(_) => mine += 1,
                        // The holder is one of us (the owner reads empty while a new holder
                        // is writing its pid into the lock file).
                        Err(Error::Locked { owner, .. }) => {
                            let me = format!("pid {}", std::process::id());
                            assert!(owner.as_ref().is_none_or(|o| *o == me), "{owner:?}");
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                done.fetch_add(mine, Ordering::Relaxed);
            });
        }
    });
    let db = Database::open(dir.path(), options()).unwrap();
    let n = db.begin_read().get_as(&COUNTER, &b"n".to_vec()).unwrap();
    assert_eq!(n, Some(done.load(Ordering::Relaxed)));
}
