//! Typed tables: a table is declared once, with its name and the codecs of its keys and values,
//! and used through the typed accessors of [`ReadTxn`](super::ReadTxn) and
//! [`WriteTxn`](super::WriteTxn).
//!
//! ```
//! use chainstore_engine::db::{Database, Options, Table};
//! const HEIGHTS: Table<[u8; 32], u64> = Table::new("block_heights");
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), Options::default()).unwrap();
//! let mut txn = db.begin_write();
//! txn.put_as(&HEIGHTS, &[7u8; 32], &42).unwrap();
//! txn.commit().unwrap();
//! assert_eq!(db.begin_read().get_as(&HEIGHTS, &[7u8; 32]).unwrap(), Some(42));
//! ```

use std::marker::PhantomData;

/// How a key or value type is stored. Key encodings must sort as bytes in the order the keys
/// should iterate in (numbers big-endian).
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// Decodes a value; the error says what is wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;

    /// The encoding of `self`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// A table declared with its key and value types.
#[derive(Debug)]
pub struct Table<K, V> {
    name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for Table<K, V> {}

impl<K: Codec, V: Codec> Table<K, V> {
    /// Declares a table named `name`.
    pub const fn new(name: &'static str) -> Self {
        Self { name, types: PhantomData }
    }

    /// The table's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl Codec for Vec<u8> {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

impl<const N: usize> Codec for [u8; N] {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        bytes.try_into().map_err(|_| format!("expected {N} bytes, found {}", bytes.len()))
    }
}

impl Codec for u64 {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        <[u8; 8]>::decode(bytes).map(u64::from_be_bytes)
    }
}

impl Codec for String {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8: {e}"))
    }
}

impl Codec for () {
    fn encode_into(&self, _out: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(format!("expected no bytes, found {}", bytes.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sort_as_bytes() {
        let mut encoded: Vec<Vec<u8>> = [300u64, 2, 70_000, 0].iter().map(Codec::encode).collect();
        encoded.sort();
        let decoded: Vec<u64> = encoded.iter().map(|b| u64::decode(b).unwrap()).collect();
        assert_eq!(decoded, vec![0, 2, 300, 70_000]);
        assert!(u64::decode(&[1, 2]).is_err());
        assert!(<[u8; 4]>::decode(&[1, 2, 3]).is_err());
    }
}
