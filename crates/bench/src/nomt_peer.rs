//! NOMT (crate `nomt`), the authenticated store a user would pick instead of chainstore, committing
//! blocks of the same size over a state of the same size: the peer row of `ingest` and
//! `commit-latency`.
//!
//! The shape NOMT is measured with: keys of 32 bytes, uniformly distributed (`keccak256` of a key
//! number), values of [`VALUE_LEN`] bytes (an Ethereum account's size), one key per account. The
//! state is grown first (untimed) in sessions of [`GROW_SESSION`] new keys. Then each block is one
//! session of [`UPDATES_PER_BLOCK`] writes, 90 % to existing keys (uniform, distinct) and 10 % to
//! new ones: `warm_up` of every key it writes, then `finish` (root and changeset) and `commit`,
//! which NOMT makes durable before it returns. The latency of a block is that whole session;
//! building its keys and values comes before it. Options: Blake3 hasher, commit concurrency 2,
//! warm-up on, NOMT's default caches and I/O workers (3 io_uring rings), a fixed hash-table seed,
//! and a hash table of one bucket per [`KEYS_PER_BUCKET`] keys the run will reach.
//!
//! Below 2,700 keys a block writes every existing key once and the 300 new ones: the updates of a
//! block are counted as written, not assumed.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::keccak256;
use chainstore_chain::synth::SplitMix64;
use nomt::hasher::Blake3Hasher;
use nomt::trie::KeyPath;
use nomt::{IoUringPermission, KeyReadWrite, Nomt, Options, SessionParams};

use crate::commit_latency::{ChainBenchError, Result, UPDATES_PER_BLOCK};

/// The system name of NOMT's rows.
pub(crate) const NOMT: &str = "nomt";
/// Bytes of a value.
pub(crate) const VALUE_LEN: usize = 104;
/// New keys per session while growing the state.
const GROW_SESSION: u64 = 100_000;
/// Keys per hash-table bucket (a 4 KiB page of 126 trie nodes): uniform keys need at most about
/// one page per 3 keys, so at 2 keys per bucket the table stays below two-thirds full.
const KEYS_PER_BUCKET: u64 = 2;
/// The smallest hash table (16 MiB).
const MIN_BUCKETS: u64 = 4_096;
/// Commit workers.
const COMMIT_CONCURRENCY: usize = 2;

/// A NOMT database and the deterministic keys written to it.
pub(crate) struct NomtPeer {
    nomt: Nomt<Blake3Hasher>,
    rng: SplitMix64,
    /// Keys written so far: key `i` is `keccak256(i)` for `i < keys`.
    keys: u64,
}

/// The measured blocks of one run.
pub(crate) struct NomtRun {
    /// Latency of each measured block (session to durable commit).
    pub(crate) latencies: Vec<Duration>,
    /// Keys written by the measured blocks.
    pub(crate) updates: u64,
    /// Wall time of the measured blocks, building them included.
    pub(crate) elapsed: Duration,
}

/// Maps an error of NOMT (an `anyhow::Error`, or a message) to the benchmark's error.
fn nomt_err<E>(during: &'static str) -> impl FnOnce(E) -> ChainBenchError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    move |e| ChainBenchError::Nomt { during, source: e.into() }
}

impl NomtPeer {
    /// Keys a run reaches: `accounts` grown, plus the new keys of `blocks` blocks.
    pub(crate) fn keys_reached(accounts: u64, blocks: usize) -> u64 {
        accounts + blocks as u64 * new_per_block()
    }

    /// Creates an empty database in `dir` (which must not exist or be empty), with a hash table
    /// for `max_keys` keys.
    pub(crate) fn create(dir: &Path, max_keys: u64) -> Result<Self> {
        match nomt::check_iou_permissions() {
            IoUringPermission::Allowed => {}
            IoUringPermission::Denied | IoUringPermission::NotSupported => {
                let detail = "io_uring is denied or unsupported here (NOMT needs it on Linux: a \
                              6.0+ kernel, `kernel.io_uring_disabled = 0`, no seccomp filter on it)";
                return Err(nomt_err("opening")(detail));
            }
        }
        let buckets = (max_keys / KEYS_PER_BUCKET).max(MIN_BUCKETS);
        let mut options = Options::new();
        options.path(dir);
        options.commit_concurrency(COMMIT_CONCURRENCY);
        options.warm_up(true);
        options.bitbox_seed(*b"chainstore bench");
        options.hashtable_buckets(u32::try_from(buckets).unwrap_or(u32::MAX));
        let nomt = Nomt::open(options).map_err(nomt_err("opening"))?;
        Ok(Self { nomt, rng: SplitMix64(0x6e6f_6d74), keys: 0 })
    }

    /// Adds new keys in large sessions until there are `keys`; returns the time taken.
    pub(crate) fn grow_to(&mut self, keys: u64) -> Result<Duration> {
        let started = Instant::now();
        while self.keys < keys {
            let count = (keys - self.keys).min(GROW_SESSION);
            let mut block: Vec<(KeyPath, KeyReadWrite)> =
                (self.keys..self.keys + count).map(|i| self.write(i)).collect();
            block.sort_unstable_by_key(|(k, _)| *k);
            self.keys += count;
            self.commit(block, false)?;
        }
        Ok(started.elapsed())
    }

    /// Commits `warmup` unmeasured blocks, then `blocks` measured ones.
    pub(crate) fn run(&mut self, warmup: usize, blocks: usize) -> Result<NomtRun> {
        for _ in 0..warmup {
            let block = self.next_block();
            self.commit(block, true)?;
        }
        let mut run =
            NomtRun { latencies: Vec::with_capacity(blocks), updates: 0, elapsed: Duration::ZERO };
        let started = Instant::now();
        for _ in 0..blocks {
            let block = self.next_block();
            run.updates += block.len() as u64;
            run.latencies.push(self.commit(block, true)?);
        }
        run.elapsed = started.elapsed();
        Ok(run)
    }

    /// A block: distinct uniformly chosen existing keys and new ones, sorted by key.
    fn next_block(&mut self) -> Vec<(KeyPath, KeyReadWrite)> {
        let new = new_per_block();
        let existing = (UPDATES_PER_BLOCK - new).min(self.keys) as usize;
        let mut picked = Vec::with_capacity(existing);
        while picked.len() < existing {
            let missing = existing - picked.len();
            picked.extend((0..missing).map(|_| self.rng.below(self.keys)));
            picked.sort_unstable();
            picked.dedup();
        }
        let fresh = self.keys..self.keys + new;
        self.keys += new;
        let mut block: Vec<_> = picked.into_iter().chain(fresh).map(|i| self.write(i)).collect();
        block.sort_unstable_by_key(|(k, _)| *k);
        block
    }

    /// A write of a fresh random value to key `i`.
    fn write(&mut self, i: u64) -> (KeyPath, KeyReadWrite) {
        let mut value = Vec::with_capacity(VALUE_LEN);
        while value.len() < VALUE_LEN {
            value.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        value.truncate(VALUE_LEN);
        (key(i), KeyReadWrite::Write(Some(value)))
    }

    /// One session writing `block` (sorted by key), warming up its keys first if `warm_up`;
    /// returns its time from the session's start to the durable commit.
    fn commit(&self, block: Vec<(KeyPath, KeyReadWrite)>, warm_up: bool) -> Result<Duration> {
        let started = Instant::now();
        let session = self.nomt.begin_session(SessionParams::default());
        if warm_up {
            for (k, _) in &block {
                session.warm_up(*k);
            }
        }
        let finished = session.finish(block).map_err(nomt_err("finishing"))?;
        finished.commit(&self.nomt).map_err(nomt_err("committing"))?;
        Ok(started.elapsed())
    }
}

/// New keys per block: 10 % of its updates.
fn new_per_block() -> u64 {
    UPDATES_PER_BLOCK / 10
}

/// Key `i`: 32 uniformly distributed bytes.
fn key(i: u64) -> KeyPath {
    keccak256(i.to_be_bytes()).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks have the documented shape, and what they write is in the database.
    #[test]
    fn blocks_write_the_shape_and_the_values_are_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut peer = NomtPeer::create(&dir.path().join("nomt"), 20_000).unwrap();
        peer.grow_to(5_000).unwrap();
        assert_eq!(peer.keys, 5_000);
        let block = peer.next_block();
        assert_eq!(block.len() as u64, UPDATES_PER_BLOCK);
        let new = block.iter().filter(|(k, _)| (5_000..5_300).any(|i| key(i) == *k)).count();
        assert_eq!(new, 300);
        assert!(block.windows(2).all(|w| w[0].0 < w[1].0), "sorted and distinct");
        let (k, write) = block[0].clone();
        peer.commit(block, true).unwrap();
        assert_eq!(peer.nomt.read(k).unwrap().as_deref(), write.last_value());
        let run = peer.run(1, 2).unwrap();
        assert_eq!((run.latencies.len(), run.updates), (2, 2 * UPDATES_PER_BLOCK));
        assert_eq!(peer.keys, 5_000 + 4 * 300);
    }
}
