//! `chainstore bench reads`: account and storage point reads through `ChainStore::account` and
//! `ChainStore::storage` (each call takes its own snapshot), hot (a repeated set of 1,000 keys) and
//! cold (random over the whole state), against raw redb gets of the same rows; and proofs/s
//! through `ChainStore::proof`.
//!
//! The state is grown through `commit_block` (untimed) and flushed into the backend, as a running
//! node's state mostly is; then the store's redb file is copied and opened with redb directly. Raw
//! reads use one read transaction and open tables for every get (the cheapest redb read) and
//! fetch the same rows: `hashed_accounts` and `storage_roots` for an account, `hashed_storage` for
//! a slot, copying the value out as the store does. A third system, `engine snapshot`, reads the
//! same rows through one reused engine `ReadTxn`, to separate the cost of a snapshot from the
//! cost of a lookup. The systems take turns in rounds on the same keys; the page cache is warm.
//! Historical reads (`account_at`) are a later issue and not measured.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, keccak256};
use chainstore_chain::ChainStore;
use chainstore_chain::synth::SynthChain;
use redb::ReadableDatabase;

use crate::commit_latency::{
    CaptureFs, ChainBenchError, RawRedb, Result, TOKENS, Workload, open_store, ratio,
};
use crate::report::{Goal, Report, Row};
use crate::system;

/// Sizes of one `reads` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadsConfig {
    /// Accounts in the state.
    pub accounts: u64,
    /// Hot reads per system and kind (account, storage).
    pub hot_reads: usize,
    /// Cold reads per system and kind.
    pub cold_reads: usize,
    /// Proofs per kind (account, account + one slot).
    pub proofs: usize,
}

impl ReadsConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 2_000, hot_reads: 20_000, cold_reads: 5_000, proofs: 100 }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self { accounts: 1_000_000, hot_reads: 400_000, cold_reads: 100_000, proofs: 2_000 }
    }
}

const HOT_SET: usize = 1_000;
const ROUNDS: usize = 4;
const CS: &str = "chainstore";
const SNAP: &str = "engine snapshot";
const RAW: &str = "raw redb get";

/// The keys of one read case: an address and, for storage, a slot.
type Keys = Vec<(Address, B256)>;

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &ReadsConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let capture = CaptureFs::default();
    let store = open_store(&dir.join("store"), &capture)?;
    let mut work = Workload::new(3);
    progress(&format!("reads: growing the state to {} accounts", config.accounts));
    work.grow_to(&store, &capture, config.accounts)?;
    let raw = RawRedb::copy_of(&store, &dir.join("raw.redb"))?;
    let cases = key_sets(&mut work, config);
    progress("reads: point reads");
    let mut rows = Vec::new();
    let mut goals = Vec::new();
    for (case, storage, keys) in &cases {
        let t = time_reads(&store, &raw, *storage, keys)?;
        let n = (keys.len() * ROUNDS) as f64;
        for (system, d) in [(CS, t[0]), (SNAP, t[1]), (RAW, t[2])] {
            rows.push(Row::new(system, case, "reads/s", n / d.as_secs_f64(), "1/s"));
            rows.push(Row::new(system, case, "per read", d.as_secs_f64() * 1e9 / n, "ns"));
        }
        if *case == "account hot" {
            let rate = n / t[0].as_secs_f64();
            goals.push(Goal::at_least("hot account reads/s (millions)".into(), rate / 1e6, 1.0));
        }
        goals.push(Goal::at_most(
            format!("{case}: time ÷ raw redb"),
            ratio(t[0].as_secs_f64(), t[2].as_secs_f64()),
            1.3,
        ));
    }
    progress("reads: proofs");
    for (case, with_slot) in [("account proof", false), ("account+slot proof", true)] {
        let keys = proof_keys(&mut work, config.proofs, with_slot);
        let started = Instant::now();
        for (address, slot) in &keys {
            let slots: &[B256] = if with_slot { std::slice::from_ref(slot) } else { &[] };
            std::hint::black_box(store.proof(*address, slots)?);
        }
        let rate = keys.len() as f64 / started.elapsed().as_secs_f64();
        rows.push(Row::new(CS, case, "proofs/s", rate, "1/s"));
    }
    drop(raw);
    store.close()?;
    Ok(Report { scenario: "reads".into(), hardware, rows, goals })
}

/// The four point-read cases: (name, is storage, keys of one round).
fn key_sets(work: &mut Workload, config: &ReadsConfig) -> Vec<(&'static str, bool, Keys)> {
    let accounts = work.accounts;
    let slots = work.slots.max(1);
    let hot_accounts: Vec<u64> = (0..HOT_SET).map(|_| work.below(accounts)).collect();
    let hot_slots: Vec<u64> = (0..HOT_SET).map(|_| work.below(slots.min(HOT_SET as u64))).collect();
    let per_round = |n: usize| n.div_ceil(ROUNDS);
    let slot_key = |j: u64| (SynthChain::token(j % TOKENS), Workload::slot(j));
    let account_key = |i: u64| (SynthChain::account(i), B256::ZERO);
    let hot_a = (0..per_round(config.hot_reads)).map(|i| account_key(hot_accounts[i % HOT_SET]));
    let hot_s = (0..per_round(config.hot_reads)).map(|i| slot_key(hot_slots[i % HOT_SET]));
    let hot_a: Keys = hot_a.collect();
    let hot_s: Keys = hot_s.collect();
    let cold_a: Keys =
        (0..per_round(config.cold_reads)).map(|_| account_key(work.below(accounts))).collect();
    let cold_s: Keys =
        (0..per_round(config.cold_reads)).map(|_| slot_key(work.below(slots))).collect();
    vec![
        ("account hot", false, hot_a),
        ("account cold", false, cold_a),
        ("storage hot", true, hot_s),
        ("storage cold", true, cold_s),
    ]
}

fn proof_keys(work: &mut Workload, n: usize, with_slot: bool) -> Keys {
    (0..n)
        .map(|_| {
            if with_slot {
                let j = work.below(work.slots.max(1));
                (SynthChain::token(j % TOKENS), Workload::slot(j))
            } else {
                (SynthChain::account(work.below(work.accounts)), B256::ZERO)
            }
        })
        .collect()
}

/// Total time of [`ROUNDS`] passes over `keys` for chainstore, the engine snapshot and raw redb,
/// taking turns, after one untimed pass of each (warm-up).
fn time_reads(
    store: &ChainStore,
    raw: &RawRedb,
    storage: bool,
    keys: &Keys,
) -> Result<[Duration; 3]> {
    let redb_err = |e: &dyn std::fmt::Display| ChainBenchError::Redb(e.to_string());
    let raw_txn = raw.db.begin_read().map_err(|e| redb_err(&e))?;
    let table = |name: &str| {
        raw_txn
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new(name))
            .map_err(|e| redb_err(&e))
    };
    let (accounts, roots, slots) =
        (table("hashed_accounts")?, table("storage_roots")?, table("hashed_storage")?);
    let snapshot = store.snapshot();
    let mut total = [Duration::ZERO; 3];
    for round in 0..=ROUNDS {
        if round == 1 {
            total = [Duration::ZERO; 3];
        }
        let started = Instant::now();
        for (address, slot) in keys {
            if storage {
                std::hint::black_box(store.storage(*address, *slot)?);
            } else {
                std::hint::black_box(store.account(*address)?);
            }
        }
        total[0] += started.elapsed();
        let started = Instant::now();
        for (address, slot) in keys {
            let engine =
                |t: &str, k: &[u8]| snapshot.get(t, k).map_err(chainstore_chain::ChainError::from);
            let hashed = keccak256(address);
            if storage {
                let k = [hashed.as_slice(), keccak256(slot).as_slice()].concat();
                std::hint::black_box(engine("hashed_storage", &k)?);
            } else {
                std::hint::black_box(engine("hashed_accounts", hashed.as_slice())?);
                std::hint::black_box(engine("storage_roots", hashed.as_slice())?);
            }
        }
        total[1] += started.elapsed();
        let started = Instant::now();
        for (address, slot) in keys {
            let get = |t: &redb::ReadOnlyTable<&[u8], &[u8]>, k: &[u8]| {
                t.get(k).map(|v| v.map(|v| v.value().to_vec())).map_err(|e| redb_err(&e))
            };
            let hashed = keccak256(address);
            if storage {
                let k = [hashed.as_slice(), keccak256(slot).as_slice()].concat();
                std::hint::black_box(get(&slots, &k)?);
            } else {
                std::hint::black_box(get(&accounts, hashed.as_slice())?);
                std::hint::black_box(get(&roots, hashed.as_slice())?);
            }
        }
        total[2] += started.elapsed();
    }
    Ok(total)
}
