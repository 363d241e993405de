//! `ChainStore::open_read_only`, the query commands' open: every acknowledged block is there,
//! including blocks the indexer had not written when the writer died, and the store's state and
//! proofs read as through a writer's open.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chainstore_chain::ChainStore;
use chainstore_chain::synth::SynthChain;
use chainstore_engine::db::Options;
use chainstore_engine::vfs::{CrashFate, FaultFs};

use crate::common::{blocks, dump};

fn options(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        // The indexer writes only when asked.
        index_interval: Duration::from_secs(3600),
        index_batch_bytes: usize::MAX,
        ..Options::default()
    }
}

#[test]
fn a_read_only_open_sees_every_acknowledged_block_indexed_or_only_in_the_log() {
    let fs = FaultFs::new();
    let dir = Path::new("/chain");
    let chain = blocks(21, 30);
    let store = ChainStore::open(dir, options(&fs)).unwrap();
    let mut acked = Vec::new();
    for (i, block) in chain.iter().enumerate() {
        acked.push(store.commit_block(block).unwrap());
        if i == 11 {
            store.database().flush().unwrap();
        }
    }
    // The writer dies: blocks 12..30 were acknowledged but never indexed.
    fs.die_after(0);
    drop(store);
    fs.crash(CrashFate::KeepUnsynced);

    let ro = ChainStore::open_read_only(dir, options(&fs)).unwrap();
    let stats = ro.database().stats();
    assert!(stats.visible_seq > stats.checkpoint, "acknowledged blocks only in the log");
    let head = ro.head().unwrap().unwrap();
    assert_eq!((head.number, head.hash), (acked[29].number, acked[29].hash));
    for info in &acked {
        let h = ro.header(info.number).unwrap().unwrap();
        assert_eq!((h.hash, h.state_root), (info.hash, info.state_root), "block {}", info.number);
        assert!(ro.block(info.number).unwrap().is_some());
    }
    let tx = chain[29].transactions[0].hash;
    assert_eq!(ro.transaction(tx).unwrap().unwrap().block_number, 29);
    let holder = SynthChain::account(1);
    let proof = ro.proof(holder, &[]).unwrap();
    let seen = dump(&ro);
    assert!(ro.commit_block(&blocks(21, 31)[30]).is_err(), "a read-only store commits nothing");
    drop(ro);

    // A writer's open (which replays and indexes the log) reads the same.
    let store = ChainStore::open(dir, options(&fs)).unwrap();
    assert_eq!(dump(&store), seen);
    assert_eq!(store.proof(holder, &[]).unwrap(), proof);
    assert!(store.verify(&mut |_| {}).unwrap().is_ok());
}
