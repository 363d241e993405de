//! Model test: random transactions, flushes, reopens and power losses against a `BTreeMap`,
//! on `FaultFs` with the redb backend (so redb's file is crashed too).

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

fn options(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        wal: WalOptions { segment_size: 8192, ..WalOptions::default() },
        index_batch_bytes: 2048,
        index_interval: Duration::from_millis(2),
        ..Options::default()
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn database_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = Path::new("/store");
        let fs = FaultFs::new();
        let mut model = Model::new();
        let mut db = Some(Database::open(dir, options(&fs)).unwrap());
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
                            Some(v) => { model.insert(k, v); }
                            None => { model.remove(&k); }
                        }
                    }
                }
                Op::Flush => db.as_ref().unwrap().flush().unwrap(),
                Op::Reopen => {
                    db.take().unwrap().close().unwrap();
                    db = Some(Database::open(dir, options(&fs)).unwrap());
                }
                Op::PowerLoss { keep_unsynced } => {
                    // Stop the "process" first, so nothing it still does reaches the new one.
                    fs.die_after(0);
                    drop(db.take());
                    fs.crash(if keep_unsynced { CrashFate::KeepUnsynced } else { CrashFate::DropUnsynced });
                    db = Some(Database::open(dir, options(&fs)).unwrap());
                }
            }
            check(db.as_ref().unwrap(), &model)?;
        }
    }
}
