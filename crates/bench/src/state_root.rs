//! `state-root` scenario: incremental state root vs a full rebuild vs a persistent MPT.
//!
//! For each state size, random accounts are committed once; then each round changes random
//! existing accounts (balance and nonce) and computes the new root three ways on the same data:
//! chainstore-trie's incremental [`state_root`] (and persisting its node updates), a full
//! rebuild of all leaves with alloy-trie's `HashBuilder`, and the `eth_trie` crate (a
//! persistent MPT holding full nodes by hash in its in-memory database). All three must agree
//! on every root. Every store is in memory, so the numbers compare algorithms, not disks.

use alloy_primitives::{B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};
use chainstore_trie::{Account, MemoryState, MemoryTrieNodes, TrieError, state_root};
use eth_trie::{EthTrie, MemoryDB, Trie};
use serde::Serialize;
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
            rounds: 3,
            seed: 1,
        }
    }

    /// [`standard`](Self::standard) plus 10M accounts (needs several GiB of memory).
    pub fn large() -> Self {
        Self { accounts: vec![100_000, 1_000_000, 10_000_000], ..Self::standard() }
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `chainstore-trie`, `full-rebuild` or `eth_trie`.
    pub system: String,
    /// For example `1000000 accounts, 1000 changes`.
    pub case: String,
    /// `ms_per_root` or `updates_per_s`.
    pub metric: String,
    /// The measured value.
    pub value: f64,
    /// Unit of `value`.
    pub unit: String,
}

/// One goal, computed from rows of the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    /// What the goal says.
    pub goal: String,
    /// The measured ratio.
    pub measured: f64,
    /// The target the ratio is compared with.
    pub target: String,
    /// Whether the goal is met.
    pub met: bool,
}

/// Rows and goals of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// Medians of one (size, changes) case, in seconds per root.
#[derive(Debug, Clone, Copy)]
struct CaseTimes {
    accounts: usize,
    changes: usize,
    incremental: f64,
    rebuild: f64,
    eth_trie: f64,
}

/// Runs the scenario. `progress` is called with a line before each phase.
pub fn run_state_root(
    config: &StateRootConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<StateRootReport, StateRootBenchError> {
    let mut times = Vec::new();
    for &accounts in &config.accounts {
        progress(&format!("state-root: building {accounts} accounts"));
        let mut world = World::new(accounts, config.seed)?;
        for &changes in &config.changes {
            progress(&format!("state-root: {accounts} accounts, {changes} changes"));
            times.push(world.measure(changes, config.rounds)?);
        }
    }
    let mut report = StateRootReport::default();
    times.iter().for_each(|t| push_rows(&mut report.rows, t));
    report.goals = goals(&times);
    Ok(report)
}

/// The same state in the three systems.
struct World {
    rng: SplitMix,
    keys: Vec<B256>,
    state: MemoryState,
    nodes: MemoryTrieNodes,
    eth: EthTrie<MemoryDB>,
}

impl World {
    fn new(accounts: usize, seed: u64) -> Result<Self, StateRootBenchError> {
        let mut rng = SplitMix(seed);
        let db = Arc::new(MemoryDB::new(true));
        let mut world = Self {
            keys: (0..accounts).map(|_| rng.b256()).collect(),
            rng,
            state: MemoryState::new(),
            nodes: MemoryTrieNodes::new(),
            eth: EthTrie::new(db),
        };
        for i in 0..accounts {
            let account = world.random_account();
            world.set(world.keys[i], account)?;
        }
        world.commit("initial state")?;
        Ok(world)
    }

    fn random_account(&mut self) -> Account {
        let balance = U256::from(self.rng.next() >> 1);
        Account { nonce: self.rng.next() % 1000, balance, ..Account::default() }
    }

    fn set(&mut self, key: B256, account: Account) -> Result<(), StateRootBenchError> {
        self.state.set_hashed_account(key, account);
        let leaf = alloy_rlp::encode(account.to_trie_account(EMPTY_ROOT_HASH));
        self.eth
            .insert(key.as_slice(), &leaf)
            .map_err(|e| StateRootBenchError::EthTrie(e.to_string()))
    }

    /// Commits pending changes in all three systems; returns their times in seconds.
    fn commit(&mut self, case: &str) -> Result<(f64, f64, f64), StateRootBenchError> {
        let start = Instant::now();
        let changes = self.state.take_changes();
        let out = state_root(&self.nodes, &self.state, &changes)?;
        self.nodes.apply(&out.updates);
        let incremental = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let rebuilt = rebuild_root(&self.state);
        let rebuild = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let eth_root =
            self.eth.root_hash().map_err(|e| StateRootBenchError::EthTrie(e.to_string()))?;
        let eth = start.elapsed().as_secs_f64();
        for (system, got) in [("full-rebuild", rebuilt), ("eth_trie", B256::from(eth_root.0))] {
            if got != out.root {
                let case = case.to_string();
                return Err(StateRootBenchError::RootMismatch {
                    system,
                    case,
                    got,
                    expected: out.root,
                });
            }
        }
        Ok((incremental, rebuild, eth))
    }

    fn measure(&mut self, changes: usize, rounds: usize) -> Result<CaseTimes, StateRootBenchError> {
        let case = format!("{} accounts, {changes} changes", self.keys.len());
        let (mut inc, mut reb, mut eth) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            for _ in 0..changes {
                let key = self.keys[(self.rng.next() % self.keys.len() as u64) as usize];
                let account = self.random_account();
                self.set(key, account)?;
            }
            let (i, r, e) = self.commit(&case)?;
            inc.push(i);
            reb.push(r);
            eth.push(e);
        }
        Ok(CaseTimes {
            accounts: self.keys.len(),
            changes,
            incremental: median(inc),
            rebuild: median(reb),
            eth_trie: median(eth),
        })
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
    for (system, seconds) in
        [("chainstore-trie", t.incremental), ("full-rebuild", t.rebuild), ("eth_trie", t.eth_trie)]
    {
        let row = |metric: &str, value: f64, unit: &str| Row {
            system: system.into(),
            case: case.clone(),
            metric: metric.into(),
            value,
            unit: unit.into(),
        };
        rows.push(row("ms_per_root", seconds * 1e3, "ms"));
        rows.push(row("updates_per_s", t.changes as f64 / seconds, "updates/s"));
    }
}

fn goals(times: &[CaseTimes]) -> Vec<Goal> {
    let mut goals = Vec::new();
    let (Some(small), Some(large)) =
        (times.iter().map(|t| t.accounts).min(), times.iter().map(|t| t.accounts).max())
    else {
        return goals;
    };
    let at = |accounts: usize, changes: usize| {
        times.iter().find(|t| t.accounts == accounts && t.changes == changes)
    };
    let min_changes = times.iter().map(|t| t.changes).min().unwrap_or_default();
    for t in times.iter().filter(|t| t.accounts == large) {
        if let Some(s) = at(small, t.changes).filter(|_| small != large) {
            let measured = t.incremental / s.incremental;
            goals.push(Goal {
                goal: format!(
                    "incremental cost per change, {large} ÷ {small} accounts ({} changes)",
                    t.changes
                ),
                measured,
                target: "≤ 1.5".into(),
                met: measured <= 1.5,
            });
        }
        let measured = t.eth_trie / t.incremental;
        goals.push(Goal {
            goal: format!("updates/s vs eth_trie, {large} accounts, {} changes", t.changes),
            measured,
            target: "≥ 3".into(),
            met: measured >= 3.0,
        });
        if t.changes == min_changes {
            let measured = t.rebuild / t.incremental;
            goals.push(Goal {
                goal: format!("speed-up vs full rebuild, {large} accounts, {} changes", t.changes),
                measured,
                target: "≥ 10".into(),
                met: measured >= 10.0,
            });
        }
    }
    goals
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A small deterministic generator (SplitMix64): the same seed gives the same data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn b256(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        B256::from(bytes)
    }
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
        assert_eq!(report.rows.len(), 2 * 2 * 3 * 2);
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
