//! The payload of a commit-log record of type [`WRITE_SET`]: one transaction's writes.
//!
//! ```text
//! u32 LE  number of operations
//! per operation:
//!   u8      kind: 1 = put, 2 = delete
//!   u8      table name length, then the name (UTF-8)
//!   u32 LE  key length, then the key
//!   put only: u32 LE value length, then the value
//! ```

use std::sync::Arc;

/// Record type of a write set in the commit log.
pub(crate) const WRITE_SET: u8 = 1;

const PUT: u8 = 1;
const DELETE: u8 = 2;

/// One decoded operation: table, key, and `Some(value)` for a put or `None` for a delete.
pub(crate) type WriteOp = (Arc<str>, Vec<u8>, Option<Vec<u8>>);

/// Encodes operations (table, key, value-or-delete).
pub(crate) fn encode<'a>(
    ops: impl ExactSizeIterator<Item = (&'a str, &'a [u8], Option<&'a [u8]>)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for (table, key, value) in ops {
        out.push(if value.is_some() { PUT } else { DELETE });
        out.push(table.len() as u8);
        out.extend_from_slice(table.as_bytes());
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        if let Some(v) = value {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
    out
}

/// Decodes a write set; the error says what is wrong and where.
pub(crate) fn decode(mut buf: &[u8]) -> Result<Vec<WriteOp>, String> {
    let total = buf.len();
    let count = read_u32(&mut buf, total)?;
    let mut ops = Vec::with_capacity((count as usize).min(buf.len() / 7));
    let mut tables: Vec<Arc<str>> = Vec::new();
    for _ in 0..count {
        let kind = take(&mut buf, 1, total)?[0];
        let name_len = take(&mut buf, 1, total)?[0] as usize;
        let name = std::str::from_utf8(take(&mut buf, name_len, total)?)
            .map_err(|_| format!("table name is not UTF-8 at byte {}", total - buf.len()))?;
        let table = match tables.iter().find(|t| &***t == name) {
            Some(t) => t.clone(),
            None => {
                let t: Arc<str> = Arc::from(name);
                tables.push(t.clone());
                t
            }
        };
        let key_len = read_u32(&mut buf, total)? as usize;
        let key = take(&mut buf, key_len, total)?.to_vec();
        let value = match kind {
            PUT => {
                let len = read_u32(&mut buf, total)? as usize;
                Some(take(&mut buf, len, total)?.to_vec())
            }
            DELETE => None,
            k => return Err(format!("unknown operation kind {k}")),
        };
        ops.push((table, key, value));
    }
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(ops)
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

    type Borrowed<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

    #[test]
    fn round_trip_and_damage() {
        let ops: Vec<Borrowed<'_>> =
            vec![("a", b"k1", Some(b"v1")), ("bb", b"", None), ("a", b"k2", Some(b""))];
        let bytes = encode(ops.clone().into_iter());
        let decoded = decode(&bytes).unwrap();
        let back: Vec<Borrowed<'_>> =
            decoded.iter().map(|(t, k, v)| (&**t, k.as_slice(), v.as_deref())).collect();
        assert_eq!(back, ops);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncation at {cut} accepted");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
    }
}
