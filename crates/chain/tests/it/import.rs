//! One-pass state import: the same tables as committing the state as a block, every account,
//! slot and code readable, a root mismatch leaves nothing behind, a stopped import resumes, and
//! malformed input is refused.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_chain::synth::SplitMix64 as Rng;
use chainstore_chain::{
    AccountChange, BlockCommit, ChainError, ChainStore, ImportBlock, StateEntry,
};
use chainstore_trie::memory::MemoryState;
use chainstore_trie::{Account, rebuild_state_root};

use crate::common::{Dump, dump, open};

/// A random state: accounts with balances and nonces, some with code and storage.
fn random_state(seed: u64, accounts: u64) -> (BlockCommit, MemoryState, Vec<(B256, Bytes)>) {
    let mut rng = Rng(seed);
    let mut block = BlockCommit { number: 0, hash: B256::repeat_byte(0x99), ..Default::default() };
    let mut model = MemoryState::new();
    let mut codes = Vec::new();
    for i in 0..accounts {
        let address = Address::from_word(keccak256(i.to_be_bytes()));
        let mut change = AccountChange {
            nonce: Some(rng.below(10)),
            balance: Some(U256::from(1 + rng.below(1 << 40))),
            ..Default::default()
        };
        let mut account = Account {
            nonce: change.nonce.unwrap_or_default(),
            balance: change.balance.unwrap_or_default(),
            ..Account::default()
        };
        if rng.below(5) == 0 {
            let code = Bytes::from(vec![0x60, i as u8, 0x60, (i >> 8) as u8]);
            account.code_hash = keccak256(&code);
            codes.push((account.code_hash, code.clone()));
            change.code = Some(code);
        }
        model.set_account(address, account);
        for s in 0..rng.below(4) * rng.below(4) {
            let (slot, value) = (B256::with_last_byte(s as u8), U256::from(1 + rng.below(1000)));
            change.storage.push((slot, value));
            model.set_storage(address, slot, value);
        }
        block.state.push((address, Some(change)));
    }
    (block, model, codes)
}

/// The model as an import stream, in key order.
fn entries(model: &MemoryState, codes: &[(B256, Bytes)]) -> Vec<StateEntry> {
    let mut out = Vec::new();
    for (hashed, account) in model.hashed_accounts() {
        let code = codes.iter().find(|(h, _)| *h == account.code_hash).map(|(_, c)| c.clone());
        out.push(StateEntry::Account { hashed_address: *hashed, account: *account, code });
        for (slot, value) in model.hashed_storage(*hashed) {
            out.push(StateEntry::Slot { hashed_slot: *slot, value: *value });
        }
    }
    out
}

fn import_block(model: &MemoryState) -> ImportBlock {
    ImportBlock {
        number: 0,
        hash: B256::repeat_byte(0x99),
        parent_hash: B256::ZERO,
        timestamp: 0,
        state_root: Some(rebuild_state_root(model).unwrap().root),
    }
}

/// The tables that hold the state (not history, not blocks).
fn state_tables(store: &ChainStore) -> Dump {
    let wanted = [
        "hashed_accounts",
        "hashed_storage",
        "storage_roots",
        "code",
        "account_trie",
        "storage_trie",
    ];
    dump(store).into_iter().filter(|(t, _)| wanted.contains(&t.as_str())).collect::<Dump>()
}

fn import_all(store: &ChainStore, block: &ImportBlock, stream: Vec<StateEntry>, batch: usize) {
    let mut it = stream.into_iter().map(Ok);
    store.import_state_in_batches(block, &mut it, batch, &mut |_| {}).unwrap();
}

#[test]
fn an_import_equals_the_state_committed_as_a_block() {
    let (genesis, model, codes) = random_state(1, 400);
    let committed = tempfile::tempdir().unwrap();
    let committed = open(committed.path());
    let info = committed.commit_block(&genesis).unwrap();
    let imported_dir = tempfile::tempdir().unwrap();
    let imported = open(imported_dir.path());
    let block = import_block(&model);
    let mut progress = Vec::new();
    let mut it = entries(&model, &codes).into_iter().map(Ok);
    let got =
        imported.import_state_in_batches(&block, &mut it, 97, &mut |p| progress.push(*p)).unwrap();
    assert_eq!(got.state_root, info.state_root);
    assert!(progress.len() > 3, "batches: {progress:?}");
    assert!(state_tables(&imported) == state_tables(&committed), "state tables differ");
    for (address, _) in &genesis.state {
        assert_eq!(imported.account(*address).unwrap(), committed.account(*address).unwrap());
    }
    let report = imported.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // Blocks go on from the imported one.
    let (next, _, _) = random_state(2, 30);
    let next =
        BlockCommit { number: 1, hash: B256::repeat_byte(1), parent_hash: block.hash, ..next };
    assert_eq!(
        imported.commit_block(&next).unwrap().state_root,
        committed.commit_block(&next).unwrap().state_root
    );
}

#[test]
fn a_root_mismatch_leaves_nothing_behind() {
    let (_, model, codes) = random_state(3, 200);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = dump(&store);
    let mut block = import_block(&model);
    block.state_root = Some(B256::repeat_byte(0xee));
    let mut it = entries(&model, &codes).into_iter().map(Ok);
    let err = store.import_state_in_batches(&block, &mut it, 50, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ChainError::StateRootMismatch { .. }), "{err}");
    assert!(dump(&store) == before, "the import left rows behind");
    assert!(store.head().unwrap().is_none());
}

#[test]
fn a_stopped_import_resumes_and_ends_with_the_same_state() {
    let (_, model, codes) = random_state(4, 300);
    let stream = entries(&model, &codes);
    let whole = tempfile::tempdir().unwrap();
    let whole = open(whole.path());
    let block = import_block(&model);
    import_all(&whole, &block, stream.clone(), 60);
    for stop in [1, 150, stream.len() / 2, stream.len() - 1] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            let mut it = stream[..stop]
                .iter()
                .cloned()
                .map(Ok)
                .chain(std::iter::once(Err(ChainError::BadImport("stopped".into()))));
            assert!(store.import_state_in_batches(&block, &mut it, 60, &mut |_| {}).is_err());
            assert!(store.head().unwrap().is_none(), "a stopped import must not set a head");
        }
        let store = open(dir.path());
        import_all(&store, &block, stream.clone(), 60);
        assert!(state_tables(&store) == state_tables(&whole), "stopped at {stop}");
        assert!(store.verify(&mut |_| {}).unwrap().is_ok());
    }
}

#[test]
fn malformed_streams_are_refused() {
    let (_, model, codes) = random_state(5, 50);
    let good = entries(&model, &codes);
    let block = ImportBlock { state_root: None, ..import_block(&model) };
    let account = |i: usize| {
        good.iter().filter(|e| matches!(e, StateEntry::Account { .. })).nth(i).cloned().unwrap()
    };
    let slot = StateEntry::Slot { hashed_slot: B256::repeat_byte(5), value: U256::from(1) };
    let cases: Vec<(&str, Vec<StateEntry>)> = vec![
        ("a slot before any account", vec![slot.clone(), account(0)]),
        ("accounts out of order", vec![account(1), account(0)]),
        (
            "a zero slot",
            vec![account(0), StateEntry::Slot { hashed_slot: B256::ZERO, value: U256::ZERO }],
        ),
        ("code that does not match", {
            let StateEntry::Account { hashed_address, account, .. } = account(0) else {
                unreachable!()
            };
            vec![StateEntry::Account {
                hashed_address,
                account,
                code: Some(Bytes::from_static(b"x")),
            }]
        }),
    ];
    for (what, stream) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut it = stream.into_iter().map(Ok);
        let err = store.import_state(&block, &mut it, &mut |_| {});
        assert!(err.is_err(), "{what} accepted");
        assert!(store.head().unwrap().is_none(), "{what}: a head was set");
    }
}

#[test]
fn blocks_after_an_import_do_not_depend_on_what_the_cache_took_in() {
    let (_, model, codes) = random_state(6, 500);
    let block = import_block(&model);
    let budgets = [512 << 20, 0, 40 << 10];
    let dirs: Vec<_> = budgets.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let stores: Vec<ChainStore> = budgets
        .iter()
        .zip(&dirs)
        .map(|(b, d)| {
            let options = chainstore_engine::db::Options { cache_bytes: *b, ..Default::default() };
            ChainStore::open(d.path(), options).unwrap()
        })
        .collect();
    for store in &stores {
        import_all(store, &block, entries(&model, &codes), 1000);
    }
    assert!(stores[2].cache_stats().bytes > 0, "the partial cache took in nothing");
    let mut parent = block.hash;
    for number in 1..6 {
        let (next, _, _) = random_state(100 + number, 40);
        let next = BlockCommit {
            number,
            hash: B256::repeat_byte(number as u8),
            parent_hash: parent,
            ..next
        };
        parent = next.hash;
        let roots: Vec<_> =
            stores.iter().map(|s| s.commit_block(&next).unwrap().state_root).collect();
        assert!(roots.iter().all(|r| *r == roots[0]), "block {number}: {roots:?}");
    }
    for store in &stores {
        assert!(store.verify(&mut |_| {}).unwrap().is_ok());
    }
}

#[test]
fn a_block_after_an_import_rewrites_only_the_nodes_on_its_paths() {
    let (_, model, codes) = random_state(7, 3000);
    let block = import_block(&model);
    // The whole state in the cache, none of it, and a prefix of it.
    for cache_bytes in [512 << 20, 0, 40 << 10] {
        let dir = tempfile::tempdir().unwrap();
        let options = chainstore_engine::db::Options { cache_bytes, ..Default::default() };
        let store = ChainStore::open(dir.path(), options).unwrap();
        import_all(&store, &block, entries(&model, &codes), 1000);
        let stored = dump(&store)["account_trie"].len();
        let address = Address::from_word(keccak256(7u64.to_be_bytes()));
        let change = AccountChange { balance: Some(U256::from(12345)), ..Default::default() };
        let next = BlockCommit {
            number: 1,
            hash: B256::repeat_byte(1),
            parent_hash: block.hash,
            state: vec![(address, Some(change))],
            ..Default::default()
        };
        store.commit_block(&next).unwrap();
        // One account changed: the stored nodes on its path change (the root, then one per
        // level; 3,000 accounts are at most four levels deep), and each records the node it
        // replaced, which existed (a history value of one byte says "absent before").
        let history = &dump(&store)["account_trie_history"];
        assert!(
            (1..=4).contains(&history.len()),
            "cache {cache_bytes}: {} of {stored} account-trie nodes rewritten",
            history.len()
        );
        assert!(history.iter().all(|(_, before)| before.len() > 1), "cache {cache_bytes}");
    }
}
