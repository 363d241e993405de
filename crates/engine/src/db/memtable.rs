//! Recent writes, multi-versioned, until the indexer has put them into the backend.
//!
//! Keys are composite: `[table name length][table name][key]`, so one ordered map serves every
//! table and the entries of one table are contiguous and sorted by key.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::backend::{KeyRange, Op};

/// A value, or `None` for a deletion.
pub(crate) type Value = Option<Arc<[u8]>>;

/// Per-version bookkeeping overhead counted against the memtable budget.
const VERSION_OVERHEAD: usize = 48;

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    map: BTreeMap<Vec<u8>, Vec<(u64, Value)>>,
    bytes: usize,
}

/// The composite key of `key` in `table`.
pub(crate) fn composite(table: &str, key: &[u8]) -> Vec<u8> {
    let mut ck = Vec::with_capacity(1 + table.len() + key.len());
    ck.push(table.len() as u8);
    ck.extend_from_slice(table.as_bytes());
    ck.extend_from_slice(key);
    ck
}

/// Splits a composite key into table name and key.
pub(crate) fn split(ck: &[u8]) -> (&str, &[u8]) {
    let n = ck[0] as usize;
    // Composite keys are only ever built from valid `&str` table names.
    let table = std::str::from_utf8(&ck[1..1 + n]).unwrap_or_default();
    (table, &ck[1 + n..])
}

pub(crate) fn bound(table: &str, b: &Bound<Vec<u8>>, end: bool) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(composite(table, k)),
        Bound::Excluded(k) => Bound::Excluded(composite(table, k)),
        Bound::Unbounded if end => match crate::backend::prefix_successor(&composite(table, b"")) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
        Bound::Unbounded => Bound::Included(composite(table, b"")),
    }
}

impl Memtable {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest version of `ck` at or below `at`: `Some(None)` is a deletion, `None` means the
    /// memtable does not know (read the backend).
    pub(crate) fn get(&self, ck: &[u8], at: u64) -> Option<Value> {
        let versions = self.map.get(ck)?;
        versions.iter().rev().find(|(seq, _)| *seq <= at).map(|(_, v)| v.clone())
    }

    /// Whether `ck` has a version newer than `seq` (a write-write conflict).
    pub(crate) fn has_newer(&self, ck: &[u8], seq: u64) -> bool {
        self.map.get(ck).is_some_and(|v| v.last().is_some_and(|(s, _)| *s > seq))
    }

    /// Adds the versions of one commit.
    pub(crate) fn insert(&mut self, seq: u64, ops: impl Iterator<Item = (Vec<u8>, Value)>) {
        for (ck, value) in ops {
            self.bytes += ck.len() + value.as_ref().map_or(0, |v| v.len()) + VERSION_OVERHEAD;
            self.map.entry(ck).or_default().push((seq, value));
        }
    }

    /// The newest version at or below `at` of the first `limit` keys of `table` in `range`, in
    /// key order (descending with `reverse`); deletions included as `None`.
    pub(crate) fn range(
        &self,
        table: &str,
        range: &KeyRange,
        at: u64,
        reverse: bool,
        limit: usize,
    ) -> Vec<(Vec<u8>, Value)> {
        if range.is_empty() {
            return Vec::new();
        }
        let bounds = (bound(table, &range.start, false), bound(table, &range.end, true));
        let prefix = 1 + table.len();
        let visible = |(ck, versions): (&Vec<u8>, &Vec<(u64, Value)>)| {
            let (_, v) = versions.iter().rev().find(|(seq, _)| *seq <= at)?;
            Some((ck[prefix..].to_vec(), v.clone()))
        };
        let iter = self.map.range(bounds);
        if reverse {
            iter.rev().filter_map(visible).take(limit).collect()
        } else {
            iter.filter_map(visible).take(limit).collect()
        }
    }

    /// The operations that bring a backend at checkpoint `after` to `upto`: the newest version at
    /// or below `upto` of every key written after `after`, sorted by table and key.
    pub(crate) fn unindexed(&self, after: u64, upto: u64) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut last_table: Option<Arc<str>> = None;
        for (ck, versions) in &self.map {
            let Some((seq, value)) = versions.iter().rev().find(|(s, _)| *s <= upto) else {
                continue;
            };
            if *seq <= after {
                continue;
            }
            let (table, key) = split(ck);
            let table = match &last_table {
                Some(t) if &**t == table => t.clone(),
                _ => {
                    let t: Arc<str> = Arc::from(table);
                    last_table = Some(t.clone());
                    t
                }
            };
            ops.push((table, key.to_vec(), value.as_ref().map(|v| v.to_vec())));
        }
        ops
    }

    /// The names of the tables with entries, sorted.
    pub(crate) fn tables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for ck in self.map.keys() {
            let (table, _) = split(ck);
            if names.last().is_none_or(|l| l != table) {
                names.push(table.to_string());
            }
        }
        names
    }

    /// Drops every version at or below `bound` (the backend snapshot of every reader has them).
    pub(crate) fn collect_garbage(&mut self, bound: u64) {
        let mut freed = 0;
        self.map.retain(|ck, versions| {
            let keep_from = versions.partition_point(|(seq, _)| *seq <= bound);
            for (_, v) in &versions[..keep_from] {
                freed += ck.len() + v.as_ref().map_or(0, |v| v.len()) + VERSION_OVERHEAD;
            }
            versions.drain(..keep_from);
            !versions.is_empty()
        });
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Some(Arc::from(s.as_bytes()))
    }

    #[test]
    fn versions_by_sequence() {
        let mut m = Memtable::default();
        m.insert(1, [(composite("t", b"a"), v("1"))].into_iter());
        m.insert(3, [(composite("t", b"a"), None)].into_iter());
        m.insert(5, [(composite("t", b"a"), v("5"))].into_iter());
        let ck = composite("t", b"a");
        assert_eq!(m.get(&ck, 0), None);
        assert_eq!(m.get(&ck, 2), Some(v("1")));
        assert_eq!(m.get(&ck, 4), Some(None));
        assert_eq!(m.get(&ck, 9), Some(v("5")));
        assert!(m.has_newer(&ck, 4) && !m.has_newer(&ck, 5));
        m.collect_garbage(3);
        assert_eq!(m.get(&ck, 4), None, "collected versions fall through to the backend");
        assert_eq!(m.get(&ck, 5), Some(v("5")));
        m.collect_garbage(5);
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn ranges_stay_inside_their_table() {
        let mut m = Memtable::default();
        for (t, k) in [("a", "1"), ("a", "2"), ("ab", "0"), ("b", "1")] {
            m.insert(1, [(composite(t, k.as_bytes()), v(k))].into_iter());
        }
        let keys = |r: Vec<(Vec<u8>, Value)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(m.range("a", &KeyRange::all(), 1, false, usize::MAX)),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        assert_eq!(
            keys(m.range("a", &KeyRange::all(), 1, true, usize::MAX)),
            vec![b"2".to_vec(), b"1".to_vec()]
        );
        assert_eq!(
            keys(m.range("ab", &KeyRange::all(), 1, false, usize::MAX)),
            vec![b"0".to_vec()]
        );
        let ops = m.unindexed(0, 1);
        assert_eq!(ops.len(), 4);
        // Composite keys order tables by name length first: a, b, ab.
        assert_eq!((&*ops[3].0, ops[3].1.as_slice()), ("ab", &b"0"[..]));
    }
}
