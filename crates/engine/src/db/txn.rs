//! Read snapshots and write transactions.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::error::{Error, Result};
use super::memtable::{self, composite, split};
use super::merge::{Merge, PairIter, from_backend};
use super::table::{Codec, Table};
use super::{Inner, writeset};
use crate::backend::{BackendSnapshot, KeyRange};
use crate::wal::Durability;

/// A consistent read snapshot: sees every commit up to its sequence number and nothing after.
/// Holding one keeps the memtable versions it needs alive, so drop it when done.
#[derive(Debug)]
pub struct ReadTxn {
    inner: Arc<Inner>,
    seq: u64,
    backend: Arc<dyn BackendSnapshot>,
}

impl ReadTxn {
    pub(super) fn new(inner: Arc<Inner>) -> Self {
        let (seq, backend) = inner.pin();
        Self { inner, seq, backend }
    }

    /// The sequence number of the newest commit this snapshot sees.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The value of `key` in `table`.
    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        validate_table(table)?;
        let found = self.memtable_get(&composite(table, key));
        match found {
            Some(v) => Ok(v.map(|v| v.to_vec())),
            None => Ok(self.backend.get(table, key)?),
        }
    }

    /// The pairs of `table` in `range`, in key order (descending with `reverse`).
    pub fn range(&self, table: &str, range: KeyRange, reverse: bool) -> Result<PairIter<'static>> {
        validate_table(table)?;
        let base = from_backend(self.backend.range(table, &range, reverse)?);
        let overlay = MemtableRange {
            inner: self.inner.clone(),
            table: table.to_string(),
            range,
            at: self.seq,
            reverse,
            buf: VecDeque::new(),
            chunk: 16,
            done: false,
        };
        Ok(Box::new(Merge::new(overlay, base, reverse)))
    }

    /// The pairs of `table` whose keys start with `prefix`, in key order.
    pub fn prefix(&self, table: &str, prefix: &[u8]) -> Result<PairIter<'static>> {
        self.range(table, KeyRange::prefix(prefix), false)
    }

    /// The tables that have (or had) data in the backend or in recent commits, sorted.
    pub fn tables(&self) -> Result<Vec<String>> {
        let mut names = self.backend.tables()?;
        let memtable = self.inner.memtable.read().unwrap_or_else(|e| e.into_inner());
        names.extend(memtable.tables());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The value of `key` in a typed table.
    pub fn get_as<K: Codec, V: Codec>(&self, table: &Table<K, V>, key: &K) -> Result<Option<V>> {
        decode(table, self.get(table.name(), &key.encode())?)
    }

    fn memtable_get(&self, ck: &[u8]) -> Option<memtable::Value> {
        self.inner.memtable.read().unwrap_or_else(|e| e.into_inner()).get(ck, self.seq)
    }
}

/// Recent writes of one table in key order: `None` values are deletions.
type OverlayIter<'a> = Box<dyn Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> + Send + 'a>;

/// The memtable's part of a snapshot range, fetched lazily in growing chunks so that a seek
/// followed by a few `next`s costs a few entries, not the whole range.
struct MemtableRange {
    inner: Arc<Inner>,
    table: String,
    /// What remains to be fetched.
    range: KeyRange,
    at: u64,
    reverse: bool,
    buf: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    chunk: usize,
    done: bool,
}

impl Iterator for MemtableRange {
    type Item = (Vec<u8>, Option<Vec<u8>>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            let memtable = self.inner.memtable.read().unwrap_or_else(|e| e.into_inner());
            let entries =
                memtable.range(&self.table, &self.range, self.at, self.reverse, self.chunk);
            drop(memtable);
            self.done = entries.len() < self.chunk;
            if let Some((last, _)) = entries.last() {
                let after = Bound::Excluded(last.clone());
                if self.reverse { self.range.end = after } else { self.range.start = after }
            }
            self.buf.extend(entries.into_iter().map(|(k, v)| (k, v.map(|v| v.to_vec()))));
            self.chunk = (self.chunk * 4).min(4096);
        }
        self.buf.pop_front()
    }
}

impl Drop for ReadTxn {
    fn drop(&mut self) {
        self.inner.unpin(self.backend.checkpoint());
    }
}

/// A write transaction with snapshot isolation. Dropping it without committing rolls it back.
#[derive(Debug)]
pub struct WriteTxn {
    snapshot: ReadTxn,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    durability: Durability,
}

impl WriteTxn {
    pub(super) fn new(snapshot: ReadTxn, durability: Durability) -> Self {
        Self { snapshot, writes: BTreeMap::new(), durability }
    }

    /// Overrides the database's durability for this commit.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// The value of `key` in `table`, including this transaction's own writes.
    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        validate_table(table)?;
        match self.writes.get(&composite(table, key)) {
            Some(v) => Ok(v.clone()),
            None => self.snapshot.get(table, key),
        }
    }

    /// Sets `key` in `table` to `value`.
    pub fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        validate_table(table)?;
        self.writes.insert(composite(table, key), Some(value.to_vec()));
        Ok(())
    }

    /// Deletes `key` from `table` (a no-op if it is absent).
    pub fn delete(&mut self, table: &str, key: &[u8]) -> Result<()> {
        validate_table(table)?;
        self.writes.insert(composite(table, key), None);
        Ok(())
    }

    /// The pairs of `table` in `range`, including this transaction's own writes.
    pub fn range(&self, table: &str, range: KeyRange, reverse: bool) -> Result<PairIter<'_>> {
        let base = self.snapshot.range(table, range.clone(), reverse)?;
        if range.is_empty() {
            return Ok(base);
        }
        let bounds =
            (memtable::bound(table, &range.start, false), memtable::bound(table, &range.end, true));
        let own = self.writes.range(bounds).map(|(ck, v)| (split(ck).1.to_vec(), v.clone()));
        let own: OverlayIter<'_> = if reverse { Box::new(own.rev()) } else { Box::new(own) };
        Ok(Box::new(Merge::new(own, base, reverse)))
    }

    /// The pairs of `table` whose keys start with `prefix`, including own writes.
    pub fn prefix(&self, table: &str, prefix: &[u8]) -> Result<PairIter<'_>> {
        self.range(table, KeyRange::prefix(prefix), false)
    }

    /// The value of `key` in a typed table, including this transaction's own writes.
    pub fn get_as<K: Codec, V: Codec>(&self, table: &Table<K, V>, key: &K) -> Result<Option<V>> {
        decode(table, self.get(table.name(), &key.encode())?)
    }

    /// Sets `key` to `value` in a typed table.
    pub fn put_as<K: Codec, V: Codec>(
        &mut self,
        table: &Table<K, V>,
        key: &K,
        value: &V,
    ) -> Result<()> {
        self.put(table.name(), &key.encode(), &value.encode())
    }

    /// Deletes `key` from a typed table.
    pub fn delete_as<K: Codec, V: Codec>(&mut self, table: &Table<K, V>, key: &K) -> Result<()> {
        self.delete(table.name(), &key.encode())
    }

    /// The tables that have data in this transaction's snapshot, sorted.
    pub fn tables(&self) -> Result<Vec<String>> {
        self.snapshot.tables()
    }

    /// The sequence number of the snapshot this transaction reads.
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot.seq
    }

    /// Commits atomically: checks for write-write conflicts (first committer wins), appends the
    /// write set to the commit log (group commit), and returns its sequence number once it is
    /// durable and visible to new snapshots. A transaction without writes commits trivially.
    pub fn commit(self) -> Result<u64> {
        if self.writes.is_empty() {
            return Ok(self.snapshot.seq);
        }
        let started = Instant::now();
        let inner = self.snapshot.inner.clone();
        let payload = writeset::encode(self.writes.iter().map(|(ck, v)| {
            let (table, key) = split(ck);
            (table, key, v.as_deref())
        }));
        let has_puts = self.writes.values().any(Option::is_some);
        let prepared = inner.wal.prepare(writeset::WRITE_SET, &payload)?;
        inner.check_quota(prepared.len() as u64, has_puts)?;
        inner.wait_for_room();
        let keys: Arc<Vec<Vec<u8>>> = Arc::new(self.writes.keys().cloned().collect());
        let (ticket, id) = {
            let mut inflight = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
            self.check_conflicts(&inflight.writes)?;
            let ticket = inner.wal.submit_prepared(prepared)?;
            let id = inflight.next_id;
            inflight.next_id += 1;
            inflight.writes.insert(id, keys);
            (ticket, id)
        };
        let waited = inner.wal.wait(ticket, self.durability);
        if let Err(e) = waited {
            inner.commit.lock().unwrap_or_else(|e| e.into_inner()).writes.remove(&id);
            return Err(e.into());
        }
        let added = {
            let mut memtable = inner.memtable.write().unwrap_or_else(|e| e.into_inner());
            let before = memtable.bytes();
            memtable
                .insert(ticket.seq, self.writes.into_iter().map(|(ck, v)| (ck, v.map(Arc::from))));
            memtable.bytes() - before
        };
        let total = inner.mem_bytes.fetch_add(added as u64, Ordering::Relaxed) + added as u64;
        metrics::gauge!("chainstore_db_memtable_bytes").set(total as f64);
        inner.commit.lock().unwrap_or_else(|e| e.into_inner()).writes.remove(&id);
        inner.publish(ticket.seq, added as u64);
        metrics::histogram!("chainstore_db_commit_seconds").record(started.elapsed());
        Ok(ticket.seq)
    }

    fn check_conflicts(
        &self,
        inflight: &std::collections::HashMap<u64, Arc<Vec<Vec<u8>>>>,
    ) -> Result<()> {
        let memtable = self.snapshot.inner.memtable.read().unwrap_or_else(|e| e.into_inner());
        let conflict = self.writes.keys().find(|ck| {
            memtable.has_newer(ck, self.snapshot.seq)
                || inflight.values().any(|keys| keys.binary_search(ck).is_ok())
        });
        match conflict {
            Some(ck) => {
                metrics::counter!("chainstore_db_conflicts_total").increment(1);
                let (table, key) = split(ck);
                Err(Error::Conflict { table: table.to_string(), key: key.to_vec() })
            }
            None => Ok(()),
        }
    }
}

fn decode<K: Codec, V: Codec>(table: &Table<K, V>, bytes: Option<Vec<u8>>) -> Result<Option<V>> {
    bytes
        .map(|b| V::decode(&b).map_err(|detail| Error::Decode { table: table.name(), detail }))
        .transpose()
}

/// Table names: 1 to 255 bytes, not starting with `__` (reserved for chainstore).
pub(super) fn validate_table(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 255 {
        "longer than 255 bytes"
    } else if name.starts_with("__") {
        "names starting with __ are reserved"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTable { name: name.to_string(), reason })
}
