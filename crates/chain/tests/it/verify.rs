//! `verify` accepts a consistent store and reports each kind of damage with its table.

use chainstore_chain::ChainStore;
use chainstore_engine::backend::KeyRange;

use crate::common::{blocks, open};

fn built() -> (tempfile::TempDir, ChainStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for b in blocks(21, 8) {
        store.commit_block(&b).unwrap();
    }
    store.unwind_to(6).unwrap();
    (dir, store)
}

fn first_key(store: &ChainStore, table: &str) -> (Vec<u8>, Vec<u8>) {
    store
        .database()
        .begin_read()
        .range(table, KeyRange::all(), false)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn a_consistent_store_verifies() {
    let (_dir, store) = built();
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert_eq!(report.computed_state_root, Some(store.head().unwrap().unwrap().state_root));
    assert!(report.rows["hashed_accounts"] > 300);
}

#[test]
fn each_kind_of_damage_is_reported_with_its_table() {
    type Damage = fn(&ChainStore) -> ();
    let cases: Vec<(&str, Damage)> = vec![
        ("tx_by_sender", |s| {
            let (k, _) = first_key(s, "tx_by_sender");
            let mut t = s.database().begin_write();
            t.delete("tx_by_sender", &k).unwrap();
            t.commit().unwrap();
        }),
        ("logs_by_topic", |s| {
            let mut t = s.database().begin_write();
            t.put("logs_by_topic", &[0u8; 45], &[0u8; 8]).unwrap();
            t.commit().unwrap();
        }),
        ("hashed_accounts", |s| {
            let (k, mut v) = first_key(s, "hashed_accounts");
            v[20] ^= 1; // the balance changes, the trie does not
            let mut t = s.database().begin_write();
            t.put("hashed_accounts", &k, &v).unwrap();
            t.commit().unwrap();
        }),
        ("account_trie", |s| {
            let (k, _) = first_key(s, "account_trie");
            let mut t = s.database().begin_write();
            t.delete("account_trie", &k).unwrap();
            t.commit().unwrap();
        }),
        ("headers", |s| {
            let mut t = s.database().begin_write();
            t.put("headers", &3u64.to_be_bytes(), b"not rlp").unwrap();
            t.commit().unwrap();
        }),
        ("transactions", |s| {
            let (k, _) = first_key(s, "block_txs");
            let mut t = s.database().begin_write();
            t.delete("block_txs", &k).unwrap();
            t.commit().unwrap();
        }),
    ];
    for (table, damage) in cases {
        let (_dir, store) = built();
        damage(&store);
        let report = store.verify(&mut |_| {}).unwrap();
        assert!(!report.is_ok(), "{table}: damage not detected");
        assert!(
            report.problems.iter().any(|p| p.table == table),
            "{table}: {:#?}",
            report.problems
        );
    }
}
