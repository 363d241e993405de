//! Power loss through the chain layer (`FaultFs`, redb backend): a deterministic workload (open
//! the store, then block commits, indexer batches, prune batches or an unwind) is cut at every
//! write and sync point, each cut is crashed with the fates below, and the surviving image is
//! reopened and checked:
//!
//! - the store is in an acknowledged state (after the last step whose call returned `Ok`) or,
//!   if a step was in flight, possibly in the state after it: its head block (number and hash)
//!   and its prune markers are those of one of the two, never anything in between;
//! - the head's state root is the one an independent in-memory model of that state rebuilds from
//!   scratch (`rebuild_state_root` over a `MemoryState` fed with the blocks' diffs), and `verify`
//!   passes (it recomputes the root from the flat state and checks every stored trie node, index,
//!   the history and the state as of the oldest retained block);
//! - the store takes a new block, whose root again equals the model's, and closes (indexing it).
//!
//! Every write and sync of every run is a cut point; nothing is sampled there. The runs are
//! deterministic (the indexer runs only when a step flushes), which the test asserts: the run cut
//! at point `k` dies after exactly `k` writes and syncs. The fates of a cut: every unsynced write
//! dropped; every one kept, with the unsynced directory changes; a prefix of them kept, without;
//! and after each such prefix the next write torn (1 or 700 bytes of it kept) or landing as
//! garbage. While at most 9 writes are unsynced every prefix is tried (block commits never leave
//! more than 4); above that (only redb's page writes before its commit's sync get there, up to
//! about 50) the first five, the last five and every eighth: the prefixes in the middle of a
//! backend commit are sampled, not exhausted. A crashed image identical to one already checked with the
//! same acknowledged and in-flight steps is not checked again (it cannot give another result).
//!
//! `cargo test -p chainstore-chain --test it power_loss -- --nocapture` prints per scenario the
//! cut points, the images checked and the duplicates skipped.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use chainstore_chain::synth::{SplitMix64 as Rng, SynthChain, SynthConfig};
use chainstore_chain::{BlockCommit, ChainStore, Prunable, Retention};
use chainstore_engine::db::Options;
use chainstore_engine::vfs::{CrashFate, FaultFs, Vfs};
use chainstore_engine::wal::WalOptions;
use chainstore_trie::memory::MemoryState;
use chainstore_trie::rebuild_state_root;

use crate::common::{apply_to_model, random_block};

const DIR: &str = "/chain";

/// The prefixes of the unsynced writes a cut keeps: the first and last `EDGE` and every
/// `STRIDE`-th (so all of them while fewer than `2 * EDGE` writes are unsynced).
const EDGE: usize = 5;
const STRIDE: usize = 8;

/// Small log segments, so runs create and retire segments; the indexer runs only when a step
/// flushes (or the store closes), so every run does the same writes in the same order.
fn options(fs: &FaultFs) -> Options {
    Options {
        vfs: Arc::new(fs.clone()),
        wal: WalOptions { segment_size: 32 << 10, ..WalOptions::default() },
        index_batch_bytes: usize::MAX,
        index_interval: Duration::from_secs(3600),
        ..Options::default()
    }
}

fn config(seed: u64) -> SynthConfig {
    SynthConfig { accounts: 40, tokens: 3, txs_per_block: 6, seed }
}

fn chain(seed: u64) -> SynthChain {
    SynthChain::new(config(seed))
}

/// One call on the store.
#[derive(Debug, Clone)]
enum Op {
    Commit(BlockCommit),
    /// `Database::flush`: one indexer batch of everything committed.
    Flush,
    /// `ChainStore::prune` with batches of one block each (one step per batch).
    Prune(Retention),
    Unwind(u64),
}

/// What the store shows after a step.
#[derive(Debug, Clone)]
struct State {
    head: Option<(u64, B256)>,
    /// `oldest_available` of history, receipts and the transaction index.
    oldest: [u64; 3],
    /// The flat state of the head block, and its root rebuilt from scratch.
    model: MemoryState,
    root: B256,
}

/// The expected outcome of every step, from the operations' documented meaning (no store code).
#[derive(Debug, Default)]
struct Model {
    /// Per block of the current chain: its hash and the state after it.
    blocks: Vec<(B256, MemoryState)>,
    /// Per `Prunable::ALL`: the highest block pruned.
    pruned: [Option<u64>; 3],
}

impl Model {
    fn state(&self) -> State {
        let model = self.blocks.last().map(|b| b.1.clone()).unwrap_or_default();
        let root = rebuild_state_root(&model).unwrap().root;
        let [history, receipts, tx_index] = self.pruned;
        State {
            head: self.blocks.len().checked_sub(1).map(|n| (n as u64, self.blocks[n].0)),
            oldest: [
                history.unwrap_or(0),
                receipts.map_or(0, |p| p + 1),
                tx_index.map_or(0, |p| p + 1),
            ],
            model,
            root,
        }
    }

    /// Applies `op`; returns the state after each of its steps.
    fn apply(&mut self, op: &Op) -> Vec<State> {
        match op {
            Op::Commit(block) => {
                assert_eq!(block.number, self.blocks.len() as u64, "workload out of order");
                let mut state = self.blocks.last().map(|b| b.1.clone()).unwrap_or_default();
                apply_to_model(&mut state, block);
                self.blocks.push((block.hash, state));
                vec![self.state()]
            }
            Op::Flush => vec![self.state()],
            Op::Prune(retention) => {
                let keep = [retention.history, retention.receipts, retention.tx_index];
                let head = self.blocks.len() as u64 - 1;
                let mut steps = Vec::new();
                for (kind, keep) in keep.into_iter().enumerate() {
                    let Some(target) = keep.and_then(|k| head.checked_sub(k)) else { continue };
                    // One block per batch, oldest first.
                    let start = self.pruned[kind].map_or(0, |p| p + 1);
                    for number in start..=target {
                        self.pruned[kind] = Some(number);
                        steps.push(self.state());
                    }
                }
                steps
            }
            Op::Unwind(target) => {
                self.blocks.truncate(*target as usize + 1);
                // Receipts and index entries pruned above the target went with their blocks.
                for p in &mut self.pruned[1..] {
                    *p = p.map(|p| p.min(*target));
                }
                vec![self.state()]
            }
        }
    }
}

/// Models `ops` from `model`'s state: the states (the starting one, then one per step) and, per
/// operation, the index of the state after its last step.
fn plan(model: &mut Model, ops: &[Op]) -> (Vec<State>, Vec<usize>) {
    let mut states = vec![model.state()];
    let mut ends = Vec::new();
    for op in ops {
        states.extend(model.apply(op));
        ends.push(states.len() - 1);
    }
    (states, ends)
}

/// How far a run got: the state after step `acked` is acknowledged (every step up to it
/// returned `Ok`); the one after step `reach` at most can be on disk (the step in flight).
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    acked: usize,
    reach: usize,
}

/// Opens the store on `fs` and runs `ops` until one fails (the machine lost power), then kills
/// the "process": nothing after the last operation reaches the file system.
fn execute(fs: &FaultFs, ops: &[Op], ends: &[usize]) -> Progress {
    let mut progress = Progress::default();
    let Ok(store) = ChainStore::open(DIR, options(fs)) else { return progress };
    for (op, &end) in ops.iter().zip(ends) {
        progress.reach = end.min(progress.acked + 1);
        let mut done = progress.acked;
        let ok = match op {
            Op::Commit(block) => store.commit_block(block).is_ok(),
            Op::Flush => store.database().flush().is_ok(),
            // A batch whose progress was reported is acknowledged, even if a later one fails.
            Op::Prune(retention) => store
                .prune(retention, 1, &mut |_| {
                    done += 1;
                    progress.reach = end.min(done + 1);
                })
                .is_ok(),
            Op::Unwind(target) => store.unwind_to(*target).is_ok(),
        };
        if !ok {
            progress.acked = done;
            break;
        }
        if let Op::Prune(_) = op {
            assert_eq!(done, end, "{op:?}: the batches differ from the model's");
        }
        progress.acked = end;
    }
    fs.die_after(0);
    drop(store);
    progress
}

/// A store image and a workload to cut, with the state expected after every step.
struct Scenario {
    name: &'static str,
    base: FaultFs,
    ops: Vec<Op>,
    /// Per operation, the index in `states` of the state after its last step.
    ends: Vec<usize>,
    /// `states[0]` is the base image's state; `states[i]` the one after step `i`.
    states: Vec<State>,
}

/// What a sweep did.
#[derive(Debug, Default)]
struct Sweep {
    cut_points: u64,
    /// Crashed images checked, and fates skipped because their image was already checked.
    checked: usize,
    duplicates: usize,
    /// Checked images that held the step in flight.
    in_flight_done: usize,
    max_unsynced: usize,
}

impl Scenario {
    /// Builds the base image by running `base` (all of it must succeed) and cutting power after
    /// it (that image is checked too), and models the workload `ops` on top of it.
    fn new(name: &'static str, base: &[Op], ops: Vec<Op>) -> Self {
        let mut model = Model::default();
        let (base_states, base_ends) = plan(&mut model, base);
        let fs = FaultFs::new();
        let built = execute(&fs, base, &base_ends);
        assert_eq!(built.acked, base_states.len() - 1, "{name}: building the base failed");
        fs.crash(CrashFate::DropUnsynced);
        check(&fs.fork(), &base_states, built, &format!("{name}: the base image"));
        let (states, ends) = plan(&mut model, &ops);
        Self { name, base: fs, ops, ends, states }
    }

    /// Cuts the workload at every write and sync point with every fate and checks each image.
    fn run(&self) {
        let started = Instant::now();
        let probe = self.base.fork();
        let start = probe.mutations();
        let done = execute(&probe, &self.ops, &self.ends);
        assert_eq!(done.acked, self.states.len() - 1, "{}: the uncut run failed", self.name);
        let total = probe.mutations() - start;
        let mut sweep = Sweep { cut_points: total + 1, ..Sweep::default() };
        // Every step writes and syncs at least once (a log record, or a backend commit).
        let steps = self.states.len() as u64 - 1;
        assert!(sweep.cut_points > 2 * steps, "{}: too few writes and syncs", self.name);
        let mut seen = HashSet::new();
        for point in 0..=total {
            let fs = self.base.fork();
            fs.die_after(point);
            let progress = execute(&fs, &self.ops, &self.ends);
            assert_eq!(
                fs.mutations() - start,
                point,
                "{}: the run is not deterministic",
                self.name
            );
            let unsynced = fs.unsynced_writes();
            sweep.max_unsynced = sweep.max_unsynced.max(unsynced);
            for fate in fates(unsynced, point) {
                let crashed = fs.fork();
                crashed.crash(fate);
                if !seen.insert((image_hash(&crashed), progress.acked, progress.reach)) {
                    sweep.duplicates += 1;
                    continue;
                }
                let what = format!(
                    "{}: power cut at write/sync {point} of {total}, {fate:?}, {progress:?}",
                    self.name
                );
                let shown = check(&crashed, &self.states, progress, &what);
                sweep.checked += 1;
                sweep.in_flight_done += usize::from(shown > progress.acked);
            }
        }
        eprintln!("{}: {sweep:?} in {:.1?}", self.name, started.elapsed());
        assert!(sweep.in_flight_done > 0, "{}: no cut left a step in flight done", self.name);
    }
}

/// The fates of a cut with `unsynced` writes pending: all dropped, all kept, each prefix kept (see
/// `EDGE`), and after each prefix the next write torn or garbage.
fn fates(unsynced: usize, seed: u64) -> Vec<CrashFate> {
    let mut fates = vec![CrashFate::DropUnsynced, CrashFate::KeepUnsynced];
    let prefixes =
        (0..=unsynced).filter(|&ops| ops < EDGE || ops + EDGE > unsynced || ops % STRIDE == 0);
    for ops in prefixes {
        if ops > 0 {
            fates.push(CrashFate::KeepPrefix { ops });
        }
        if ops < unsynced {
            fates.push(CrashFate::Tear { ops, keep_bytes: 1 });
            fates.push(CrashFate::Tear { ops, keep_bytes: 700 });
            fates.push(CrashFate::Garbage { ops, seed: seed ^ ((ops as u64) << 32) });
        }
    }
    fates
}

/// A hash of every file of the store (names and contents).
fn image_hash(fs: &FaultFs) -> u64 {
    let mut hasher = DefaultHasher::new();
    for dir in [Path::new(DIR).to_path_buf(), Path::new(DIR).join("wal")] {
        let mut names = fs.list(&dir).unwrap_or_default();
        names.sort();
        for name in names {
            name.hash(&mut hasher);
            fs.contents(&dir.join(&name)).unwrap().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Reopens the store on `fs` and checks it against the states a run with `progress` allows;
/// returns the index of the state it is in.
fn check(fs: &FaultFs, states: &[State], progress: Progress, what: &str) -> usize {
    let store = ChainStore::open(DIR, options(fs))
        .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
    let shown = find_state(&store, states, progress, what);
    let state = &states[shown];
    let report = store.verify(&mut |_| {}).unwrap_or_else(|e| panic!("{what}: verify: {e}"));
    assert!(report.is_ok(), "{what}: verify: {:#?}", report.problems);
    assert_eq!(
        report.computed_state_root,
        Some(state.root),
        "{what}: the root of the flat state is not the model's"
    );
    let (number, parent) = state.head.map_or((0, B256::ZERO), |(n, hash)| (n + 1, hash));
    let block = random_block(&mut Rng(number), number, parent, 1 << 20);
    let info = store
        .commit_block(&block)
        .unwrap_or_else(|e| panic!("{what}: committing a block after recovery: {e}"));
    let mut model = state.model.clone();
    apply_to_model(&mut model, &block);
    assert_eq!(
        info.state_root,
        rebuild_state_root(&model).unwrap().root,
        "{what}: the root of a block committed after recovery"
    );
    store.close().unwrap_or_else(|e| panic!("{what}: closing after recovery: {e}"));
    shown
}

/// Which of the states `progress` allows the store is in (by its head and prune markers), with
/// the head's state root checked against the model's.
fn find_state(store: &ChainStore, states: &[State], progress: Progress, what: &str) -> usize {
    let header = store.head().unwrap_or_else(|e| panic!("{what}: reading the head: {e}"));
    let head = header.as_ref().map(|h| (h.number, h.hash));
    let oldest = Prunable::ALL.map(|kind| store.oldest_available(kind).unwrap());
    let allowed = progress.acked..=progress.reach.max(progress.acked);
    let Some(shown) =
        allowed.clone().find(|&i| states[i].head == head && states[i].oldest == oldest)
    else {
        let show = |s: &State| format!("head {:?}, oldest {:?}", s.head, s.oldest);
        panic!(
            "{what}: the store shows head {head:?}, oldest {oldest:?}; allowed: {:?}",
            states[allowed].iter().map(show).collect::<Vec<_>>()
        );
    };
    let state = &states[shown];
    assert_eq!(
        header.map(|h| h.state_root),
        state.head.map(|_| state.root),
        "{what}: the head's state root is not the model's"
    );
    shown
}

fn next_blocks(chain: &mut SynthChain, n: usize) -> Vec<BlockCommit> {
    (0..n).map(|_| chain.next_block()).collect()
}

fn commits(blocks: &[BlockCommit]) -> Vec<Op> {
    blocks.iter().cloned().map(Op::Commit).collect()
}

/// (a) Block commits on a new store: creating it, six blocks (the log moves to new segments).
#[test]
fn power_loss_during_block_commits() {
    let ops = commits(&next_blocks(&mut chain(1), 6));
    Scenario::new("block commits", &[], ops).run();
}

/// (b) An indexer batch of blocks replayed from the log at open and a block committed by this
/// process (after one more block commit).
#[test]
fn power_loss_during_an_indexer_batch() {
    let blocks = next_blocks(&mut chain(2), 8);
    let mut base = commits(&blocks[..4]);
    base.push(Op::Flush);
    base.extend(commits(&blocks[4..7]));
    let ops = vec![Op::Commit(blocks[7].clone()), Op::Flush];
    Scenario::new("indexer batch", &base, ops).run();
}

/// (c) Prune batches of history, receipts and the transaction index (one block per batch), then
/// the indexer batch that moves the deletions into the backend.
#[test]
fn power_loss_during_prune_batches() {
    let mut base = commits(&next_blocks(&mut chain(3), 10));
    base.push(Op::Flush);
    let retention = Retention { history: Some(6), receipts: Some(7), tx_index: Some(8) };
    Scenario::new("prune batches", &base, vec![Op::Prune(retention), Op::Flush]).run();
}

/// (d) An unwind below the receipts' prune point, over blocks indexed and not, then blocks of
/// another fork and an indexer batch.
#[test]
fn power_loss_during_an_unwind() {
    let blocks = next_blocks(&mut chain(4), 11);
    let mut base = commits(&blocks[..10]);
    base.push(Op::Prune(Retention { history: Some(7), receipts: Some(3), tx_index: Some(3) }));
    base.push(Op::Flush);
    let mut ops = vec![Op::Commit(blocks[10].clone()), Op::Unwind(5)];
    ops.extend(commits(&next_blocks(&mut SynthChain::resume(config(40), 6, blocks[5].hash), 2)));
    ops.push(Op::Flush);
    Scenario::new("unwind", &base, ops).run();
}
