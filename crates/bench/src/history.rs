//! `chainstore bench history`: state and proofs as of older blocks.
//!
//! A store is filled with a genesis of `accounts` accounts (a tenth of them contracts with
//! storage) and then `blocks` small blocks, each changing `changes` accounts and one storage slot
//! of each contract it touches. Then, for each distance `d` (1, 1K, 100K blocks back, as far as
//! the chain reaches), `account_at` and `proof_at` (an account with one slot) are timed on the
//! same sampled accounts, against the revert-changesets baseline other clients use
//! (`chainstore_chain::revert`: the changesets of every block above `head - d` read into an
//! overlay, then the read, or the trie recomputed over the overlay for the proof). Both answers
//! are compared. Each system runs the same samples twice: the first pass pays for pages not in
//! the caches (old blocks' changesets are, on a live node, mostly cold), the second measures
//! the lookups; the goals use the second. Space: the logical bytes (keys + values) of the history tables per block,
//! against the raw changesets (the values before each block of accounts and slots).

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_chain::synth::SplitMix64;
use chainstore_chain::{AccountChange, BlockCommit, ChainStore, revert};

use crate::commit_latency::{Result, ratio};
use crate::report::{Goal, Report, Row};
use crate::{BenchError, system};

/// Sizes of one `history` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Accounts in the genesis state.
    pub accounts: u64,
    /// Blocks after genesis.
    pub blocks: u64,
    /// Accounts changed per block.
    pub changes: u64,
    /// Queries per system, kind and distance (the baseline does fewer far back).
    pub samples: usize,
    /// Distances from the head to measure (those the chain reaches).
    pub distances: Vec<u64>,
}

impl HistoryConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 2_000, blocks: 1_100, changes: 8, samples: 10, distances: vec![1, 1_000] }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self {
            accounts: 100_000,
            blocks: 100_100,
            changes: 20,
            samples: 200,
            distances: vec![1, 1_000, 100_000],
        }
    }
}

const CS: &str = "chainstore";
const BASE: &str = "revert changesets";

fn account(i: u64) -> Address {
    Address::from_word(keccak256(format!("history bench account {i}")))
}

/// Contracts (accounts with storage) are every tenth account.
fn is_contract(i: u64) -> bool {
    i.is_multiple_of(10)
}

fn slot(j: u64) -> B256 {
    B256::from(U256::from(j))
}

struct Chain {
    rng: SplitMix64,
    accounts: u64,
    parent: B256,
}

impl Chain {
    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn block(&mut self, number: u64, state: Vec<(Address, Option<AccountChange>)>) -> BlockCommit {
        let hash = keccak256(format!("history bench block {number}"));
        let parent_hash = std::mem::replace(&mut self.parent, hash);
        BlockCommit { number, hash, parent_hash, state, ..Default::default() }
    }

    fn genesis(&mut self) -> BlockCommit {
        let state = (0..self.accounts)
            .map(|i| {
                let mut change = AccountChange {
                    nonce: Some(0),
                    balance: Some(U256::from(1_000_000 + i)),
                    ..Default::default()
                };
                if is_contract(i) {
                    change.code = Some(Bytes::from(vec![0x60, 0x00, (i % 256) as u8]));
                    change.storage = (0..4).map(|j| (slot(j), U256::from(1 + i + j))).collect();
                }
                (account(i), Some(change))
            })
            .collect();
        self.block(0, state)
    }

    fn next(&mut self, number: u64, changes: u64) -> BlockCommit {
        let mut state = Vec::new();
        for _ in 0..changes {
            let i = self.random() % self.accounts;
            let mut change = AccountChange {
                nonce: Some(number),
                balance: Some(U256::from(self.random() % 1_000_000_000)),
                ..Default::default()
            };
            if is_contract(i) {
                change.storage.push((slot(self.random() % 8), U256::from(self.random() % 1000)));
            }
            state.push((account(i), Some(change)));
        }
        self.block(number, state)
    }
}

/// Mean time per call of `f` over `samples`: on a first pass (what was not read lately is not
/// in the caches) and on a second pass over the same samples (cached); with the answers.
fn time_each<T>(
    samples: &[u64],
    mut f: impl FnMut(u64) -> chainstore_chain::Result<T>,
) -> Result<([Duration; 2], Vec<T>)> {
    let mut pass = || -> Result<(Duration, Vec<T>)> {
        let started = Instant::now();
        let out = samples.iter().map(|&i| f(i)).collect::<chainstore_chain::Result<Vec<T>>>()?;
        Ok((started.elapsed() / samples.len().max(1) as u32, out))
    };
    let (first, _) = pass()?;
    let (second, out) = pass()?;
    Ok(([first, second], out))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &HistoryConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let store = ChainStore::open(dir.join("store"), Default::default())?;
    let mut chain = Chain { rng: SplitMix64(7), accounts: config.accounts, parent: B256::ZERO };
    progress(&format!("history: genesis of {} accounts", config.accounts));
    store.commit_block(&chain.genesis())?;
    let started = Instant::now();
    for number in 1..=config.blocks {
        store.commit_block(&chain.next(number, config.changes))?;
        if number.is_multiple_of(10_000) {
            progress(&format!("history: block {number} of {}", config.blocks));
        }
    }
    let mut rows = vec![Row::new(
        CS,
        &format!("{} blocks of {} changes", config.blocks, config.changes),
        "commits/s",
        config.blocks as f64 / started.elapsed().as_secs_f64(),
        "1/s",
    )];
    store.database().flush().map_err(BenchError::from)?;
    let head = config.blocks;
    let mut times: Vec<(u64, [f64; 4])> = Vec::new();
    for &d in config.distances.iter().filter(|&&d| d <= head) {
        let n = head - d;
        let case = format!("{d} blocks back");
        progress(&format!("history: {case}"));
        let samples: Vec<u64> =
            (0..config.samples).map(|_| chain.random() % config.accounts).collect();
        // The baseline reads every changeset above n per query: fewer queries far back.
        let base_samples =
            &samples[..(config.samples / (1 + d as usize / 1_000)).max(2).min(samples.len())];
        let (ours, answers) = time_each(&samples, |i| store.account_at(account(i), n))?;
        let (base, base_answers) =
            time_each(base_samples, |i| revert::account_at(&store, account(i), n))?;
        if base_answers[..] != answers[..base_answers.len()] {
            return Err(BenchError::Check(format!(
                "account_at differs from the baseline at {case}"
            ))
            .into());
        }
        let (proof, proofs) = time_each(&samples, |i| store.proof_at(account(i), &[slot(1)], n))?;
        let (base_proof, base_proofs) =
            time_each(base_samples, |i| revert::proof_at(&store, account(i), &[slot(1)], n))?;
        if base_proofs[..] != proofs[..base_proofs.len()] {
            return Err(
                BenchError::Check(format!("proof_at differs from the baseline at {case}")).into()
            );
        }
        for (system, what, [first, second]) in [
            (CS, "account_at", ours),
            (BASE, "account_at", base),
            (CS, "proof_at", proof),
            (BASE, "proof_at", base_proof),
        ] {
            rows.push(Row::new(system, &case, &format!("{what} 1st pass"), micros(first), "us"));
            rows.push(Row::new(system, &case, &format!("{what} mean"), micros(second), "us"));
        }
        times
            .push((d, [micros(ours[1]), micros(base[1]), micros(proof[1]), micros(base_proof[1])]));
    }
    let size = store.history_size()?;
    let per_block = |b: u64| b as f64 / (head + 1) as f64;
    for (part, bytes) in [
        ("state changesets (raw)", size.state_changesets),
        ("state history index", size.state_index),
        ("trie-node changesets", size.trie_changesets),
        ("trie-node history index", size.trie_index),
        ("all history", size.total()),
    ] {
        rows.push(Row::new(CS, part, "bytes/block", per_block(bytes), "B"));
    }
    store.close()?;
    let goals = goals(&times, &size);
    Ok(Report { scenario: "history".into(), hardware, rows, goals })
}

fn goals(times: &[(u64, [f64; 4])], size: &chainstore_chain::HistorySize) -> Vec<Goal> {
    let mut goals = Vec::new();
    if let (Some((_, near)), Some((far_d, far))) = (times.first(), times.last()) {
        goals.push(Goal::at_most(
            format!("account_at {far_d} back / 1 back <= 2"),
            ratio(far[0], near[0]),
            2.0,
        ));
        goals.push(Goal::at_most(
            format!("proof_at {far_d} back / 1 back <= 2"),
            ratio(far[2], near[2]),
            2.0,
        ));
    }
    if let Some((_, t)) = times.iter().find(|(d, _)| *d == 1_000) {
        goals.push(Goal::at_least(
            "account_at >= 10 x revert baseline at 1K back".into(),
            ratio(t[1], t[0]),
            10.0,
        ));
        goals.push(Goal::at_least(
            "proof_at >= 10 x revert baseline at 1K back".into(),
            ratio(t[3], t[2]),
            10.0,
        ));
    }
    let raw = size.state_changesets as f64;
    goals.push(Goal::at_most(
        "state history (changesets + index) <= 2 x raw changesets".into(),
        ratio((size.state_changesets + size.state_index) as f64, raw),
        2.0,
    ));
    goals.push(Goal::at_most(
        "all history incl. trie nodes <= 2 x raw changesets".into(),
        ratio(size.total() as f64, raw),
        2.0,
    ));
    goals
}
