//! `state-root` scenario: incremental state root vs a full rebuild vs a persistent MPT.
//!
//! For each state size, random accounts are committed once; then each round changes random
//! existing accounts (balance and nonce) and computes the new root three ways on the same data:
//! chainstore-trie's incremental [`state_root`] (plus persisting its node updates), a full
//! rebuild of all leaves with alloy-trie's `HashBuilder`, and the `eth_trie` crate (a
//! persistent MPT holding full nodes by hash in its in-memory database; its time includes the
//! inserts, where it updates its trie, and `root_hash`, where it hashes and stores nodes). The
//! systems run one after the other, each alone in memory, and must agree on every root. Every
//! store is in memory, so the numbers compare algorithms, not disks.

use alloy_primitives::{B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};
use chainstore_chain::synth::SplitMix64;
use chainstore_trie::{Account, MemoryState, MemoryTrieNodes, TrieError, state_root};
use cpu_time::ThreadTime;
use eth_trie::{EthTrie, MemoryDB, Trie};
use serde::Serialize;

use crate::{Goal, Row};
use std::{sync::Arc, time::Instant};

/// Sizes of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRootConfig {
    /// State sizes (accounts), smallest first.
    pub accounts: Vec<usize>,
    /// Changed accounts per root.
    pub changes: Vec<usize>,
    /// Roots measured per (size, changes) case; the median is reported.
    pub rounds: usize,
    /// Seed of the deterministic data.
    pub seed: u64,
}

impl StateRootConfig {
    /// CI size: seconds.
    pub fn ci() -> Self {
        Self { accounts: vec![1_000, 10_000], changes: vec![100, 1_000], rounds: 3, seed: 1 }
    }

    /// The documented run: 100K and 1M accounts, 1K and 10K changes.
    pub fn standard() -> Self {
        Self {
            accounts: vec![100_000, 1_000_000],
            changes: vec![1_000, 10_000],
            rounds: 5,
            seed: 1,
        }
    }

    /// [`standard`](Self::standard) plus 10M accounts (needs several GiB of memory).
    pub fn large() -> Self {
        Self { accounts: vec![100_000, 1_000_000, 10_000_000], ..Self::standard() }
    }
}

/// Rows and goals of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateRootReport {
    /// All measurements.
    pub rows: Vec<Row>,
    /// Goals computed from the rows.
    pub goals: Vec<Goal>,
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateRootBenchError {
    /// The trie failed.
    #[error(transparent)]
    Trie(#[from] TrieError),
    /// eth_trie failed.
    #[error("eth_trie: {0}")]
    EthTrie(String),
    /// Two systems computed different roots for the same data.
    #[error("{system} computed root {got} but chainstore-trie computed {expected} ({case})")]
    RootMismatch {
        /// The disagreeing system.
        system: &'static str,
        /// The case.
        case: String,
        /// Its root.
        got: B256,
        /// chainstore-trie's root.
        expected: B256,
    },
}

/// Seconds of one measurement: wall clock, and CPU time of the measuring thread (which a
/// shared machine disturbs much less).
#[derive(Debug, Clone, Copy, Default)]
struct Time {
    wall: f64,
    cpu: f64,
}

impl Time {
    fn measure<T>(f: impl FnOnce() -> T) -> (T, Self) {
        let (wall, cpu) = (Instant::now(), ThreadTime::now());
        let value = f();
        (value, Self { wall: wall.elapsed().as_secs_f64(), cpu: cpu.elapsed().as_secs_f64() })
    }

    fn plus(self, other: Self) -> Self {
        Self { wall: self.wall + other.wall, cpu: self.cpu + other.cpu }
    }

    fn median(times: &[Self]) -> Self {
        Self {
            wall: median(times.iter().map(|t| t.wall).collect()),
            cpu: median(times.iter().map(|t| t.cpu).collect()),
        }
    }
}

/// Medians of one (size, changes) case, per root.
#[derive(Debug, Clone, Copy)]
struct CaseTimes {
    accounts: usize,
    changes: usize,
    incremental: Time,
    rebuild: Time,
    eth_trie: Time,
}

/// Runs the scenario. `progress` is called with a line before each phase.
///
/// Each system runs alone (the others' memory freed), on the same deterministic data, and
/// every root it computes must equal chainstore-trie's.
pub fn run_state_root(
    config: &StateRootConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<StateRootReport, StateRootBenchError> {
    let mut report = StateRootReport::default();
    let mut times = Vec::new();
    for &accounts in &config.accounts {
        progress(&format!("state-root: chainstore-trie, {accounts} accounts"));
        let mut ours = Incremental::default();
        let (incremental, roots) = drive(&mut ours, accounts, config)?;
        report.rows.extend(space_rows(accounts, &ours.nodes));
        drop(ours);
        progress(&format!("state-root: full rebuild, {accounts} accounts"));
        let (rebuild, rebuild_roots) = drive(&mut Rebuild::default(), accounts, config)?;
        same_roots("full-rebuild", accounts, &roots, &rebuild_roots)?;
        progress(&format!("state-root: eth_trie, {accounts} accounts"));
        let (eth, eth_roots) = drive(&mut EthTrieSystem::new(), accounts, config)?;
        same_roots("eth_trie", accounts, &roots, &eth_roots)?;
        for (i, &changes) in config.changes.iter().enumerate() {
            let (incremental, rebuild, eth_trie) = (incremental[i], rebuild[i], eth[i]);
            times.push(CaseTimes { accounts, changes, incremental, rebuild, eth_trie });
        }
    }
    times.iter().for_each(|t| push_rows(&mut report.rows, t));
    report.goals = goals(&times);
    Ok(report)
}

fn same_roots(
    system: &'static str,
    accounts: usize,
    expected: &[B256],
    got: &[B256],
) -> Result<(), StateRootBenchError> {
    let mismatch = expected.iter().zip(got).position(|(e, g)| e != g);
    match mismatch {
        None if expected.len() == got.len() => Ok(()),
        _ => {
            let i = mismatch.unwrap_or(0);
            Err(StateRootBenchError::RootMismatch {
                system,
                case: format!("{accounts} accounts, root #{i}"),
                got: got.get(i).copied().unwrap_or_default(),
                expected: expected.get(i).copied().unwrap_or_default(),
            })
        }
    }
}

fn space_rows(accounts: usize, nodes: &MemoryTrieNodes) -> Vec<Row> {
    let case = format!("{accounts} accounts");
    let row = |metric: &str, value: f64, unit: &str| {
        Row::new("chainstore-trie", &case, metric, value, unit)
    };
    let per_account = nodes.encoded_size() as f64 / accounts as f64;
    vec![
        row("stored_nodes", nodes.len() as f64, "nodes"),
        row("stored_node_bytes_per_account", per_account, "bytes"),
    ]
}

/// One system under test.
trait System {
    /// Whether `set` does trie work that belongs in the time of a root (eth_trie updates its
    /// trie on insert; the others only write the flat state, which a node writes anyway).
    const TIMED_SET: bool;
    fn set(&mut self, key: B256, account: Account) -> Result<(), StateRootBenchError>;
    fn commit(&mut self) -> Result<B256, StateRootBenchError>;
}

/// Builds the state, then for each change count runs `rounds` roots; returns the median time
/// per root for each change count and every root computed.
fn drive<S: System>(
    system: &mut S,
    accounts: usize,
    config: &StateRootConfig,
) -> Result<(Vec<Time>, Vec<B256>), StateRootBenchError> {
    let mut data = Workload::new(config.seed, accounts);
    for i in 0..accounts {
        let account = data.account();
        system.set(data.keys[i], account)?;
    }
    let mut roots = vec![system.commit()?];
    let mut medians = Vec::new();
    for &changes in &config.changes {
        let mut times = Vec::new();
        for _ in 0..config.rounds.max(1) {
            let batch: Vec<(B256, Account)> = (0..changes).map(|_| data.change()).collect();
            let (set, set_time) =
                Time::measure(|| batch.into_iter().try_for_each(|(k, a)| system.set(k, a)));
            set?;
            let (root, commit_time) = Time::measure(|| system.commit());
            roots.push(root?);
            times.push(if S::TIMED_SET { set_time.plus(commit_time) } else { commit_time });
        }
        medians.push(Time::median(&times));
    }
    Ok((medians, roots))
}

/// The deterministic data: random hashed keys, random accounts, random changes.
struct Workload {
    rng: SplitMix,
    keys: Vec<B256>,
}

impl Workload {
    fn new(seed: u64, accounts: usize) -> Self {
        let mut rng = SplitMix(SplitMix64(seed));
        Self { keys: (0..accounts).map(|_| rng.b256()).collect(), rng }
    }

    fn account(&mut self) -> Account {
        let balance = U256::from(self.rng.next() >> 1);
        Account { nonce: self.rng.next() % 1000, balance, ..Account::default() }
    }

    fn change(&mut self) -> (B256, Account) {
        let key = self.keys[(self.rng.next() % self.keys.len() as u64) as usize];
        (key, self.account())
    }
}

/// chainstore-trie: incremental root, node updates persisted in memory.
#[derive(Default)]
struct Incremental {
    state: MemoryState,
    nodes: MemoryTrieNodes,
}

impl System for Incremental {
    const TIMED_SET: bool = false;

    fn set(&mut self, key: B256, account: Account) -> Result<(), StateRootBenchError> {
        self.state.set_hashed_account(key, account);
        Ok(())
    }

    fn commit(&mut self) -> Result<B256, StateRootBenchError> {
        let changes = self.state.take_changes();
        let out = state_root(&self.nodes, &self.state, &changes)?;
        self.nodes.apply(&out.updates);
        Ok(out.root)
    }
}

/// Full rebuild of every leaf with alloy-trie's `HashBuilder`.
#[derive(Default)]
struct Rebuild {
    state: MemoryState,
}

impl System for Rebuild {
    const TIMED_SET: bool = false;

    fn set(&mut self, key: B256, account: Account) -> Result<(), StateRootBenchError> {
        self.state.set_hashed_account(key, account);
        Ok(())
    }

    fn commit(&mut self) -> Result<B256, StateRootBenchError> {
        self.state.take_changes();
        Ok(rebuild_root(&self.state))
    }
}

/// eth_trie: a persistent MPT (full nodes by hash) over its in-memory database.
struct EthTrieSystem {
    trie: EthTrie<MemoryDB>,
}

impl EthTrieSystem {
    fn new() -> Self {
        Self { trie: EthTrie::new(Arc::new(MemoryDB::new(true))) }
    }
}

impl System for EthTrieSystem {
    const TIMED_SET: bool = true;

    fn set(&mut self, key: B256, account: Account) -> Result<(), StateRootBenchError> {
        let leaf = alloy_rlp::encode(account.to_trie_account(EMPTY_ROOT_HASH));
        self.trie
            .insert(key.as_slice(), &leaf)
            .map_err(|e| StateRootBenchError::EthTrie(e.to_string()))
    }

    fn commit(&mut self) -> Result<B256, StateRootBenchError> {
        let root =
            self.trie.root_hash().map_err(|e| StateRootBenchError::EthTrie(e.to_string()))?;
        Ok(B256::from(root.0))
    }
}

/// The state root by a full rebuild: every account leaf through one `HashBuilder`.
fn rebuild_root(state: &MemoryState) -> B256 {
    let mut builder = HashBuilder::default();
    let mut buf = Vec::with_capacity(128);
    for (key, account) in state.hashed_accounts() {
        buf.clear();
        account.to_trie_account(EMPTY_ROOT_HASH).encode(&mut buf);
        builder.add_leaf(Nibbles::unpack(key), &buf);
    }
    builder.root()
}

fn push_rows(rows: &mut Vec<Row>, t: &CaseTimes) {
    let case = format!("{} accounts, {} changes", t.accounts, t.changes);
    for (system, time) in
        [("chainstore-trie", t.incremental), ("full-rebuild", t.rebuild), ("eth_trie", t.eth_trie)]
    {
        let row =
            |metric: &str, value: f64, unit: &str| Row::new(system, &case, metric, value, unit);
        rows.push(row("ms_per_root", time.wall * 1e3, "ms"));
        rows.push(row("cpu_ms_per_root", time.cpu * 1e3, "ms"));
        rows.push(row("updates_per_s", t.changes as f64 / time.wall, "updates/s"));
    }
}

/// Goals: growth between consecutive state sizes, and the ratios to eth_trie and to a full
/// rebuild at every size of 1M accounts or more (at the largest size if none is that big).
/// Computed from CPU time, which another process on the machine disturbs much less than the
/// wall clock.
fn goals(times: &[CaseTimes]) -> Vec<Goal> {
    let mut sizes: Vec<usize> = times.iter().map(|t| t.accounts).collect();
    sizes.dedup();
    let at = |accounts: usize| times.iter().filter(move |t| t.accounts == accounts);
    let mut goals = Vec::new();
    for pair in sizes.windows(2) {
        for (small, large) in at(pair[0]).zip(at(pair[1])) {
            goals.push(growth_goal(small, large));
        }
    }
    let largest = sizes.last().copied().unwrap_or_default();
    let min_changes = times.iter().map(|t| t.changes).min().unwrap_or_default();
    for t in times.iter().filter(|t| t.accounts >= 1_000_000.min(largest)) {
        let case = format!("{} accounts, {} changes", t.accounts, t.changes);
        goals.push(ratio_goal(
            format!("updates per CPU second vs eth_trie, {case}"),
            t.eth_trie,
            t,
            3.0,
        ));
        if t.changes == min_changes {
            goals.push(ratio_goal(
                format!("CPU speed-up vs full rebuild, {case}"),
                t.rebuild,
                t,
                10.0,
            ));
        }
    }
    goals
}

fn growth_goal(small: &CaseTimes, large: &CaseTimes) -> Goal {
    let measured = large.incremental.cpu / small.incremental.cpu;
    Goal {
        goal: format!(
            "incremental CPU time per change, {} ÷ {} accounts ({} changes) (≤ 1.5)",
            large.accounts, small.accounts, large.changes
        ),
        measured,
        target: 1.5,
        met: measured <= 1.5,
    }
}

fn ratio_goal(goal: String, baseline: Time, t: &CaseTimes, target: f64) -> Goal {
    let measured = baseline.cpu / t.incremental.cpu;
    Goal { goal: format!("{goal} (≥ {target})"), measured, target, met: measured >= target }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The benchmark's deterministic data: the same seed gives the same data.
struct SplitMix(SplitMix64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn b256(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        B256::from(bytes)
    }
}

/// Runs the scenario and returns it as a [`crate::Report`], with the hardware line measured in
/// `dir` (the trie benchmark itself runs in memory).
pub fn report(
    config: &StateRootConfig,
    dir: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<crate::Report, crate::BenchError> {
    let hardware = crate::system::hardware(dir, 20, "n/a (in memory)")?;
    let StateRootReport { rows, goals } = run_state_root(config, progress)?;
    Ok(crate::Report { scenario: "state-root".into(), hardware, rows, goals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_run_agrees_on_roots_and_reports_goals() {
        let config = StateRootConfig {
            accounts: vec![200, 2_000],
            changes: vec![10, 50],
            rounds: 1,
            seed: 7,
        };
        let report = run_state_root(&config, &mut |_| {}).unwrap();
        assert_eq!(report.rows.len(), 2 * 2 * 3 * 3 + 2 * 2);
        assert!(report.rows.iter().all(|row| row.value.is_finite() && row.value > 0.0));
        // Per large-size case: log growth + eth_trie; plus one rebuild goal.
        assert_eq!(report.goals.len(), 2 + 2 + 1);
    }

    /// The documented run (`docs/benchmarks.md`); `STATE_ROOT_LARGE=1` adds 10M accounts:
    /// `cargo test --release -p chainstore-bench state_root_standard -- --ignored --nocapture`
    #[test]
    #[ignore = "minutes of work; run by hand in release mode"]
    fn state_root_standard() {
        let large = std::env::var_os("STATE_ROOT_LARGE").is_some();
        let config = if large { StateRootConfig::large() } else { StateRootConfig::standard() };
        let report = run_state_root(&config, &mut |line| eprintln!("{line}")).unwrap();
        for row in &report.rows {
            println!(
                "{:<16} {:<32} {:<14} {:>14.2} {}",
                row.system, row.case, row.metric, row.value, row.unit
            );
        }
        for goal in &report.goals {
            println!(
                "{} = {:.2} (target {}) met: {}",
                goal.goal, goal.measured, goal.target, goal.met
            );
        }
        println!("{}", serde_json::to_string(&report).unwrap());
    }
}
