//! Recent writes, multi-versioned, until the indexer has put them into the backend.
//!
//! A list of sorted runs, oldest first. A commit's writes become one run as they are (a
//! transaction keeps them sorted by table and key), so a commit costs no search per key; the
//! indexer reads whole runs in one merge, and garbage collection drops whole runs. When runs
//! pile up (many small commits), the two adjacent runs with the fewest versions between them
//! are merged, so a lookup searches at most [`MAX_RUNS`] runs.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use super::writeset::{Key, TableId, Tables, Value, Writes};
use crate::backend::{KeyRange, Op};

/// Per-version bookkeeping overhead counted against the memtable budget.
const VERSION_OVERHEAD: usize = 48;

/// Runs kept before adjacent ones are merged.
const MAX_RUNS: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    /// Ordered by sequence number: a run's versions of a key are newer than those of every run
    /// before it.
    runs: VecDeque<Run>,
    bytes: usize,
}

/// The versions written by the commits `first..=last`.
#[derive(Debug)]
struct Run {
    first: u64,
    last: u64,
    /// By table id; each table's versions sorted by key, then sequence number.
    tables: Vec<(TableId, Vec<Version>)>,
    bytes: usize,
}

#[derive(Debug)]
struct Version {
    key: Key,
    seq: u64,
    value: Value,
}

fn value_len(v: &Value) -> usize {
    v.as_ref().map_or(0, |v| v.len())
}

fn cost(key: &Key, value: &Value) -> usize {
    key.len() + value_len(value) + VERSION_OVERHEAD
}

impl Run {
    /// How many versions it holds.
    fn len(&self) -> usize {
        self.tables.iter().map(|(_, v)| v.len()).sum()
    }

    fn table(&self, id: TableId) -> &[Version] {
        match self.tables.binary_search_by_key(&id, |(t, _)| *t) {
            Ok(i) => &self.tables[i].1,
            Err(_) => &[],
        }
    }

    /// The versions of `key` in `table`, oldest first.
    fn versions(&self, table: TableId, key: &[u8]) -> &[Version] {
        let t = self.table(table);
        let start = t.partition_point(|v| &*v.key < key);
        let len = t[start..].partition_point(|v| &*v.key == key);
        &t[start..start + len]
    }

    /// The versions of `table` in `range`.
    fn in_range(&self, table: TableId, range: &KeyRange) -> &[Version] {
        let t = self.table(table);
        let (start, end) = range.as_slices();
        let lo = match start {
            Bound::Included(k) => t.partition_point(|v| &*v.key < k),
            Bound::Excluded(k) => t.partition_point(|v| &*v.key <= k),
            Bound::Unbounded => 0,
        };
        let hi = match end {
            Bound::Included(k) => t.partition_point(|v| &*v.key <= k),
            Bound::Excluded(k) => t.partition_point(|v| &*v.key < k),
            Bound::Unbounded => t.len(),
        };
        if lo < hi { &t[lo..hi] } else { &[] }
    }

    /// Merges `newer` (the run right after this one) into this one.
    fn absorb(&mut self, newer: Run) {
        for (id, versions) in newer.tables {
            match self.tables.binary_search_by_key(&id, |(t, _)| *t) {
                Ok(i) => {
                    let older = std::mem::take(&mut self.tables[i].1);
                    self.tables[i].1 = merge_sorted(older, versions);
                }
                Err(i) => self.tables.insert(i, (id, versions)),
            }
        }
        self.first = self.first.min(newer.first);
        self.last = self.last.max(newer.last);
        self.bytes += newer.bytes;
    }

    /// Drops the versions at or below `bound`; returns the bytes freed.
    fn drop_through(&mut self, bound: u64) -> usize {
        let mut freed = 0;
        for (_, versions) in &mut self.tables {
            versions.retain(|v| {
                let keep = v.seq > bound;
                if !keep {
                    freed += cost(&v.key, &v.value);
                }
                keep
            });
        }
        self.tables.retain(|(_, versions)| !versions.is_empty());
        self.bytes -= freed;
        self.first = self.first.max(bound + 1);
        freed
    }
}

/// Merges two lists sorted by key, then sequence number, where `newer`'s versions of a key are
/// newer than `older`'s.
fn merge_sorted(older: Vec<Version>, newer: Vec<Version>) -> Vec<Version> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut newer = newer.into_iter().peekable();
    for v in older {
        while let Some(n) = newer.next_if(|n| n.key < v.key) {
            out.push(n);
        }
        out.push(v);
    }
    out.extend(newer);
    out
}

/// The versions of one key at a time from a sorted list, in key order or reverse.
struct Groups<'a> {
    rest: &'a [Version],
    reverse: bool,
}

impl<'a> Iterator for Groups<'a> {
    type Item = &'a [Version];

    fn next(&mut self) -> Option<&'a [Version]> {
        let rest = self.rest;
        if self.reverse {
            let key = &rest.last()?.key;
            let start = rest.len() - rest.iter().rev().take_while(|v| v.key == *key).count();
            self.rest = &rest[..start];
            Some(&rest[start..])
        } else {
            let key = &rest.first()?.key;
            let end = rest.iter().take_while(|v| v.key == *key).count();
            self.rest = &rest[end..];
            Some(&rest[..end])
        }
    }
}

/// For each key in any of several sorted lists (of runs oldest first), in key order (descending
/// with `reverse`), the newest version that `keep` admits; keys with none are skipped.
struct NewestPerKey<'a, F> {
    heads: Vec<(Option<&'a [Version]>, Groups<'a>)>,
    reverse: bool,
    keep: F,
}

impl<'a, F: Fn(u64) -> bool> NewestPerKey<'a, F> {
    fn new(lists: impl IntoIterator<Item = &'a [Version]>, reverse: bool, keep: F) -> Self {
        let heads = lists
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|rest| {
                let mut groups = Groups { rest, reverse };
                (groups.next(), groups)
            })
            .collect();
        NewestPerKey { heads, reverse, keep }
    }
}

impl<'a, F: Fn(u64) -> bool> Iterator for NewestPerKey<'a, F> {
    type Item = &'a Version;

    fn next(&mut self) -> Option<&'a Version> {
        loop {
            let reverse = self.reverse;
            let key: &'a [u8] = self
                .heads
                .iter()
                .filter_map(|(head, _)| head.map(|g| &*g[0].key))
                .reduce(|a, b| if (b < a) != reverse { b } else { a })?;
            let mut newest: Option<&'a Version> = None;
            for (head, groups) in &mut self.heads {
                let Some(group) = *head else { continue };
                if *group[0].key != *key {
                    continue;
                }
                // Lists come oldest first, so a later list's admitted version is the newer.
                if let Some(v) = group.iter().rev().find(|v| (self.keep)(v.seq)) {
                    newest = Some(v);
                }
                *head = groups.next();
            }
            if newest.is_some() {
                return newest;
            }
        }
    }
}

impl Memtable {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest version of `key` in `table` at or below `at`: `Some(None)` is a deletion,
    /// `None` means the memtable does not know (read the backend).
    pub(crate) fn get(&self, table: TableId, key: &[u8], at: u64) -> Option<Value> {
        self.runs
            .iter()
            .rev()
            .filter(|run| run.first <= at)
            .find_map(|run| run.versions(table, key).iter().rev().find(|v| v.seq <= at))
            .map(|v| v.value.clone())
    }

    /// Whether `key` has a version newer than `seq` (a write-write conflict).
    pub(crate) fn has_newer(&self, table: TableId, key: &[u8], seq: u64) -> bool {
        self.runs
            .iter()
            .rev()
            .filter(|run| run.last > seq)
            .any(|run| run.versions(table, key).last().is_some_and(|v| v.seq > seq))
    }

    /// Adds the versions of commit `seq`.
    pub(crate) fn insert(&mut self, seq: u64, writes: Writes) {
        let mut bytes = 0;
        let tables: Vec<(TableId, Vec<Version>)> = writes
            .into_iter()
            .filter(|(_, ops)| !ops.is_empty())
            .map(|(table, ops)| {
                let ops = ops.into_iter().map(|(key, value)| {
                    bytes += cost(&key, &value);
                    Version { key, seq, value }
                });
                (table, ops.collect())
            })
            .collect();
        if tables.is_empty() {
            return;
        }
        self.bytes += bytes;
        // Concurrent commits can reach the memtable out of order (they write no common key):
        // the run goes after every run that starts before it.
        let at = self.runs.iter().rposition(|r| r.first < seq).map_or(0, |i| i + 1);
        self.runs.insert(at, Run { first: seq, last: seq, tables, bytes });
        if self.runs.len() > MAX_RUNS {
            self.merge_smallest_pair();
        }
    }

    /// Merges the two adjacent runs with the fewest versions between them.
    fn merge_smallest_pair(&mut self) {
        let sizes = |i: usize| self.runs[i].len() + self.runs[i + 1].len();
        let Some(i) = (0..self.runs.len() - 1).min_by_key(|&i| sizes(i)) else { return };
        if let Some(newer) = self.runs.remove(i + 1) {
            self.runs[i].absorb(newer);
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
        if range.is_empty() {
            return Vec::new();
        }
        let lists =
            self.runs.iter().filter(|run| run.first <= at).map(|r| r.in_range(table, range));
        NewestPerKey::new(lists, reverse, |seq| seq <= at)
            .take(limit)
            .map(|v| (v.key.to_vec(), v.value.clone()))
            .collect()
    }

    /// The operations that bring a backend at checkpoint `after` to `upto`: the newest version at
    /// or below `upto` of every key written after `after`, by table and key.
    pub(crate) fn unindexed(&self, after: u64, upto: u64, names: &Tables) -> Vec<Op> {
        let runs: Vec<&Run> =
            self.runs.iter().filter(|r| r.last > after && r.first <= upto).collect();
        let mut ids: Vec<TableId> =
            runs.iter().flat_map(|r| r.tables.iter().map(|(id, _)| *id)).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut ops = Vec::with_capacity(runs.iter().map(|r| r.len()).sum());
        for id in ids {
            let name: Arc<str> = names.name(id).clone();
            let lists = runs.iter().map(|r| r.table(id));
            for v in NewestPerKey::new(lists, false, |seq| seq > after && seq <= upto) {
                ops.push((name.clone(), v.key.clone(), v.value.clone()));
            }
        }
        ops
    }

    /// The names of the tables with entries.
    pub(crate) fn tables(&self, names: &Tables) -> Vec<String> {
        let mut ids: Vec<TableId> =
            self.runs.iter().flat_map(|r| r.tables.iter().map(|(id, _)| *id)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| names.name(id).to_string()).collect()
    }

    /// Drops every version at or below `bound` (the backend snapshot of every reader has them).
    pub(crate) fn collect_garbage(&mut self, bound: u64) {
        let mut freed = 0;
        self.runs.retain_mut(|run| {
            if run.last <= bound {
                freed += run.bytes;
                false
            } else {
                if run.first <= bound {
                    freed += run.drop_through(bound);
                }
                true
            }
        });
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn v(s: &str) -> Value {
        Some(Arc::from(s.as_bytes()))
    }

    /// Commits `ops` (table, key, value) as commit `seq`.
    fn commit(m: &mut Memtable, seq: u64, ops: &[(TableId, &[u8], Value)]) {
        let mut writes = Writes::new();
        for (table, key, value) in ops {
            writes.entry(*table).or_default().insert(Arc::from(*key), value.clone());
        }
        m.insert(seq, writes);
    }

    #[test]
    fn versions_by_sequence() {
        let mut m = Memtable::default();
        commit(&mut m, 1, &[(0, b"a", v("1"))]);
        commit(&mut m, 3, &[(0, b"a", None)]);
        commit(&mut m, 5, &[(0, b"a", v("5"))]);
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
        commit(&mut m, 1, &[(a, b"1", v("1")), (a, b"2", v("2")), (ab, b"0", v("0"))]);
        commit(&mut m, 2, &[(b, b"1", v("1"))]);
        let keys = |r: Vec<(Vec<u8>, Value)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(m.range(a, &KeyRange::all(), 2, false, usize::MAX)),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        assert_eq!(
            keys(m.range(a, &KeyRange::all(), 2, true, usize::MAX)),
            vec![b"2".to_vec(), b"1".to_vec()]
        );
        assert_eq!(keys(m.range(ab, &KeyRange::all(), 2, false, usize::MAX)), vec![b"0".to_vec()]);
        let ops = m.unindexed(0, 2, &names);
        assert_eq!(ops.len(), 4);
        assert_eq!((&*ops[2].0, &*ops[2].1), ("ab", &b"0"[..]));
        assert_eq!(m.tables(&names), vec!["a", "ab", "b"]);
    }

    /// Every version of every key, by table and key.
    type AllVersions = BTreeMap<(TableId, Vec<u8>), Vec<(u64, Value)>>;

    /// What the memtable must answer, kept the simplest way: every version of every key.
    #[derive(Default)]
    struct Model {
        versions: AllVersions,
    }

    impl Model {
        fn get(&self, table: TableId, key: &[u8], at: u64) -> Option<Value> {
            let versions = self.versions.get(&(table, key.to_vec()))?;
            versions.iter().rev().find(|(s, _)| *s <= at).map(|(_, v)| v.clone())
        }

        fn keys(&self, table: TableId) -> Vec<Vec<u8>> {
            self.versions.keys().filter(|(t, _)| *t == table).map(|(_, k)| k.clone()).collect()
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// A commit of (table, key, put or delete) writes.
        Commit(Vec<(TableId, u8, bool)>),
        /// Garbage collection through this many commits before the newest.
        Collect(u64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let write = (0..3u32, 0..40u8, any::<bool>());
        let step = prop_oneof![
            8 => proptest::collection::vec(write, 1..6).prop_map(Step::Commit),
            1 => (0..12u64).prop_map(Step::Collect),
        ];
        proptest::collection::vec(step, 1..120)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Against the model, through enough commits that runs are merged: every read at every
        /// sequence number the memtable still holds, and what the indexer would take.
        #[test]
        fn runs_answer_like_every_version_kept(steps in steps()) {
            let mut names = Tables::default();
            for t in ["t0", "t1", "t2"] {
                names.intern(t);
            }
            let (mut m, mut model, mut seq, mut bound) = (Memtable::default(), Model::default(), 0, 0);
            for step in steps {
                match step {
                    Step::Commit(ops) => {
                        seq += 1;
                        let ops: Vec<(TableId, Vec<u8>, Value)> = ops
                            .into_iter()
                            .map(|(t, k, put)| (t, vec![k], put.then(|| Arc::from(format!("{seq}").as_bytes()))))
                            .collect();
                        let borrowed: Vec<_> = ops.iter().map(|(t, k, v)| (*t, &k[..], v.clone())).collect();
                        commit(&mut m, seq, &borrowed);
                        let mut last = BTreeMap::new();
                        for (t, k, v) in ops {
                            last.insert((t, k), v);
                        }
                        for (key, v) in last {
                            model.versions.entry(key).or_default().push((seq, v));
                        }
                    }
                    Step::Collect(back) => {
                        bound = bound.max(seq.saturating_sub(back));
                        m.collect_garbage(bound);
                        for versions in model.versions.values_mut() {
                            versions.retain(|(s, _)| *s > bound);
                        }
                        model.versions.retain(|_, v| !v.is_empty());
                    }
                }
                prop_assert!(m.runs.len() <= MAX_RUNS);
            }
            let live: usize = model.versions.iter().map(|((_, k), v)| {
                v.iter().map(|(_, val)| k.len() + value_len(val) + VERSION_OVERHEAD).sum::<usize>()
            }).sum();
            prop_assert_eq!(m.bytes(), live);
            for at in bound..=seq {
                for table in 0..3 {
                    for k in 0..40u8 {
                        prop_assert_eq!(m.get(table, &[k], at), model.get(table, &[k], at));
                        let newer = model.versions.get(&(table, vec![k]))
                            .is_some_and(|v| v.iter().any(|(s, _)| *s > at));
                        prop_assert_eq!(m.has_newer(table, &[k], at), newer);
                    }
                    let visible: Vec<(Vec<u8>, Value)> = model
                        .keys(table)
                        .into_iter()
                        .filter_map(|k| model.get(table, &k, at).map(|v| (k, v)))
                        .collect();
                    for limit in [1, 3, usize::MAX] {
                        let forward: Vec<_> = visible.iter().take(limit).cloned().collect();
                        prop_assert_eq!(m.range(table, &KeyRange::all(), at, false, limit), forward);
                        let backward: Vec<_> = visible.iter().rev().take(limit).cloned().collect();
                        prop_assert_eq!(m.range(table, &KeyRange::all(), at, true, limit), backward);
                    }
                    let range = KeyRange { start: Bound::Excluded(vec![10]), end: Bound::Included(vec![30]) };
                    let inside: Vec<_> = visible.iter().filter(|(k, _)| range.contains(k)).cloned().collect();
                    prop_assert_eq!(m.range(table, &range, at, false, usize::MAX), inside);
                }
                // The indexer's batch from the checkpoint `bound` to `at`.
                let mut expected = Vec::new();
                for ((table, key), versions) in &model.versions {
                    if let Some((s, v)) = versions.iter().rev().find(|(s, _)| *s <= at)
                        && *s > bound
                    {
                        expected.push((names.name(*table).to_string(), key.clone(), v.clone()));
                    }
                }
                let got: Vec<_> = m.unindexed(bound, at, &names)
                    .into_iter()
                    .map(|(t, k, v)| (t.to_string(), k.to_vec(), v))
                    .collect();
                prop_assert_eq!(got, expected);
            }
        }
    }
}
