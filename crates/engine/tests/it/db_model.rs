//! Model test: random transactions, flushes, reopens and power losses against a `BTreeMap`,
//! on `FaultFs` with the redb backend (so redb's file is crashed too), and on RocksDB in a real
//! directory (RocksDB bypasses the `Vfs`, so there a power loss is a plain reopen; the SIGKILL
//! loop in `db_crash_loop` crashes it for real).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::{Database, Options};
use chainstore_engine::vfs::{CrashFate, FaultFs};
use chainstore_engine::wal::WalOptions;
use proptest::prelude::*;

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Txn(Vec<(usize, u8, Option<Vec<u8>>)>),
    Flush,
    Reopen,
    PowerLoss { keep_unsynced: bool },
}

const TABLES: [&str; 2] = ["alpha", "beta"];

fn op() -> impl Strategy<Value = Op> {
    let write = (
        0..TABLES.len(),
        0u8..24,
        prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..40)),
    );
    prop_oneof![
        10 => prop::collection::vec(write, 1..8).prop_map(Op::Txn),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => any::<bool>().prop_map(|keep_unsynced| Op::PowerLoss { keep_unsynced }),
    ]
}

/// Where a run's store lives.
enum Store {
    /// redb on a fault-injecting file system.
    Faulty(FaultFs),
    /// RocksDB in a real temporary directory.
    #[cfg(feature = "rocksdb")]
    Rocksdb(tempfile::TempDir),
}

impl Store {
    fn dir(&self) -> &Path {
        match self {
            Self::Faulty(_) => Path::new("/store"),
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb(dir) => dir.path(),
        }
    }

    fn open(&self) -> Database {
        let opts = Options {
            wal: WalOptions { segment_size: 8192, ..WalOptions::default() },
            index_batch_bytes: 2048,
            index_interval: Duration::from_millis(2),
            ..Options::default()
        };
        let opts = match self {
            Self::Faulty(fs) => Options { vfs: Arc::new(fs.clone()), ..opts },
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb(_) => Options {
                backend: chainstore_engine::db::BackendChoice::Rocksdb(Default::default()),
                ..opts
            },
        };
        Database::open(self.dir(), opts).unwrap()
    }

    /// Loses power (on `FaultFs`), or closes, and reopens.
    fn power_loss(&self, db: Database, keep_unsynced: bool) -> Database {
        match self {
            Self::Faulty(fs) => {
                // Stop the "process" first, so nothing it still does reaches the new one.
                fs.die_after(0);
                drop(db);
                fs.crash(if keep_unsynced {
                    CrashFate::KeepUnsynced
                } else {
                    CrashFate::DropUnsynced
                });
            }
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb(_) => drop(db),
        }
        self.open()
    }
}

fn check(db: &Database, model: &Model) -> Result<(), TestCaseError> {
    let r = db.begin_read();
    for table in TABLES {
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            r.range(table, KeyRange::all(), false).unwrap().map(|p| p.unwrap()).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = model
            .iter()
            .filter(|((t, _), _)| t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        prop_assert_eq!(&got, &want, "table {}", table);
        for (k, v) in &want {
            prop_assert_eq!(r.get(table, k).unwrap(), Some(v.clone()));
        }
    }
    Ok(())
}

fn run(store: &Store, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    let mut db = Some(store.open());
    for op in ops {
        match op {
            Op::Txn(writes) => {
                let mut t = db.as_ref().unwrap().begin_write();
                for (table, key, value) in &writes {
                    let k = vec![*key];
                    match value {
                        Some(v) => t.put(TABLES[*table], &k, v).unwrap(),
                        None => t.delete(TABLES[*table], &k).unwrap(),
                    }
                }
                t.commit().unwrap();
                for (table, key, value) in writes {
                    let k = (TABLES[table].to_string(), vec![key]);
                    match value {
                        Some(v) => {
                            model.insert(k, v);
                        }
                        None => {
                            model.remove(&k);
                        }
                    }
                }
            }
            Op::Flush => db.as_ref().unwrap().flush().unwrap(),
            Op::Reopen => {
                db.take().unwrap().close().unwrap();
                db = Some(store.open());
            }
            Op::PowerLoss { keep_unsynced } => {
                db = Some(store.power_loss(db.take().unwrap(), keep_unsynced));
            }
        }
        check(db.as_ref().unwrap(), &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn database_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run(&Store::Faulty(FaultFs::new()), ops)?;
    }

    #[cfg(feature = "rocksdb")]
    #[test]
    fn database_on_rocksdb_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run(&Store::Rocksdb(tempfile::tempdir().unwrap()), ops)?;
    }
}
