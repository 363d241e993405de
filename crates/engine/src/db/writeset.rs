//! The writes of one transaction: in memory ([`Writes`], keyed by table id) and as the payload of
//! a commit-log record of type [`WRITE_SET`] (keyed by table name, each name written once).
//!
//! ```text
//! u16 LE  number of tables
//! per table:
//!   u8      name length (1..=255), then the name (UTF-8)
//!   u32 LE  number of operations on the table, in key order
//!   per operation:
//!     u8      kind: 1 = put, 2 = delete
//!     u32 LE  key length, then the key
//!     put only: u32 LE value length, then the value
//! ```
//!
//! Table ids are the process's own (a [`Tables`] registry interns names as they are first used):
//! a record names its tables, so it reads the same in any process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Record type of a write set in the commit log.
pub(crate) const WRITE_SET: u8 = 1;

const PUT: u8 = 1;
const DELETE: u8 = 2;

/// A table's number in this process.
pub(crate) type TableId = u32;

/// A value, or `None` for a deletion (shared from the transaction to the memtable and on to the
/// backend, never copied).
pub(crate) type Value = Option<Arc<[u8]>>;

/// A key, shared the same way.
pub(crate) type Key = Arc<[u8]>;

/// One table's writes, by key.
pub(crate) type TableWrites = BTreeMap<Key, Value>;

/// A transaction's writes, by table.
pub(crate) type Writes = BTreeMap<TableId, TableWrites>;

/// The table names of this process, each with a number.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    ids: HashMap<Arc<str>, TableId>,
    names: Vec<Arc<str>>,
}

impl Tables {
    /// The id of `name`, if it has one.
    pub(crate) fn id(&self, name: &str) -> Option<TableId> {
        self.ids.get(name).copied()
    }

    /// The id of `name`, giving it the next one if it has none.
    pub(crate) fn intern(&mut self, name: &str) -> TableId {
        if let Some(id) = self.id(name) {
            return id;
        }
        let id = self.names.len() as TableId;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The name of table `id` (ids come only from [`Tables::intern`]).
    pub(crate) fn name(&self, id: TableId) -> &Arc<str> {
        &self.names[id as usize]
    }
}

/// What is wrong with `name` as a table name, if anything: 1 to 255 bytes, not starting with `__`
/// (the backends' own tables, such as redb's `__chainstore_meta` with the checkpoint). The rule
/// for the tables a transaction writes and for those a write set read from the log names.
pub(crate) fn table_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name.len() > 255 {
        Some("longer than 255 bytes")
    } else if name.starts_with("__") {
        Some("names starting with __ are reserved")
    } else {
        None
    }
}

/// The length of the encoding of `writes`.
pub(crate) fn encoded_len(writes: &Writes, tables: &Tables) -> usize {
    let tables_len = writes.iter().filter(|(_, w)| !w.is_empty()).map(|(id, w)| {
        let ops = w.iter().map(|(k, v)| 5 + k.len() + v.as_ref().map_or(0, |v| 4 + v.len()));
        1 + tables.name(*id).len() + 4 + ops.sum::<usize>()
    });
    2 + tables_len.sum::<usize>()
}

/// Encodes `writes` (every table in it must be in `tables`).
#[cfg(test)]
pub(crate) fn encode(writes: &Writes, tables: &Tables) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(writes, tables));
    encode_into(&mut out, writes, tables);
    out
}

/// Appends the encoding of `writes` to `out` (every table in it must be in `tables`).
pub(crate) fn encode_into(out: &mut Vec<u8>, writes: &Writes, tables: &Tables) {
    let used: Vec<_> = writes.iter().filter(|(_, w)| !w.is_empty()).collect();
    out.extend_from_slice(&(used.len() as u16).to_le_bytes());
    for (id, table_writes) in used {
        let name = tables.name(*id);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(table_writes.len() as u32).to_le_bytes());
        for (key, value) in table_writes {
            out.push(if value.is_some() { PUT } else { DELETE });
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            if let Some(v) = value {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
        }
    }
}

/// A decoded write set: per table name, the operations in key order.
pub(crate) type Decoded = Vec<(String, Vec<(Key, Value)>)>;

/// Decodes a write set; the error says what is wrong and where.
pub(crate) fn decode(mut buf: &[u8]) -> Result<Decoded, String> {
    let total = buf.len();
    let count = u16::from_le_bytes(take(&mut buf, 2, total)?.try_into().unwrap_or_default());
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let at = total - buf.len();
        let name_len = take(&mut buf, 1, total)?[0] as usize;
        let name = std::str::from_utf8(take(&mut buf, name_len, total)?)
            .map_err(|_| format!("table name is not UTF-8 at byte {}", total - buf.len()))?
            .to_string();
        // Only what a transaction can write: a reserved name would reach a backend's own table.
        if let Some(problem) = table_name_problem(&name) {
            return Err(format!("table name {name:?} at byte {at}: {problem}"));
        }
        let ops = read_u32(&mut buf, total)? as usize;
        let mut table = Vec::with_capacity(ops.min(buf.len() / 5));
        for _ in 0..ops {
            let kind = take(&mut buf, 1, total)?[0];
            let key_len = read_u32(&mut buf, total)? as usize;
            let key: Key = take(&mut buf, key_len, total)?.into();
            let value = match kind {
                PUT => {
                    let len = read_u32(&mut buf, total)? as usize;
                    Some(Arc::from(take(&mut buf, len, total)?))
                }
                DELETE => None,
                k => return Err(format!("unknown operation kind {k}")),
            };
            table.push((key, value));
        }
        out.push((name, table));
    }
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(out)
}

/// One operation of a decoded write set: table, key, value (`None`: delete).
pub type WriteOp = (String, Vec<u8>, Option<Vec<u8>>);

/// Decodes the payload of a commit-log record of the database (type 1, a write set) into its
/// operations, for tools that read the log.
pub fn decode_write_set(payload: &[u8]) -> Result<Vec<WriteOp>, String> {
    Ok(decode(payload)?
        .into_iter()
        .flat_map(|(table, ops)| {
            ops.into_iter().map(move |(k, v)| (table.clone(), k.to_vec(), v.map(|v| v.to_vec())))
        })
        .collect())
}

fn take<'a>(buf: &mut &'a [u8], n: usize, total: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(format!("truncated at byte {} (needs {n} more)", total - buf.len()));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn read_u32(buf: &mut &[u8], total: usize) -> Result<u32, String> {
    let b = take(buf, 4, total)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut tables = Tables::default();
        let (a, bb) = (tables.intern("a"), tables.intern("bb"));
        let mut writes = Writes::new();
        let v = |s: &[u8]| Some(Arc::<[u8]>::from(s));
        writes.entry(a).or_default().insert(b"k1"[..].into(), v(b"v1"));
        writes.entry(a).or_default().insert(b"k2"[..].into(), v(b""));
        writes.entry(bb).or_default().insert(b""[..].into(), None);
        let bytes = encode(&writes, &tables);
        let decoded = decode_write_set(&bytes).unwrap();
        let ops: Vec<WriteOp> = vec![
            ("a".into(), b"k1".to_vec(), Some(b"v1".to_vec())),
            ("a".into(), b"k2".to_vec(), Some(Vec::new())),
            ("bb".into(), Vec::new(), None),
        ];
        assert_eq!(decoded, ops);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncation at {cut} accepted");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
    }

    /// Found by the `write_set` fuzz target: a write set naming a reserved table (here `__tat`)
    /// decoded, and replaying it would have written into a backend's own table
    /// (`fuzz/corpus/write_set/reserved-name`).
    #[test]
    fn reserved_and_empty_names_are_rejected() {
        for (name, problem) in
            [("__chainstore_meta", "names starting with __ are reserved"), ("", "empty")]
        {
            let mut tables = Tables::default();
            let mut writes = Writes::new();
            writes.entry(tables.intern(name)).or_default().insert(b"k"[..].into(), None);
            let e = decode(&encode(&writes, &tables)).map(|_| ()).unwrap_err();
            assert_eq!(e, format!("table name {name:?} at byte 2: {problem}"));
        }
    }

    #[test]
    fn ids_are_interned_once() {
        let mut tables = Tables::default();
        assert_eq!(tables.intern("x"), 0);
        assert_eq!(tables.intern("y"), 1);
        assert_eq!(tables.intern("x"), 0);
        assert_eq!((tables.id("y"), tables.id("z")), (Some(1), None));
        assert_eq!(&**tables.name(1), "y");
    }
}
