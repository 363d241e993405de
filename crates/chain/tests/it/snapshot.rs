//! State snapshots: export then import gives the state of the exported block, checked against an
//! independent model; damaged files (a flipped byte, a dropped chunk, swapped chunks, a wrong
//! root) are refused, naming the chunk, and leave the store empty.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use chainstore_chain::{BlockCommit, ChainError, ChainStore};
use chainstore_trie::memory::MemoryState;
use chainstore_trie::rebuild_state_root;

use crate::common::{apply_to_model, blocks, dump, open};

/// Small chunks, so that a small state spans many.
const CHUNK: usize = 4 << 10;

/// A store with `n` synthetic blocks, and the model of the state after each block.
fn chain(dir: &Path, n: usize) -> (ChainStore, Vec<BlockCommit>, Vec<MemoryState>) {
    let store = open(dir);
    let chain = blocks(11, n);
    let mut model = MemoryState::new();
    let mut models = Vec::new();
    for block in &chain {
        store.commit_block(block).unwrap();
        apply_to_model(&mut model, block);
        models.push(model.clone());
    }
    (store, chain, models)
}

fn addresses(chain: &[BlockCommit]) -> Vec<Address> {
    let mut all: Vec<Address> =
        chain.iter().flat_map(|b| b.state.iter().map(|(a, _)| *a)).collect();
    all.sort();
    all.dedup();
    all
}

/// The imported store holds exactly the model's state: the same root (computed by a full
/// rebuild of the model), every account and slot, every code, and nothing else.
fn assert_holds(store: &ChainStore, model: &MemoryState, chain: &[BlockCommit], number: u64) {
    let root = rebuild_state_root(model).unwrap().root;
    let head = store.head().unwrap().unwrap();
    assert_eq!((head.number, head.state_root), (number, root));
    let tables = dump(store);
    let rows = |t: &str| tables.get(t).map_or(0, Vec::len);
    assert_eq!(rows("hashed_accounts"), model.hashed_accounts().len());
    let slots: usize = model.hashed_accounts().keys().map(|h| model.hashed_storage(*h).len()).sum();
    assert_eq!(rows("hashed_storage"), slots);
    for address in addresses(chain) {
        let want = model.account(address);
        let got = store.account(address).unwrap();
        assert_eq!(
            got.map(|a| (a.nonce, a.balance, a.code_hash)),
            want.map(|a| (a.nonce, a.balance, a.code_hash)),
            "{address}"
        );
        if let Some(want) = want.filter(|a| a.code_hash != alloy_primitives::KECCAK256_EMPTY) {
            let code = store.code(want.code_hash).unwrap().expect("code imported");
            assert_eq!(alloy_primitives::keccak256(&code), want.code_hash);
        }
    }
    for hashed in model.hashed_accounts().keys() {
        for (slot, value) in model.hashed_storage(*hashed) {
            let key = [hashed.as_slice(), slot.as_slice()].concat();
            let row = tables["hashed_storage"].iter().find(|(k, _)| *k == key);
            assert_eq!(row.map(|(_, v)| v.as_slice()), Some(&value.to_be_bytes::<32>()[..]));
        }
    }
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

fn export(store: &ChainStore, dir: &Path, number: Option<u64>) -> PathBuf {
    let file = dir.join(format!("state-{number:?}.snap"));
    store.export_snapshot_in_chunks(&file, number, CHUNK, &mut |_| {}).unwrap();
    file
}

#[test]
fn export_then_import_gives_the_state_of_the_block() {
    let src = tempfile::tempdir().unwrap();
    let (store, chain, models) = chain(src.path(), 8);
    let files = tempfile::tempdir().unwrap();
    for number in [None, Some(3)] {
        let file = export(&store, files.path(), number);
        let summary = chainstore_chain::inspect_snapshot(&file).unwrap();
        let n = number.unwrap_or(7);
        assert_eq!(summary.number, n);
        assert_eq!(summary.state_root, store.header(n).unwrap().unwrap().state_root);
        assert!(summary.chunks > 3, "{summary:?}");
        let dst = tempfile::tempdir().unwrap();
        let imported = open(dst.path());
        let info = imported.import_snapshot(&file, &mut |_| {}).unwrap();
        assert_eq!(info.state_root, summary.state_root);
        assert_holds(&imported, &models[n as usize], &chain, n);
        // The imported store goes on with the next block as the source did.
        if n == 3 {
            imported.commit_block(&chain[4]).unwrap();
            assert_eq!(
                imported.head().unwrap().unwrap().state_root,
                store.header(4).unwrap().unwrap().state_root
            );
        }
    }
}

/// The frames of a snapshot file: the header's length, then each chunk's byte range.
fn frames(bytes: &[u8]) -> (usize, Vec<std::ops::Range<usize>>) {
    let header = 132;
    let mut at = header;
    let mut chunks = Vec::new();
    while bytes[at] == b'C' {
        let zlen = u32::from_le_bytes(bytes[at + 13..at + 17].try_into().unwrap()) as usize;
        let end = at + 21 + zlen;
        chunks.push(at..end);
        at = end;
    }
    assert_eq!(bytes[at], b'E');
    (header, chunks)
}

/// Importing `bytes` is refused with a message containing `names`, and the store stays empty.
fn assert_refused(bytes: &[u8], names: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.snap");
    std::fs::write(&file, bytes).unwrap();
    let err = chainstore_chain::inspect_snapshot(&file).unwrap_err();
    assert!(err.to_string().contains(names), "inspect: {err}");
    let store = open(&dir.path().join("store"));
    let err = store.import_snapshot(&file, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains(names), "import: {err}");
    assert!(store.head().unwrap().is_none());
    assert!(
        dump(&store).keys().all(|t| t == "meta" || t == "__tables"),
        "{:?}",
        dump(&store).keys()
    );
}

#[test]
fn damaged_snapshots_are_refused_naming_the_chunk() {
    let src = tempfile::tempdir().unwrap();
    let (store, _, _) = chain(src.path(), 6);
    let file = export(&store, src.path(), None);
    let good = std::fs::read(&file).unwrap();
    let (_, chunks) = frames(&good);
    assert!(chunks.len() >= 4);

    let mut flipped = good.clone();
    flipped[chunks[2].start + 30] ^= 0x40;
    assert_refused(&flipped, "chunk 2: checksum mismatch");

    let mut dropped = good[..chunks[1].start].to_vec();
    dropped.extend_from_slice(&good[chunks[1].end..]);
    assert_refused(&dropped, "chunk 1: found chunk 2 in its place");

    let mut swapped = good[..chunks[0].start].to_vec();
    swapped.extend_from_slice(&good[chunks[1].clone()]);
    swapped.extend_from_slice(&good[chunks[0].clone()]);
    swapped.extend_from_slice(&good[chunks[1].end..]);
    assert_refused(&swapped, "chunk 0: found chunk 1 in its place");

    let last = chunks.last().unwrap().clone();
    let mut no_last = good[..last.start].to_vec();
    no_last.extend_from_slice(&good[last.end..]);
    assert_refused(&no_last, &format!("chunk {} is missing", chunks.len() - 1));

    assert_refused(&good[..good.len() - 10], "truncated");
    assert_refused(&good[..100], "truncated");
    let mut magic = good.clone();
    magic[0] = b'X';
    assert_refused(&magic, "not a chainstore snapshot");
}

#[test]
fn a_snapshot_whose_state_does_not_hash_to_its_root_leaves_nothing() {
    let src = tempfile::tempdir().unwrap();
    let (store, _, _) = chain(src.path(), 4);
    let file = export(&store, src.path(), None);
    let mut bytes = std::fs::read(&file).unwrap();
    // Another root in the header, with the header's checksum made to match: only the
    // recomputed root can tell.
    bytes[96..128].copy_from_slice(B256::repeat_byte(0x5a).as_slice());
    let crc = crc32c::crc32c(&bytes[..128]);
    bytes[128..132].copy_from_slice(&crc.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("wrong-root.snap");
    std::fs::write(&bad, &bytes).unwrap();
    chainstore_chain::inspect_snapshot(&bad).unwrap();
    let dst = open(&dir.path().join("store"));
    let err = dst.import_snapshot(&bad, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ChainError::StateRootMismatch { .. }), "{err}");
    assert!(dst.head().unwrap().is_none());
    let tables = dump(&dst);
    for t in ["hashed_accounts", "hashed_storage", "account_trie", "storage_trie", "code"] {
        assert!(!tables.contains_key(t), "{t} left behind");
    }
    // The store is empty, so the right snapshot imports.
    dst.import_snapshot(&file, &mut |_| {}).unwrap();
}

#[test]
fn export_and_import_refuse_what_they_cannot_do() {
    let src = tempfile::tempdir().unwrap();
    let (store, _, _) = chain(src.path(), 3);
    let file = export(&store, src.path(), None);
    // The file exists.
    let again = store.export_snapshot(&file, None, &mut |_| {}).unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    // A block above the head.
    let above =
        store.export_snapshot(&src.path().join("x.snap"), Some(9), &mut |_| {}).unwrap_err();
    assert!(above.to_string().contains("above the head"), "{above}");
    assert!(!src.path().join("x.snap").exists() && !src.path().join("x.snap.partial").exists());
    // A store with blocks, other than the snapshot's.
    let older = export(&store, src.path(), Some(1));
    let err = store.import_snapshot(&older, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ChainError::NotEmpty { head: 2 }), "{err}");
    // A store that holds the snapshot's block as its head: imported already, nothing to do.
    let info = store.import_snapshot(&file, &mut |_| {}).unwrap();
    assert_eq!(info.state_root, store.head().unwrap().unwrap().state_root);
}
