//! Recent writes, multi-versioned, until the indexer has put them into the backend.
//!
//! One ordered map per table (by the process's table id), keyed by the key bytes alone.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use super::writeset::{Key, TableId, Tables, Value, Writes};
use crate::backend::{KeyRange, Op};

/// Per-version bookkeeping overhead counted against the memtable budget.
const VERSION_OVERHEAD: usize = 48;

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    tables: Vec<BTreeMap<Key, Versions>>,
    bytes: usize,
}

/// The versions of one key, oldest first (almost always one: no allocation for it).
#[derive(Debug)]
enum Versions {
    One((u64, Value)),
    Many(Vec<(u64, Value)>),
}

impl Versions {
    fn as_slice(&self) -> &[(u64, Value)] {
        match self {
            Versions::One(pair) => std::slice::from_ref(pair),
            Versions::Many(v) => v,
        }
    }

    /// The newest version at or below `at`.
    fn at(&self, at: u64) -> Option<&Value> {
        match self {
            Versions::One((seq, value)) => (*seq <= at).then_some(value),
            Versions::Many(v) => v.iter().rev().find(|(s, _)| *s <= at).map(|(_, v)| v),
        }
    }

    fn newest_seq(&self) -> u64 {
        match self {
            Versions::One((seq, _)) => *seq,
            Versions::Many(v) => v.last().map_or(0, |(s, _)| *s),
        }
    }

    fn push(&mut self, seq: u64, value: Value) {
        match self {
            Versions::One(_) => {
                if let Versions::One(first) = std::mem::replace(self, Versions::Many(Vec::new())) {
                    *self = Versions::Many(vec![first, (seq, value)]);
                }
            }
            Versions::Many(v) => v.push((seq, value)),
        }
    }

    /// Drops the versions at or below `bound`; returns the bytes of the values dropped and how
    /// many, and whether any version is left.
    fn drop_through(&mut self, bound: u64) -> (usize, usize, bool) {
        match self {
            Versions::One((seq, value)) if *seq <= bound => (value_len(value), 1, false),
            Versions::One(_) => (0, 0, true),
            Versions::Many(v) => {
                let keep_from = v.partition_point(|(s, _)| *s <= bound);
                let freed = v[..keep_from].iter().map(|(_, v)| value_len(v)).sum();
                v.drain(..keep_from);
                (freed, keep_from, !v.is_empty())
            }
        }
    }
}

fn value_len(v: &Value) -> usize {
    v.as_ref().map_or(0, |v| v.len())
}

impl Memtable {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn table(&self, id: TableId) -> Option<&BTreeMap<Key, Versions>> {
        self.tables.get(id as usize)
    }

    /// The newest version of `key` in `table` at or below `at`: `Some(None)` is a deletion,
    /// `None` means the memtable does not know (read the backend).
    pub(crate) fn get(&self, table: TableId, key: &[u8], at: u64) -> Option<Value> {
        self.table(table)?.get(key)?.at(at).cloned()
    }

    /// Whether `key` has a version newer than `seq` (a write-write conflict).
    pub(crate) fn has_newer(&self, table: TableId, key: &[u8], seq: u64) -> bool {
        self.table(table).and_then(|t| t.get(key)).is_some_and(|v| v.newest_seq() > seq)
    }

    /// Adds the versions of one commit.
    pub(crate) fn insert(&mut self, seq: u64, writes: Writes) {
        for (table, ops) in writes {
            self.insert_table(seq, table, ops);
        }
    }

    /// Adds one table's versions of one commit.
    pub(crate) fn insert_table(
        &mut self,
        seq: u64,
        table: TableId,
        ops: impl IntoIterator<Item = (Key, Value)>,
    ) {
        let index = table as usize;
        if self.tables.len() <= index {
            self.tables.resize_with(index + 1, BTreeMap::new);
        }
        let map = &mut self.tables[index];
        for (key, value) in ops {
            self.bytes += key.len() + value_len(&value) + VERSION_OVERHEAD;
            // One search per key (a new key is the common case).
            match map.entry(key) {
                Entry::Occupied(mut versions) => versions.get_mut().push(seq, value),
                Entry::Vacant(slot) => {
                    slot.insert(Versions::One((seq, value)));
                }
            }
        }
    }

    /// The newest version at or below `at` of the first `limit` keys of `table` in `range`, in
    /// key order (descending with `reverse`); deletions included as `None`.
    pub(crate) fn range(
        &self,
        table: TableId,
        range: &KeyRange,
        at: u64,
        reverse: bool,
        limit: usize,
    ) -> Vec<(Vec<u8>, Value)> {
        let Some(map) = self.table(table) else { return Vec::new() };
        if range.is_empty() {
            return Vec::new();
        }
        let visible =
            |(k, versions): (&Key, &Versions)| versions.at(at).map(|v| (k.to_vec(), v.clone()));
        let iter = map.range::<[u8], _>(range.as_slices());
        if reverse {
            iter.rev().filter_map(visible).take(limit).collect()
        } else {
            iter.filter_map(visible).take(limit).collect()
        }
    }

    /// The operations that bring a backend at checkpoint `after` to `upto`: the newest version at
    /// or below `upto` of every key written after `after`, by table and key.
    pub(crate) fn unindexed(&self, after: u64, upto: u64, names: &Tables) -> Vec<Op> {
        let mut ops = Vec::new();
        for (id, map) in self.tables.iter().enumerate() {
            let mut table: Option<Arc<str>> = None;
            for (key, versions) in map {
                let Some((seq, value)) = versions.as_slice().iter().rev().find(|(s, _)| *s <= upto)
                else {
                    continue;
                };
                if *seq <= after {
                    continue;
                }
                let name = table.get_or_insert_with(|| names.name(id as TableId).clone());
                ops.push((name.clone(), key.clone(), value.clone()));
            }
        }
        ops
    }

    /// The names of the tables with entries.
    pub(crate) fn tables(&self, names: &Tables) -> Vec<String> {
        let used = self.tables.iter().enumerate().filter(|(_, m)| !m.is_empty());
        used.map(|(id, _)| names.name(id as TableId).to_string()).collect()
    }

    /// Drops every version at or below `bound` (the backend snapshot of every reader has them).
    pub(crate) fn collect_garbage(&mut self, bound: u64) {
        let mut freed = 0;
        for map in &mut self.tables {
            map.retain(|key, versions| {
                let (bytes, count, left) = versions.drop_through(bound);
                freed += bytes + count * (key.len() + VERSION_OVERHEAD);
                left
            });
        }
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Some(Arc::from(s.as_bytes()))
    }

    fn one(m: &mut Memtable, seq: u64, table: TableId, key: &str, value: Value) {
        m.insert_table(seq, table, [(key.as_bytes().into(), value)]);
    }

    #[test]
    fn versions_by_sequence() {
        let mut m = Memtable::default();
        one(&mut m, 1, 0, "a", v("1"));
        one(&mut m, 3, 0, "a", None);
        one(&mut m, 5, 0, "a", v("5"));
        assert_eq!(m.get(0, b"a", 0), None);
        assert_eq!(m.get(0, b"a", 2), Some(v("1")));
        assert_eq!(m.get(0, b"a", 4), Some(None));
        assert_eq!(m.get(0, b"a", 9), Some(v("5")));
        assert_eq!(m.get(1, b"a", 9), None, "another table");
        assert!(m.has_newer(0, b"a", 4) && !m.has_newer(0, b"a", 5));
        m.collect_garbage(3);
        assert_eq!(m.get(0, b"a", 4), None, "collected versions fall through to the backend");
        assert_eq!(m.get(0, b"a", 5), Some(v("5")));
        m.collect_garbage(5);
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn ranges_stay_inside_their_table() {
        let mut names = Tables::default();
        let (a, ab, b) = (names.intern("a"), names.intern("ab"), names.intern("b"));
        let mut m = Memtable::default();
        for (t, k) in [(a, "1"), (a, "2"), (ab, "0"), (b, "1")] {
            one(&mut m, 1, t, k, v(k));
        }
        let keys = |r: Vec<(Vec<u8>, Value)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(m.range(a, &KeyRange::all(), 1, false, usize::MAX)),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        assert_eq!(
            keys(m.range(a, &KeyRange::all(), 1, true, usize::MAX)),
            vec![b"2".to_vec(), b"1".to_vec()]
        );
        assert_eq!(keys(m.range(ab, &KeyRange::all(), 1, false, usize::MAX)), vec![b"0".to_vec()]);
        let ops = m.unindexed(0, 1, &names);
        assert_eq!(ops.len(), 4);
        assert_eq!((&*ops[2].0, &*ops[2].1), ("ab", &b"0"[..]));
        assert_eq!(m.tables(&names), vec!["a", "ab", "b"]);
    }
}
