//! `chainstore demo`: the main job on a fresh directory. Generates a deterministic synthetic
//! chain, commits it block by block (each durable when it returns), then shows what the store
//! did and answers a few queries, including a Merkle proof it verifies.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use anyhow::{Context as _, bail};
use chainstore_chain::synth::{SynthChain, SynthConfig, transfer_topic};
use chainstore_chain::{ChainStore, LogFilter};
use chainstore_trie::verify_account_proof;

use crate::Global;
use crate::json_out::outln;

/// A file that marks a directory as made by `demo`, so a later demo may delete it.
const MARKER: &str = "DEMO";

/// Options of `chainstore demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Blocks to generate after the genesis block.
    #[arg(long, default_value_t = 400)]
    blocks: u64,
    /// Externally owned accounts (all funded in the genesis block).
    #[arg(long, default_value_t = 20_000)]
    accounts: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 100)]
    txs: u64,
    /// Seed of the synthetic chain.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    if args.accounts == 0 {
        bail!("--accounts must be at least 1");
    }
    let dir = global.data_arg.clone().unwrap_or_else(|| PathBuf::from("./chainstore-demo"));
    prepare(&dir)?;
    let store = global.open_at(&dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by chainstore demo; a later demo may delete this directory\n",
    )?;
    let config = SynthConfig {
        accounts: args.accounts,
        tokens: 20,
        txs_per_block: args.txs,
        seed: args.seed,
    };
    outln!(
        "chainstore demo: {} blocks of {} transactions over {} accounts and {} token contracts",
        args.blocks,
        args.txs,
        args.accounts,
        config.tokens
    );
    outln!(
        "data directory: {}  (backend {}, every commit durable: fdatasync before it returns)\n",
        dir.display(),
        global.backend
    );
    let run = commit_chain(&store, config, args.blocks)?;
    summary(&store, &dir, &run)?;
    queries(&store, &run)?;
    store.close()?;
    Ok(())
}

/// Refuses a directory that holds anything but an earlier demo, which it deletes.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir)?.next().is_none();
    if empty {
        return Ok(());
    }
    if !dir.join(MARKER).exists() {
        bail!(
            "{} exists and was not made by `chainstore demo`; choose another directory with --data DIR",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("cannot remove the previous demo in {}", dir.display()))
}

struct Run {
    commits: Vec<Duration>,
    roots: Vec<Duration>,
    elapsed: Duration,
    state_updates: u64,
    blocks: Vec<chainstore_chain::BlockCommit>,
}

fn commit_chain(store: &ChainStore, config: SynthConfig, blocks: u64) -> anyhow::Result<Run> {
    let mut chain = SynthChain::new(config);
    let genesis = chain.next_block();
    let started = Instant::now();
    store.commit_block(&genesis).context("committing the genesis block")?;
    outln!("genesis: {} accounts funded in {:.2?}", genesis.state.len(), started.elapsed());
    let bar = progress_bar(blocks);
    let mut run = Run {
        commits: Vec::new(),
        roots: Vec::new(),
        elapsed: Duration::ZERO,
        state_updates: 0,
        blocks: Vec::new(),
    };
    let started = Instant::now();
    for _ in 0..blocks {
        let block = chain.next_block();
        let t = Instant::now();
        let info = store
            .commit_block(&block)
            .with_context(|| format!("committing block {}", block.number))?;
        run.commits.push(t.elapsed());
        run.roots.push(info.timings.root);
        run.state_updates += block
            .state
            .iter()
            .map(|(_, c)| 1 + c.as_ref().map_or(0, |c| c.storage.len() as u64))
            .sum::<u64>();
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        run.blocks.push(block);
    }
    run.elapsed = started.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(run)
}

fn progress_bar(blocks: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(blocks);
    let style = indicatif::ProgressStyle::with_template(
        "committing {bar:40} {pos}/{len} blocks, {per_sec}, eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s.get(((s.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

fn summary(store: &ChainStore, dir: &Path, run: &Run) -> anyhow::Result<()> {
    let n = run.commits.len().max(1) as f64;
    let secs = run.elapsed.as_secs_f64().max(1e-9);
    outln!("committed {} blocks in {:.2?}", run.commits.len(), run.elapsed);
    outln!(
        "  throughput        {:>10.0} blocks/s, {:.0} state updates/s (accounts and storage slots written)",
        n / secs,
        run.state_updates as f64 / secs
    );
    outln!(
        "  commit latency    p50 {:>8.2?}   p99 {:>8.2?}   (validate, apply, state root, durable log append)",
        percentile(&run.commits, 0.5),
        percentile(&run.commits, 0.99)
    );
    outln!(
        "  state root        p50 {:>8.2?}   p99 {:>8.2?}   (incremental: only changed paths are rehashed)",
        percentile(&run.roots, 0.5),
        percentile(&run.roots, 0.99)
    );
    store.database().flush()?;
    let stats = store.database().stats();
    outln!(
        "  disk size         {:>10.1} MiB for {:.1} MiB of live rows (redb {:.1} MiB; commit log: {:.1} MiB live in preallocated segments)\n",
        chainstore_bench::dir_bytes(dir)? as f64 / 1048576.0,
        chainstore_bench::live_bytes(store.database())? as f64 / 1048576.0,
        stats.backend_bytes as f64 / 1048576.0,
        stats.wal_bytes as f64 / 1048576.0
    );
    Ok(())
}

fn queries(store: &ChainStore, run: &Run) -> anyhow::Result<()> {
    let head = store.head()?.context("the store has no head")?;
    outln!("sample queries");
    outln!(
        "  head              block {} hash {} stateRoot {}",
        head.number,
        head.hash,
        head.state_root
    );
    let Some(last) = run.blocks.last() else { return Ok(()) };
    let tx = &last.transactions[0];
    let found =
        store.transaction(tx.hash)?.context("the last block's first transaction is missing")?;
    outln!(
        "  tx {}…   block {} index {} from {}",
        &tx.hash.to_string()[..18],
        found.block_number,
        found.index,
        found.transaction.from
    );
    let token = SynthChain::token(0);
    let from = head.number.saturating_sub(9);
    let filter = LogFilter {
        from_block: Some(from),
        addresses: vec![token],
        topics: [vec![transfer_topic()], vec![], vec![], vec![]],
        ..Default::default()
    };
    let logs = store.logs(&filter)?;
    outln!(
        "  logs              {} Transfer logs of token {} in blocks {}..={}",
        logs.len(),
        token,
        from,
        head.number
    );
    let holder = tx.from;
    let account =
        store.account(holder)?.context("the sender of a committed transaction has no account")?;
    outln!("  account {}  nonce {} balance {} wei", holder, account.nonce, account.balance);
    let slot = holder.into_word();
    let balance = store.storage(SynthChain::token(0), slot)?;
    outln!("  storage           token {} slot keccak-keyed by {} = {}", token, holder, balance);
    let proof = store.proof(token, &[slot, B256::repeat_byte(0x42)])?;
    let verified =
        verify_account_proof(head.state_root, &proof).context("the proof does not verify")?;
    let proven = verified.storage.first().map(|s| s.1).unwrap_or(U256::ZERO);
    outln!(
        "  proof             eth_getProof of token {}: {} account nodes, storage proofs of {} and {} nodes; verified against stateRoot: slot = {}, absent slot = {}",
        token,
        proof.account_proof.len(),
        proof.storage_proof[0].proof.len(),
        proof.storage_proof[1].proof.len(),
        proven,
        verified.storage.get(1).map(|s| s.1).unwrap_or_default(),
    );
    let old = head.number / 2;
    let old_root = store.header(old)?.context("a block below the head is missing")?.state_root;
    let then = store.storage_at(token, slot, old)?;
    let old_proof = store.proof_at(token, &[slot], old)?;
    let verified = verify_account_proof(old_root, &old_proof)
        .context("the historical proof does not verify")?;
    outln!(
        "  history           the same slot at block {old} = {then}; eth_getProof at block {old} verified against that block's stateRoot: slot = {}",
        verified.storage.first().map(|s| s.1).unwrap_or_default(),
    );
    let started = Instant::now();
    let report = store.verify(&mut |_| {})?;
    let rows: u64 = report.rows.values().sum();
    let verdict = if report.is_ok() {
        "consistent".to_string()
    } else {
        format!("{} PROBLEMS", report.problems.len())
    };
    outln!(
        "  verify            {verdict}: state root recomputed from {rows} rows, every index and the history checked in {:.2?}",
        started.elapsed()
    );
    outln!(
        "\nquery it yourself: cargo run --release -p chainstore-cli -- --data {} head",
        store.database().path().display()
    );
    Ok(())
}
