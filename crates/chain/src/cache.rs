//! The state cache: the head state a block commit reads, kept in memory across blocks.
//!
//! A block's commit reads the previous value of every key it changes (for the history), the
//! stored trie nodes on the changed paths, and the leaves the trie must rehash (every key under
//! the lowest stored branch of a changed path). Through the engine each of those reads is a
//! merged lookup over the transaction's writes, the memtable and a backend snapshot; here they
//! are a `BTreeMap` lookup. The cache holds:
//!
//! - the account trie's stored nodes, all of them once loaded (a few MB at 1M accounts);
//! - per account, the stored nodes of its storage trie, all of them once loaded;
//! - flat accounts (with their storage roots) and, per account, flat storage slots, for whole
//!   **covered ranges** of keys: inside a covered range every key of the head state is in the
//!   cache, so a range read needs no database and an absent key is known to be absent. Ranges are
//!   loaded on demand, in chunks, in key order, from a read snapshot of the head.
//!
//! Consistency: the cache holds the state as of the head block, nothing else. It is owned by the
//! chain store's writer lock, which every writer of the state tables (block commits, unwinds)
//! holds; it is loaded only from snapshots taken under that lock, changed only after a block's
//! transaction committed (a refused or failed block leaves it as it was), and cleared by an
//! unwind. After a restart it is empty and warms as blocks commit.
//!
//! Memory: entries are counted against [`Options::cache_bytes`](chainstore_engine::db::Options);
//! above it, the least recently used units (a storage trie with its slots, a covered range of
//! accounts, the account trie's nodes) are dropped after a commit, down to 80 % of the budget.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use alloy_primitives::B256;
use chainstore_engine::backend::{KeyRange, prefix_successor};
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{
    Account, BranchNodeCompact, EMPTY_TRIE_ROOT, Nibbles, StateRootOutput, decode_node, decode_path,
};

use crate::error::{Result, corrupt};
use crate::overlay::Overlay;
use crate::schema::{
    ACCOUNT_TRIE, HASHED_ACCOUNTS, HASHED_STORAGE, STORAGE_ROOTS, STORAGE_TRIE, decode_account,
    decode_value,
};

/// Keys read from the database per chunk when a read reaches an uncovered key.
const CHUNK: usize = 64;
/// Estimated bytes of one cached account (key, account, storage root, map overhead).
const ACCOUNT_BYTES: u64 = 200;
/// Estimated bytes of one cached slot.
const SLOT_BYTES: u64 = 112;
/// Estimated bytes of one covered range's bookkeeping.
const RANGE_BYTES: u64 = 128;
/// Estimated bytes of one cached node, without its hashes.
const NODE_BYTES: u64 = 192;

/// An account of the head state with its storage root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadAccount {
    pub(crate) account: Account,
    pub(crate) storage_root: B256,
}

/// Counters of a [`StateCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes the cache holds (estimated).
    pub bytes: u64,
    /// The budget ([`Options::cache_bytes`](chainstore_engine::db::Options)).
    pub budget: u64,
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the database (a chunk of keys, a point, or a whole trie's nodes).
    pub misses: u64,
    /// Units dropped to stay within the budget.
    pub evictions: u64,
}

/// The head state in memory. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct StateCache {
    budget: u64,
    bytes: u64,
    /// Bumped once per block: the recency of every unit touched in that block.
    tick: u64,
    account_nodes: Option<Unit<NodeSet>>,
    accounts: Covered<HeadAccount>,
    storage: HashMap<B256, Unit<StorageUnit>>,
    stats: CacheStats,
}

/// A cached thing with the tick it was last used at.
#[derive(Debug)]
struct Unit<T> {
    tick: u64,
    value: T,
}

/// One account's storage: its trie's nodes (once loaded) and covered ranges of its slots.
#[derive(Debug, Default)]
struct StorageUnit {
    nodes: Option<NodeSet>,
    slots: Covered<alloy_primitives::U256>,
}

/// The stored nodes of one trie, complete.
pub(crate) type NodeSet = BTreeMap<Nibbles, BranchNodeCompact>;

/// Entries of one key space, complete within covered ranges.
#[derive(Debug)]
struct Covered<V> {
    map: BTreeMap<B256, V>,
    /// Disjoint covered ranges by start.
    ranges: BTreeMap<B256, Range>,
}

/// A covered range.
#[derive(Debug, Clone, Copy)]
struct Range {
    /// End, exclusive; `None`: to the end of the key space.
    end: Option<B256>,
    /// Tick of its last use.
    tick: u64,
    /// Entries inside it.
    len: u64,
}

/// Consecutive entries of a key space, and the key up to which (exclusive; `None`: the end) they
/// are all there is.
pub(crate) type Batch<V> = (Vec<(B256, V)>, Option<B256>);

/// Adjacent ranges are merged while the result holds at most this many entries, so that a
/// scan crosses few ranges and eviction still has units of a useful size.
const MERGE_LIMIT: u64 = 4096;

impl<V> Default for Covered<V> {
    fn default() -> Self {
        Self { map: BTreeMap::new(), ranges: BTreeMap::new() }
    }
}

/// The key after `k`, if there is one.
pub(crate) fn successor(k: B256) -> Option<B256> {
    let mut bytes = k.0;
    for b in bytes.iter_mut().rev() {
        if *b < 0xff {
            *b += 1;
            return Some(B256::from(bytes));
        }
        *b = 0;
    }
    None
}

/// Whether `k` is before the exclusive bound `end`.
fn before(k: B256, end: Option<B256>) -> bool {
    end.is_none_or(|e| k < e)
}

impl<V> Covered<V> {
    /// The start and range covering `k`, if any.
    fn covering_range(&mut self, k: B256) -> Option<(B256, &mut Range)> {
        let (start, range) = self.ranges.range_mut(..=k).next_back()?;
        before(k, range.end).then_some((*start, range))
    }

    /// The end of the covered range containing `k`: `Some(end)` if covered.
    fn covering(&mut self, k: B256, tick: u64) -> Option<Option<B256>> {
        let (_, range) = self.covering_range(k)?;
        range.tick = tick;
        Some(range.end)
    }

    /// Up to `limit` consecutive entries from `from` on, through covered ranges, with the key
    /// up to which (exclusive; `None`: the end of the key space) they are all there is; `None`
    /// if `from` is not covered.
    fn batch(&mut self, from: B256, limit: usize, tick: u64) -> Option<Batch<V>>
    where
        V: Copy,
    {
        let mut out = Vec::new();
        let mut k = from;
        loop {
            let Some(end) = self.covering(k, tick) else {
                return (!out.is_empty()).then_some((out, Some(k)));
            };
            let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
            for (key, v) in self.map.range((Bound::Included(k), upper)) {
                out.push((*key, *v));
                if out.len() >= limit {
                    return Some((out, successor(*key)));
                }
            }
            match end {
                Some(e) => k = e,
                None => return Some((out, None)),
            }
        }
    }

    /// Covers `[start, end)` (`start` uncovered) with the head's `entries` in it, absorbing the
    /// ranges that start inside it and merging with adjacent ones; returns the bytes added.
    fn add(
        &mut self,
        start: B256,
        mut end: Option<B256>,
        entries: Vec<(B256, V)>,
        each: u64,
        tick: u64,
    ) -> i64 {
        let mut bytes = 0i64;
        let mut len = 0u64;
        let inside: Vec<B256> = match end {
            Some(e) => self.ranges.range(start..e).map(|(s, _)| *s).collect(),
            None => self.ranges.range(start..).map(|(s, _)| *s).collect(),
        };
        for s in inside {
            if let Some(r) = self.ranges.remove(&s) {
                bytes -= RANGE_BYTES as i64;
                len += r.len;
                end = match (end, r.end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
        for (k, v) in entries {
            if self.map.insert(k, v).is_none() {
                len += 1;
                bytes += each as i64;
            }
        }
        let mut start = start;
        // Merge with the range just before, if it ends where this one starts.
        if let Some((ps, prev)) = self.ranges.range(..start).next_back()
            && prev.end == Some(start)
            && prev.len + len <= MERGE_LIMIT
        {
            let ps = *ps;
            len += prev.len;
            self.ranges.remove(&ps);
            bytes -= RANGE_BYTES as i64;
            start = ps;
        }
        // Merge with the range just after, if it starts where this one ends.
        if let Some(e) = end
            && let Some(next) = self.ranges.get(&e).copied()
            && next.len + len <= MERGE_LIMIT
        {
            len += next.len;
            self.ranges.remove(&e);
            bytes -= RANGE_BYTES as i64;
            end = next.end;
        }
        self.ranges.insert(start, Range { end, tick, len });
        bytes + RANGE_BYTES as i64
    }

    /// Drops the range starting at `start` and its entries; returns the bytes freed.
    fn drop_range(&mut self, start: B256, each: u64) -> u64 {
        let Some(range) = self.ranges.remove(&start) else { return 0 };
        let upper = range.end.map_or(Bound::Unbounded, Bound::Excluded);
        let keys: Vec<B256> =
            self.map.range((Bound::Included(start), upper)).map(|(k, _)| *k).collect();
        for k in &keys {
            self.map.remove(k);
        }
        RANGE_BYTES + each * keys.len() as u64
    }

    /// Bytes held.
    fn bytes(&self, each: u64) -> u64 {
        RANGE_BYTES * self.ranges.len() as u64 + each * self.map.len() as u64
    }

    /// Sets `k` to `v` (`None`: absent) where `k` is covered; returns the change in bytes.
    fn set(&mut self, k: B256, v: Option<V>, each: u64, tick: u64) -> i64 {
        let Some((start, range)) = self.covering_range(k) else { return 0 };
        range.tick = tick;
        let change = match v {
            Some(v) => i64::from(self.map.insert(k, v).is_none()),
            None => -i64::from(self.map.remove(&k).is_some()),
        };
        if let Some(range) = self.ranges.get_mut(&start) {
            range.len = range.len.saturating_add_signed(change);
        }
        change * each as i64
    }

    /// Everything covered, holding exactly `entries`.
    fn complete(entries: impl IntoIterator<Item = (B256, V)>, tick: u64) -> Self {
        let mut c = Self::default();
        c.map.extend(entries);
        let len = c.map.len() as u64;
        c.ranges.insert(B256::ZERO, Range { end: None, tick, len });
        c
    }
}

fn node_bytes(node: &BranchNodeCompact) -> u64 {
    NODE_BYTES + 32 * node.hashes.len() as u64
}

fn node_set_bytes(nodes: &NodeSet) -> u64 {
    nodes.values().map(node_bytes).sum()
}

/// What a read of the database for the cache failed on.
fn db_err(e: impl Into<crate::ChainError>) -> crate::ChainError {
    e.into()
}

impl StateCache {
    /// An empty cache with a budget of `budget` bytes (0 disables caching: every unit is
    /// dropped after the block that loaded it).
    pub(crate) fn new(budget: u64) -> Self {
        Self { budget, stats: CacheStats { budget, ..CacheStats::default() }, ..Self::default() }
    }

    /// Forgets everything (the head state changed in a way the cache does not follow).
    pub(crate) fn clear(&mut self) {
        let budget = self.budget;
        let stats = CacheStats { bytes: 0, ..self.stats };
        *self = Self { budget, stats, tick: self.tick, ..Self::default() };
        self.publish();
    }

    /// Whether `bytes` more fit in the budget.
    pub(crate) fn has_room(&self, bytes: u64) -> bool {
        self.bytes.saturating_add(bytes) <= self.budget
    }

    /// The bytes an account with `slots` slots takes in the cache.
    pub(crate) fn account_cost(slots: usize) -> u64 {
        ACCOUNT_BYTES + SLOT_BYTES * slots as u64
    }

    /// Fills an empty cache with a state just imported: the accounts `[ZERO, until)` (all of them
    /// if `until` is `None`), the slots of those listed in `storage`, and the account trie's
    /// nodes.
    pub(crate) fn fill_imported(
        &mut self,
        accounts: Vec<(B256, HeadAccount)>,
        until: Option<B256>,
        storage: Vec<(B256, Vec<(B256, alloy_primitives::U256)>)>,
        account_nodes: Option<NodeSet>,
    ) {
        let tick = self.tick;
        let bytes = self.accounts.add(B256::ZERO, until, accounts, ACCOUNT_BYTES, tick);
        self.change(bytes);
        for (owner, slots) in storage {
            let unit = Covered::complete(slots, tick);
            self.grow(unit.bytes(SLOT_BYTES));
            self.storage
                .insert(owner, Unit { tick, value: StorageUnit { nodes: None, slots: unit } });
        }
        if let Some(nodes) = account_nodes {
            self.grow(node_set_bytes(&nodes));
            self.account_nodes = Some(Unit { tick, value: nodes });
        }
        self.evict();
        self.publish();
    }

    /// Starts a block: what it touches counts as recently used.
    pub(crate) fn begin_block(&mut self) {
        self.tick += 1;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats { bytes: self.bytes, ..self.stats }
    }

    fn hit(&mut self) {
        self.stats.hits += 1;
    }

    fn miss(&mut self) {
        self.stats.misses += 1;
    }

    fn grow(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    fn shrink(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    fn change(&mut self, delta: i64) {
        if delta >= 0 { self.grow(delta as u64) } else { self.shrink(delta.unsigned_abs()) }
    }

    // ---- accounts ------------------------------------------------------------------------

    /// The head account `hashed`, if it exists.
    pub(crate) fn account(&mut self, r: &ReadTxn, hashed: B256) -> Result<Option<HeadAccount>> {
        let tick = self.tick;
        if self.accounts.covering(hashed, tick).is_some() {
            self.hit();
            return Ok(self.accounts.map.get(&hashed).copied());
        }
        self.miss();
        let found = read_account(r, hashed)?;
        let end = successor(hashed);
        let entries = found.map(|a| (hashed, a)).into_iter().collect();
        let bytes = self.accounts.add(hashed, end, entries, ACCOUNT_BYTES, tick);
        self.change(bytes);
        Ok(found)
    }

    /// Up to `limit` consecutive head accounts from `from` on, and how far they are complete.
    pub(crate) fn account_batch(
        &mut self,
        r: &ReadTxn,
        from: B256,
        limit: usize,
    ) -> Result<Batch<HeadAccount>> {
        let tick = self.tick;
        let mut loaded = false;
        loop {
            if let Some(batch) = self.accounts.batch(from, limit, tick) {
                if !loaded {
                    self.hit();
                }
                return Ok(batch);
            }
            self.miss();
            loaded = true;
            self.load_accounts(r, from)?;
        }
    }

    /// Loads a chunk of accounts from `from` (uncovered) on.
    fn load_accounts(&mut self, r: &ReadTxn, from: B256) -> Result<()> {
        let rows = read_chunk(r, HASHED_ACCOUNTS, &[], from)?;
        let end = chunk_end(&rows);
        let mut roots = read_roots(r, from, end)?;
        let mut entries = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            let account = decode_account(&v).map_err(|d| corrupt(HASHED_ACCOUNTS, k, d))?;
            let storage_root = roots.remove(&k).unwrap_or(EMPTY_TRIE_ROOT);
            entries.push((k, HeadAccount { account, storage_root }));
        }
        let bytes = self.accounts.add(from, end, entries, ACCOUNT_BYTES, self.tick);
        self.change(bytes);
        Ok(())
    }

    // ---- storage -------------------------------------------------------------------------

    fn storage_unit(&mut self, owner: B256) -> &mut StorageUnit {
        let tick = self.tick;
        let unit =
            self.storage.entry(owner).or_insert_with(|| Unit { tick, value: Default::default() });
        unit.tick = tick;
        &mut unit.value
    }

    /// The head value of slot `slot` (hashed) of account `owner` (hashed), if non-zero.
    pub(crate) fn slot(
        &mut self,
        r: &ReadTxn,
        owner: B256,
        slot: B256,
    ) -> Result<Option<alloy_primitives::U256>> {
        let tick = self.tick;
        let unit = self.storage_unit(owner);
        if unit.slots.covering(slot, tick).is_some() {
            let v = unit.slots.map.get(&slot).copied();
            self.hit();
            return Ok(v);
        }
        self.miss();
        let key = [owner.as_slice(), slot.as_slice()].concat();
        let found = r
            .get(HASHED_STORAGE, &key)
            .map_err(db_err)?
            .map(|v| decode_value(&v).map_err(|d| corrupt(HASHED_STORAGE, slot, d)))
            .transpose()?;
        let entries = found.map(|v| (slot, v)).into_iter().collect();
        let bytes =
            self.storage_unit(owner).slots.add(slot, successor(slot), entries, SLOT_BYTES, tick);
        self.change(bytes);
        Ok(found)
    }

    /// Up to `limit` consecutive non-zero head slots of `owner` from `from` on, and how far they
    /// are complete.
    pub(crate) fn slot_batch(
        &mut self,
        r: &ReadTxn,
        owner: B256,
        from: B256,
        limit: usize,
    ) -> Result<Batch<alloy_primitives::U256>> {
        let tick = self.tick;
        let mut loaded = false;
        loop {
            if let Some(batch) = self.storage_unit(owner).slots.batch(from, limit, tick) {
                if !loaded {
                    self.hit();
                }
                return Ok(batch);
            }
            self.miss();
            loaded = true;
            let rows = read_chunk(r, HASHED_STORAGE, owner.as_slice(), from)?;
            let end = chunk_end(&rows);
            let entries = rows
                .into_iter()
                .map(|(s, v)| Ok((s, decode_value(&v).map_err(|d| corrupt(HASHED_STORAGE, s, d))?)))
                .collect::<Result<Vec<_>>>()?;
            let bytes = self.storage_unit(owner).slots.add(from, end, entries, SLOT_BYTES, tick);
            self.change(bytes);
        }
    }

    // ---- trie nodes ----------------------------------------------------------------------

    /// The stored nodes of the account trie (`owner` `None`) or of `owner`'s storage trie.
    pub(crate) fn nodes(&mut self, r: &ReadTxn, owner: Option<B256>) -> Result<&NodeSet> {
        let tick = self.tick;
        let loaded = match owner {
            None => self.account_nodes.is_some(),
            Some(o) => self.storage.get(&o).is_some_and(|u| u.value.nodes.is_some()),
        };
        let fresh = if loaded {
            self.hit();
            None
        } else {
            self.miss();
            let nodes = read_nodes(r, owner)?;
            self.grow(node_set_bytes(&nodes));
            Some(nodes)
        };
        Ok(match owner {
            None => {
                let unit =
                    self.account_nodes.get_or_insert_with(|| Unit { tick, value: NodeSet::new() });
                unit.tick = tick;
                if let Some(nodes) = fresh {
                    unit.value = nodes;
                }
                &unit.value
            }
            Some(o) => {
                let slot = &mut self.storage_unit(o).nodes;
                if let Some(nodes) = fresh {
                    *slot = Some(nodes);
                }
                slot.get_or_insert_with(NodeSet::new)
            }
        })
    }

    // ---- after a commit ------------------------------------------------------------------

    /// Applies a committed block: its flat-state overlay and the trie's output.
    pub(crate) fn apply(&mut self, overlay: &Overlay, output: &StateRootOutput) {
        let tick = self.tick;
        for (hashed, value) in &overlay.accounts {
            let value = value.map(|account| {
                let storage_root = match output.storage_roots.get(hashed) {
                    Some(root) => *root,
                    None if overlay.storage.get(hashed).is_some_and(|s| s.wiped) => EMPTY_TRIE_ROOT,
                    None => {
                        self.accounts.map.get(hashed).map_or(EMPTY_TRIE_ROOT, |a| a.storage_root)
                    }
                };
                HeadAccount { account, storage_root }
            });
            let delta = self.accounts.set(*hashed, value, ACCOUNT_BYTES, tick);
            self.change(delta);
        }
        for (owner, changes) in &overlay.storage {
            let Some(unit) = self.storage.get_mut(owner) else { continue };
            let unit = &mut unit.value;
            let delta = if changes.wiped {
                let before = unit.slots.bytes(SLOT_BYTES) as i64;
                let live = changes.slots.iter().filter_map(|(k, v)| v.map(|v| (*k, v)));
                unit.slots = Covered::complete(live, tick);
                unit.slots.bytes(SLOT_BYTES) as i64 - before
            } else {
                changes.slots.iter().map(|(k, v)| unit.slots.set(*k, *v, SLOT_BYTES, tick)).sum()
            };
            self.change(delta);
        }
        if let Some(unit) = &mut self.account_nodes {
            let delta = apply_nodes(&mut unit.value, &output.updates.account_nodes);
            self.change(delta);
        }
        for (owner, updates) in &output.updates.storage_nodes {
            let Some(Unit { value: StorageUnit { nodes: Some(nodes), .. }, .. }) =
                self.storage.get_mut(owner)
            else {
                continue;
            };
            let delta = apply_nodes(nodes, updates);
            self.change(delta);
        }
        self.evict();
        self.publish();
    }

    /// Drops the least recently used units until the cache is within 80 % of its budget, if it
    /// is over it.
    fn evict(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        let target = self.budget / 5 * 4;
        enum Victim {
            AccountNodes,
            Accounts(B256),
            Storage(B256),
        }
        let mut victims: Vec<(u64, Victim)> = Vec::new();
        if let Some(u) = &self.account_nodes {
            victims.push((u.tick, Victim::AccountNodes));
        }
        victims.extend(self.accounts.ranges.iter().map(|(s, r)| (r.tick, Victim::Accounts(*s))));
        victims.extend(self.storage.iter().map(|(o, u)| (u.tick, Victim::Storage(*o))));
        victims.sort_unstable_by_key(|(tick, _)| *tick);
        for (_, victim) in victims {
            if self.bytes <= target {
                break;
            }
            let freed = match victim {
                Victim::AccountNodes => {
                    self.account_nodes.take().map_or(0, |u| node_set_bytes(&u.value))
                }
                Victim::Accounts(start) => self.accounts.drop_range(start, ACCOUNT_BYTES),
                Victim::Storage(owner) => self.storage.remove(&owner).map_or(0, |u| {
                    u.value.slots.bytes(SLOT_BYTES)
                        + u.value.nodes.as_ref().map_or(0, node_set_bytes)
                }),
            };
            self.shrink(freed);
            self.stats.evictions += 1;
        }
    }

    fn publish(&self) {
        metrics::gauge!("chainstore_cache_bytes").set(self.bytes as f64);
        metrics::counter!("chainstore_cache_hits_total").absolute(self.stats.hits);
        metrics::counter!("chainstore_cache_misses_total").absolute(self.stats.misses);
        metrics::counter!("chainstore_cache_evictions_total").absolute(self.stats.evictions);
    }
}

/// Applies node updates to a node set; returns the change in bytes.
fn apply_nodes(nodes: &mut NodeSet, updates: &chainstore_trie::NodeUpdates) -> i64 {
    let mut delta = 0i64;
    for (path, node) in updates {
        let old = match node {
            Some(n) => {
                delta += node_bytes(n) as i64;
                nodes.insert(*path, n.clone())
            }
            None => nodes.remove(path),
        };
        delta -= old.map_or(0, |o| node_bytes(&o) as i64);
    }
    delta
}

/// Reads the first [`CHUNK`] rows of `table` whose keys are `prefix ‖ k` with `k >= from`, as
/// (k, value).
fn read_chunk(
    r: &ReadTxn,
    table: &'static str,
    prefix: &[u8],
    from: B256,
) -> Result<Vec<(B256, Vec<u8>)>> {
    let start = Bound::Included([prefix, from.as_slice()].concat());
    let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let mut rows = Vec::with_capacity(CHUNK);
    for pair in r.range(table, KeyRange { start, end }, false).map_err(db_err)?.take(CHUNK) {
        let (k, v) = pair.map_err(db_err)?;
        let suffix = k.get(prefix.len()..).filter(|s| s.len() == 32);
        let Some(suffix) = suffix else {
            return Err(corrupt(
                table,
                alloy_primitives::hex::encode(&k),
                "key of the wrong length",
            ));
        };
        rows.push((B256::from_slice(suffix), v));
    }
    Ok(rows)
}

/// Where a chunk's coverage ends: just after its last key if it is full, else at the end of
/// the key space.
fn chunk_end<V>(rows: &[(B256, V)]) -> Option<B256> {
    match rows.last() {
        Some((last, _)) if rows.len() == CHUNK => successor(*last),
        _ => None,
    }
}

/// The storage roots of the accounts in `[from, end)`.
fn read_roots(r: &ReadTxn, from: B256, end: Option<B256>) -> Result<HashMap<B256, B256>> {
    let range = KeyRange {
        start: Bound::Included(from.to_vec()),
        end: end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec())),
    };
    let mut roots = HashMap::new();
    for pair in r.range(STORAGE_ROOTS.name(), range, false).map_err(db_err)? {
        let (k, v) = pair.map_err(db_err)?;
        if k.len() != 32 || v.len() != 32 {
            return Err(corrupt(
                STORAGE_ROOTS.name(),
                alloy_primitives::hex::encode(&k),
                "bad row",
            ));
        }
        roots.insert(B256::from_slice(&k), B256::from_slice(&v));
    }
    Ok(roots)
}

fn read_account(r: &ReadTxn, hashed: B256) -> Result<Option<HeadAccount>> {
    let Some(v) = r.get(HASHED_ACCOUNTS, hashed.as_slice()).map_err(db_err)? else {
        return Ok(None);
    };
    let account = decode_account(&v).map_err(|d| corrupt(HASHED_ACCOUNTS, hashed, d))?;
    let storage_root = r.get_as(&STORAGE_ROOTS, &hashed.0).map_err(db_err)?;
    Ok(Some(HeadAccount {
        account,
        storage_root: storage_root.map_or(EMPTY_TRIE_ROOT, B256::from),
    }))
}

/// Every stored node of the account trie or of `owner`'s storage trie.
fn read_nodes(r: &ReadTxn, owner: Option<B256>) -> Result<NodeSet> {
    let (table, prefix) = match owner {
        None => (ACCOUNT_TRIE, Vec::new()),
        Some(o) => (STORAGE_TRIE, o.to_vec()),
    };
    let mut nodes = NodeSet::new();
    for pair in r.prefix(table, &prefix).map_err(db_err)? {
        let (k, v) = pair.map_err(db_err)?;
        let hex = || alloy_primitives::hex::encode(&k);
        let path = decode_path(&k[prefix.len()..]).map_err(|e| corrupt(table, hex(), e))?;
        let node = decode_node(&v).map_err(|e| corrupt(table, hex(), e))?;
        nodes.insert(path, node);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_carries() {
        let mut k = [0u8; 32];
        k[31] = 0xff;
        k[30] = 0x01;
        let mut want = [0u8; 32];
        want[30] = 0x02;
        assert_eq!(successor(B256::from(k)), Some(B256::from(want)));
        assert_eq!(successor(B256::repeat_byte(0xff)), None);
    }

    #[test]
    fn covered_ranges_answer_inside_only() {
        let mut c: Covered<u8> = Covered::default();
        let k = |b: u8| B256::with_last_byte(b);
        c.add(k(10), Some(k(20)), vec![(k(12), 1), (k(15), 2)], 1, 0);
        assert_eq!(c.covering(k(9), 0), None);
        assert_eq!(c.covering(k(10), 0), Some(Some(k(20))));
        assert_eq!(c.covering(k(20), 0), None);
        assert_eq!(c.batch(k(13), 8, 0), Some((vec![(k(15), 2)], Some(k(20)))));
        assert_eq!(c.batch(k(10), 1, 0), Some((vec![(k(12), 1)], Some(successor(k(12)).unwrap()))));
        assert_eq!(c.batch(k(9), 8, 0), None);
        assert_eq!(c.set(k(30), Some(9), 1, 0), 0, "outside coverage nothing is cached");
        assert_eq!(c.set(k(11), Some(9), 1, 0), 1);
        assert_eq!(c.set(k(12), None, 1, 0), -1);
        assert_eq!(c.ranges[&k(10)].len, 2);
        assert_eq!(c.drop_range(k(10), 1), RANGE_BYTES + 2);
        assert!(c.map.is_empty() && c.ranges.is_empty());
    }

    #[test]
    fn ranges_absorb_and_merge() {
        let mut c: Covered<u8> = Covered::default();
        let k = |b: u8| B256::with_last_byte(b);
        // Points, then a chunk over them: one range.
        c.add(k(12), Some(k(13)), vec![(k(12), 1)], 1, 0);
        c.add(k(14), Some(k(15)), vec![], 1, 0);
        c.add(k(10), Some(k(30)), vec![(k(12), 1), (k(20), 2)], 1, 0);
        assert_eq!(c.ranges.len(), 1);
        assert_eq!((c.ranges[&k(10)].end, c.ranges[&k(10)].len), (Some(k(30)), 2));
        // Adjacent on both sides: merged.
        c.add(k(30), Some(k(40)), vec![(k(35), 3)], 1, 0);
        c.add(k(5), Some(k(10)), vec![], 1, 0);
        assert_eq!(c.ranges.len(), 1);
        assert_eq!((c.ranges[&k(5)].end, c.ranges[&k(5)].len), (Some(k(40)), 3));
        // A range that absorbs one reaching further takes its end.
        c.add(k(50), Some(k(60)), vec![], 1, 0);
        c.add(k(45), Some(k(55)), vec![], 1, 0);
        assert_eq!(c.ranges[&k(45)].end, Some(k(60)));
    }
}
