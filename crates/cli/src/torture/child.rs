//! The child of `chainstore torture`: opens the store and runs a pseudo-random sequence of
//! operations on it until it is killed, printing an [`Event`] line before and after each one.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use chainstore_chain::synth::{SplitMix64, SynthChain, SynthConfig};
use chainstore_chain::{ChainStore, Prunable, Retention};

use super::event::{Event, Op};
use crate::Global;

/// Storage writes of a large block: a write set of about 1.5 MiB (`docs/reliability.md`).
const LARGE_BLOCK_SLOTS: u64 = 4096;

/// The synthetic chain's shape; the seed varies.
fn config(seed: u64) -> SynthConfig {
    SynthConfig { accounts: 1_000, tokens: 8, txs_per_block: 8, seed }
}

/// Runs operations chosen by `seed` on the store in `dir` until killed (or an error).
pub(super) fn run(global: &Global, dir: &Path, seed: u64) -> anyhow::Result<()> {
    let store = global.open_at(dir)?;
    let mut child = Child { store, rng: SplitMix64(seed), out: std::io::stdout().lock() };
    child.emit(Event::Opened)?;
    let mut chain = child.resume()?;
    loop {
        match child.rng.below(100) {
            0..70 => child.commit(&mut chain, false)?,
            70..82 => child.commit(&mut chain, true)?,
            82..90 => {
                if child.unwind()? {
                    chain = child.resume()?;
                }
            }
            90..96 => child.prune()?,
            _ => child.compact()?,
        }
    }
}

struct Child {
    store: ChainStore,
    rng: SplitMix64,
    out: std::io::StdoutLock<'static>,
}

impl Child {
    /// Prints one event line and flushes it (a closed stdout ends the child).
    fn emit(&mut self, event: Event) -> anyhow::Result<()> {
        writeln!(self.out, "{event}").and_then(|()| self.out.flush()).context("stdout is closed")
    }

    /// A synthetic chain that continues from the head, with new hashes.
    fn resume(&mut self) -> anyhow::Result<SynthChain> {
        let head = self.store.head()?;
        let (next, parent) = head.map_or((0, Default::default()), |h| (h.number + 1, h.hash));
        Ok(SynthChain::resume(config(self.rng.next_u64()), next, parent))
    }

    fn commit(&mut self, chain: &mut SynthChain, large: bool) -> anyhow::Result<()> {
        let block =
            if large { chain.next_large_block(LARGE_BLOCK_SLOTS) } else { chain.next_block() };
        self.emit(Event::Begin(Op::Block { number: block.number, hash: block.hash, large }))?;
        let info = self
            .store
            .commit_block(&block)
            .with_context(|| format!("committing block {}", block.number))?;
        self.emit(Event::Committed { number: info.number, hash: info.hash, root: info.state_root })
    }

    /// Unwinds one to four blocks (not below the retained history); false if it cannot.
    fn unwind(&mut self) -> anyhow::Result<bool> {
        let Some(head) = self.store.head()? else { return Ok(false) };
        let oldest = self.store.oldest_available(Prunable::History)?;
        let to = head.number.saturating_sub(1 + self.rng.below(4)).max(oldest);
        if to >= head.number {
            return Ok(false);
        }
        self.emit(Event::Begin(Op::Unwind { to }))?;
        self.store.unwind_to(to).with_context(|| format!("unwinding to block {to}"))?;
        self.emit(Event::Unwound { to })?;
        Ok(true)
    }

    /// Prunes with a small keep, in small batches. Receipts and the transaction index keep at
    /// least as many blocks as the state history, so an unwind (never below the history) never
    /// goes below them.
    fn prune(&mut self) -> anyhow::Result<()> {
        let keep = 2 + self.rng.below(8);
        let retention = Retention {
            history: Some(keep),
            receipts: Some(keep + self.rng.below(8)),
            tx_index: Some(keep + self.rng.below(8)),
        };
        let batch_ops = 20 + self.rng.below(400) as usize;
        self.emit(Event::Begin(Op::Prune { keep }))?;
        self.store.prune(&retention, batch_ops, &mut |_| {}).context("pruning")?;
        let oldest = self.store.oldest_available(Prunable::History)?;
        self.emit(Event::Pruned { keep, oldest })
    }

    fn compact(&mut self) -> anyhow::Result<()> {
        self.emit(Event::Begin(Op::Compact))?;
        self.store.database().compact().context("compacting")?;
        self.emit(Event::Compacted)
    }
}
