//! The `write_set` target's entry point ([`crate::write_set_fuzz_check::check`]) on stable Rust:
//! over the committed corpus `fuzz/corpus/write_set/` and a few thousand pseudo-random and
//! mutated inputs. The seeds are write sets a real database logged ([`logged_write_sets`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chainstore_engine::backend::MemoryBackend;
use chainstore_engine::db::{BackendChoice, Database, Options};
use chainstore_engine::vfs::FaultFs;
use chainstore_engine::wal::{self, RecoveryMode};

use crate::stable::Stable;
use crate::write_set_fuzz_check::check;

const INPUTS: usize = 5000;

/// The transactions of the seeds: per transaction, (table, key, value or `None` to delete).
type Txn = Vec<(String, Vec<u8>, Option<Vec<u8>>)>;

fn transactions() -> Vec<(&'static str, Txn)> {
    let long_name = "t".repeat(255);
    let put = |t: &str, k: &[u8], v: &[u8]| (t.to_string(), k.to_vec(), Some(v.to_vec()));
    let del = |t: &str, k: &[u8]| (t.to_string(), k.to_vec(), None);
    vec![
        ("one-put", vec![put("peers", b"node-1", b"10.0.0.1:30303")]),
        (
            "three-tables",
            vec![
                put("accounts", b"alice", &100u64.to_be_bytes()),
                put("accounts", b"bob", &7u64.to_be_bytes()),
                del("accounts", b"carol"),
                put("blocks", &1u64.to_be_bytes(), &[0xab; 40]),
                put("z", b"k", b"v"),
            ],
        ),
        ("empty-key-and-value", vec![put("t", b"", b""), put("t", b"\0", b"")]),
        ("deletes-only", vec![del("accounts", b"alice"), del("blocks", &1u64.to_be_bytes())]),
        ("long-name-and-value", vec![put(&long_name, &[0xff; 33], &[7; 300])]),
        ("unicode-name", vec![put("état", "ключ".as_bytes(), "값".as_bytes())]),
    ]
}

/// The payload of each transaction's commit-log record, as a database on an in-memory file
/// system wrote it (read back through `wal::inspect` before the indexer may truncate the log).
pub(crate) fn logged_write_sets() -> Vec<(&'static str, Vec<u8>)> {
    let fs = FaultFs::new();
    let opts = Options {
        vfs: Arc::new(fs.clone()),
        backend: BackendChoice::Memory(MemoryBackend::new()),
        index_batch_bytes: usize::MAX,
        index_interval: Duration::from_secs(3600),
        ..Options::default()
    };
    let db = Database::open("/db", opts).unwrap();
    let txns = transactions();
    for (_, ops) in &txns {
        let mut txn = db.begin_write();
        for (table, key, value) in ops {
            match value {
                Some(v) => txn.put(table, key, v).unwrap(),
                None => txn.delete(table, key).unwrap(),
            }
        }
        txn.commit().unwrap();
    }
    let mut payloads = Vec::new();
    wal::inspect(&fs, Path::new("/db/wal"), RecoveryMode::Strict, &mut |r| {
        payloads.push(r.payload.to_vec());
    })
    .unwrap();
    db.close().unwrap();
    assert_eq!(payloads.len(), txns.len());
    txns.iter().map(|(name, _)| *name).zip(payloads).collect()
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let logged = logged_write_sets();
    let mixed = logged[1].1.clone();
    let mut unknown_kind = mixed.clone();
    unknown_kind[2 + 1 + "accounts".len() + 4] = 3;
    let mut seeds: Vec<(String, Vec<u8>)> =
        logged.into_iter().map(|(name, bytes)| (name.to_string(), bytes)).collect();
    seeds.extend([
        ("truncated".to_string(), mixed[..mixed.len() - 3].to_vec()),
        ("trailing-byte".to_string(), [&mixed[..], &[0]].concat()),
        ("unknown-kind".to_string(), unknown_kind),
        ("no-tables".to_string(), vec![0, 0]),
        ("empty".to_string(), Vec::new()),
    ]);
    seeds
}

#[test]
fn corpus_and_mutations() {
    let stable = Stable { target: "write_set", seeds: seeds(), tokens: &[b"__"], inputs: INPUTS };
    let outcomes = stable.run(check);
    // The mutations reach both sides of the decoder, not only its first length checks (most
    // mutations break a length field: about 2 % decode).
    for outcome in ["decoded", "error"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 100, "{outcomes:?}");
    }
}
