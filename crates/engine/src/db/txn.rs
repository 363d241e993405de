//! Read snapshots and write transactions.

use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Inner;
use super::error::{Error, Result};
use super::merge::{Merge, PairIter, from_backend};
use super::table::{Codec, Table};
use super::writeset::{self, TableId, Value, Writes};
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
        let found = self.inner.table_id(table).and_then(|id| self.memtable_get(id, key));
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
            table: self.inner.table_id(table),
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
        names.extend(memtable.tables(&self.inner.lock_tables()));
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The value of `key` in a typed table.
    pub fn get_as<K: Codec, V: Codec>(&self, table: &Table<K, V>, key: &K) -> Result<Option<V>> {
        decode(table, self.get(table.name(), &key.encode())?)
    }

    fn memtable_get(&self, table: TableId, key: &[u8]) -> Option<Value> {
        self.inner.memtable.read().unwrap_or_else(|e| e.into_inner()).get(table, key, self.seq)
    }
}

/// Recent writes of one table in key order: `None` values are deletions.
type OverlayIter<'a> = Box<dyn Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> + Send + 'a>;

/// The memtable's part of a snapshot range, fetched lazily in growing chunks so that a seek
/// followed by a few `next`s costs a few entries, not the whole range.
struct MemtableRange {
    inner: Arc<Inner>,
    /// The table's id, if it has one (a table without one has no recent writes).
    table: Option<TableId>,
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
            let table = self.table?;
            let memtable = self.inner.memtable.read().unwrap_or_else(|e| e.into_inner());
            let entries = memtable.range(table, &self.range, self.at, self.reverse, self.chunk);
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
    writes: Writes,
    durability: Durability,
}

impl WriteTxn {
    pub(super) fn new(snapshot: ReadTxn, durability: Durability) -> Self {
        Self { snapshot, writes: Writes::new(), durability }
    }

    /// This transaction's write of `key` in `table`, if it wrote it.
    fn own(&self, table: &str, key: &[u8]) -> Option<&Value> {
        let id = self.snapshot.inner.table_id(table)?;
        self.writes.get(&id)?.get(key)
    }

    fn write(&mut self, table: &str, key: &[u8], value: Value) -> Result<()> {
        validate_table(table)?;
        let id = self.snapshot.inner.intern_table(table);
        self.writes.entry(id).or_default().insert(key.into(), value);
        Ok(())
    }

    /// Overrides the database's durability for this commit.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// The value of `key` in `table`, including this transaction's own writes.
    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        validate_table(table)?;
        match self.own(table, key) {
            Some(v) => Ok(v.as_ref().map(|v| v.to_vec())),
            None => self.snapshot.get(table, key),
        }
    }

    /// Sets `key` in `table` to `value`.
    pub fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(table, key, Some(Arc::from(value)))
    }

    /// Deletes `key` from `table` (a no-op if it is absent).
    pub fn delete(&mut self, table: &str, key: &[u8]) -> Result<()> {
        self.write(table, key, None)
    }

    /// The pairs of `table` in `range`, including this transaction's own writes.
    pub fn range(&self, table: &str, range: KeyRange, reverse: bool) -> Result<PairIter<'_>> {
        let base = self.snapshot.range(table, range.clone(), reverse)?;
        let own_writes = self.snapshot.inner.table_id(table).and_then(|id| self.writes.get(&id));
        let Some(own_writes) = own_writes.filter(|_| !range.is_empty()) else { return Ok(base) };
        let own = own_writes
            .range::<[u8], _>(range.as_slices())
            .map(|(k, v)| (k.to_vec(), v.as_ref().map(|v| v.to_vec())));
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
        if self.writes.values().all(|w| w.is_empty()) {
            return Ok(self.snapshot.seq);
        }
        let started = Instant::now();
        let inner = self.snapshot.inner.clone();
        let has_puts = self.writes.values().flat_map(|w| w.values()).any(Option::is_some);
        let wal = inner.wal()?;
        let prepared = {
            let tables = inner.lock_tables();
            let size = writeset::encoded_len(&self.writes, &tables);
            wal.prepare_with(writeset::WRITE_SET, size, |out| {
                writeset::encode_into(out, &self.writes, &tables)
            })?
        };
        inner.check_quota(prepared.len() as u64, has_puts)?;
        inner.wait_for_room();
        let snapshot_seq = self.snapshot.seq;
        let writes = Arc::new(self.writes);
        let (ticket, id) = {
            let mut inflight = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
            // Records are submitted under this lock: if none was since the snapshot, no key
            // can have a newer version (the common case for a single writer).
            if wal.next_seq() - 1 > snapshot_seq {
                check_conflicts(&inner, &writes, snapshot_seq, &inflight.writes)?;
            }
            let ticket = wal.submit_prepared(prepared)?;
            let id = inflight.next_id;
            inflight.next_id += 1;
            inflight.writes.insert(id, writes);
            (ticket, id)
        };
        let waited = wal.wait(ticket, self.durability);
        // Out of the in-flight set and into the memtable under the commit lock, so that no
        // conflict check runs between the two.
        let mut inflight = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
        let writes = inflight.writes.remove(&id);
        if let Err(e) = waited {
            return Err(e.into());
        }
        let writes = writes.map(|w| Arc::try_unwrap(w).unwrap_or_else(|shared| (*shared).clone()));
        let added = {
            let mut memtable = inner.memtable.write().unwrap_or_else(|e| e.into_inner());
            let before = memtable.bytes();
            memtable.insert(ticket.seq, writes.unwrap_or_default());
            memtable.bytes() - before
        };
        drop(inflight);
        let total = inner.mem_bytes.fetch_add(added as u64, Ordering::Relaxed) + added as u64;
        metrics::gauge!("chainstore_db_memtable_bytes").set(total as f64);
        inner.publish(ticket.seq, added as u64);
        metrics::histogram!("chainstore_db_commit_seconds").record(started.elapsed());
        Ok(ticket.seq)
    }
}

/// First committer wins: a key this transaction writes must not have a version newer than its
/// snapshot, in the memtable or in a commit between log submission and the memtable.
fn check_conflicts(
    inner: &Inner,
    writes: &Writes,
    snapshot_seq: u64,
    inflight: &HashMap<u64, Arc<Writes>>,
) -> Result<()> {
    let memtable = inner.memtable.read().unwrap_or_else(|e| e.into_inner());
    for (table, table_writes) in writes {
        let others: Vec<_> = inflight.values().filter_map(|w| w.get(table)).collect();
        let conflict = table_writes.keys().find(|key| {
            memtable.has_newer(*table, key, snapshot_seq)
                || others.iter().any(|w| w.contains_key(&***key))
        });
        if let Some(key) = conflict {
            metrics::counter!("chainstore_db_conflicts_total").increment(1);
            let name = inner.lock_tables().name(*table).to_string();
            return Err(Error::Conflict { table: name, key: key.to_vec() });
        }
    }
    Ok(())
}

fn decode<K: Codec, V: Codec>(table: &Table<K, V>, bytes: Option<Vec<u8>>) -> Result<Option<V>> {
    bytes
        .map(|b| V::decode(&b).map_err(|detail| Error::Decode { table: table.name(), detail }))
        .transpose()
}

/// Table names: 1 to 255 bytes, not starting with `__` (reserved for chainstore).
pub(super) fn validate_table(name: &str) -> Result<()> {
    match writeset::table_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidTable { name: name.to_string(), reason }),
    }
}
