//! The trie's cursors over the store's tables, for a read snapshot or a write transaction.

use alloy_primitives::{B256, U256};
use chainstore_engine::backend::{KeyRange, prefix_successor};
use chainstore_engine::db::{PairIter, ReadTxn, WriteTxn};
use chainstore_trie::{
    Account, HashedCursor, HashedCursorFactory, StoredNode, TrieCursor, TrieCursorFactory,
    TrieError, decode_node, decode_path, encode_path,
};
use std::ops::Bound;

use crate::schema::{
    ACCOUNT_TRIE, HASHED_ACCOUNTS, HASHED_STORAGE, STORAGE_TRIE, decode_account, decode_value,
};

/// Ordered reads: what both snapshots and write transactions offer.
pub(crate) trait Reader {
    /// Pairs of `table` in `range`, ascending.
    fn range(&self, table: &str, range: KeyRange) -> chainstore_engine::db::Result<PairIter<'_>>;
    /// The value of `key` in `table`.
    fn get(&self, table: &str, key: &[u8]) -> chainstore_engine::db::Result<Option<Vec<u8>>>;
}

impl Reader for ReadTxn {
    fn range(&self, table: &str, range: KeyRange) -> chainstore_engine::db::Result<PairIter<'_>> {
        ReadTxn::range(self, table, range, false)
    }

    fn get(&self, table: &str, key: &[u8]) -> chainstore_engine::db::Result<Option<Vec<u8>>> {
        ReadTxn::get(self, table, key)
    }
}

impl Reader for WriteTxn {
    fn range(&self, table: &str, range: KeyRange) -> chainstore_engine::db::Result<PairIter<'_>> {
        WriteTxn::range(self, table, range, false)
    }

    fn get(&self, table: &str, key: &[u8]) -> chainstore_engine::db::Result<Option<Vec<u8>>> {
        WriteTxn::get(self, table, key)
    }
}

/// A key and its value.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// The trie's view of a snapshot or transaction: stored nodes and hashed flat state.
pub(crate) struct View<'r, R>(pub(crate) &'r R);

/// A cursor over the keys of `table` that start with `prefix`, with the prefix stripped.
pub(crate) struct PrefixCursor<'a, R> {
    reader: &'a R,
    table: &'static str,
    prefix: Vec<u8>,
    iter: Option<PairIter<'a>>,
    /// The entry the cursor is at (key without the prefix), for forward seeks.
    current: Option<Pair>,
}

/// A seek to a key shortly after the current one steps forward this many entries before it
/// opens a new range: the trie walks keys in order, and a fresh range is a B-tree descent.
const FORWARD_STEPS: usize = 8;

impl<'a, R: Reader> PrefixCursor<'a, R> {
    pub(crate) fn new(reader: &'a R, table: &'static str, prefix: &[u8]) -> Self {
        Self { reader, table, prefix: prefix.to_vec(), iter: None, current: None }
    }

    fn seek_raw(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError> {
        if let Some((key, _)) = &self.current
            && key.as_slice() <= suffix
            && self.iter.is_some()
        {
            if key.as_slice() == suffix {
                return Ok(self.current.clone());
            }
            for _ in 0..FORWARD_STEPS {
                match self.next_raw()? {
                    Some((k, v)) if k.as_slice() >= suffix => return Ok(Some((k, v))),
                    Some(_) => {}
                    None => return Ok(None),
                }
            }
        }
        self.seek_fresh(suffix)
    }

    fn seek_fresh(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError> {
        let start = [self.prefix.as_slice(), suffix].concat();
        let end = match prefix_successor(&self.prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let range = KeyRange { start: Bound::Included(start), end };
        self.iter = Some(self.reader.range(self.table, range).map_err(TrieError::cursor)?);
        self.next_raw()
    }

    fn next_raw(&mut self) -> Result<Option<Pair>, TrieError> {
        let Some(iter) = self.iter.as_mut() else { return Ok(None) };
        let entry = match iter.next() {
            Some(Ok((k, v))) => Some((k[self.prefix.len()..].to_vec(), v)),
            Some(Err(e)) => return Err(TrieError::cursor(e)),
            None => None,
        };
        self.current.clone_from(&entry);
        if entry.is_none() {
            self.iter = None;
        }
        Ok(entry)
    }
}

pub(crate) fn corrupt(table: &str, detail: String) -> TrieError {
    TrieError::cursor(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{table}: {detail}"),
    ))
}

fn node(entry: Option<Pair>) -> Result<Option<StoredNode>, TrieError> {
    entry.map(|(k, v)| Ok((decode_path(&k)?, decode_node(&v)?))).transpose()
}

impl<R: Reader> RawCursor for PrefixCursor<'_, R> {
    fn seek_raw(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError> {
        PrefixCursor::seek_raw(self, suffix)
    }

    fn next_raw(&mut self) -> Result<Option<Pair>, TrieError> {
        PrefixCursor::next_raw(self)
    }
}

/// Ordered raw entries (key suffix, value) of one table, or of one account's part of it.
pub(crate) trait RawCursor {
    /// The first entry at or after `suffix`.
    fn seek_raw(&mut self, suffix: &[u8]) -> Result<Option<Pair>, TrieError>;
    /// The entry after the last one returned.
    fn next_raw(&mut self) -> Result<Option<Pair>, TrieError>;
}

/// A cursor over stored trie nodes.
pub(crate) struct Nodes<C>(pub(crate) C);
/// A cursor over hashed accounts.
pub(crate) struct Accounts<C>(pub(crate) C);
/// A cursor over one account's hashed storage.
pub(crate) struct Slots<C>(pub(crate) C);

impl<C: RawCursor> TrieCursor for Nodes<C> {
    fn seek(&mut self, path: &chainstore_trie::Nibbles) -> Result<Option<StoredNode>, TrieError> {
        let entry = self.0.seek_raw(&encode_path(path))?;
        node(entry)
    }

    fn next(&mut self) -> Result<Option<StoredNode>, TrieError> {
        let entry = self.0.next_raw()?;
        node(entry)
    }
}

fn hashed_key(table: &str, k: &[u8]) -> Result<B256, TrieError> {
    if k.len() != 32 {
        return Err(corrupt(table, format!("key of {} bytes", k.len())));
    }
    Ok(B256::from_slice(k))
}

impl<C: RawCursor> HashedCursor for Accounts<C> {
    type Value = Account;

    fn seek(&mut self, key: B256) -> Result<Option<(B256, Account)>, TrieError> {
        let entry = self.0.seek_raw(key.as_slice())?;
        account_entry(entry)
    }

    fn next(&mut self) -> Result<Option<(B256, Account)>, TrieError> {
        let entry = self.0.next_raw()?;
        account_entry(entry)
    }
}

fn account_entry(entry: Option<Pair>) -> Result<Option<(B256, Account)>, TrieError> {
    entry
        .map(|(k, v)| {
            let account = decode_account(&v).map_err(|d| corrupt(HASHED_ACCOUNTS, d))?;
            Ok((hashed_key(HASHED_ACCOUNTS, &k)?, account))
        })
        .transpose()
}

impl<C: RawCursor> HashedCursor for Slots<C> {
    type Value = U256;

    fn seek(&mut self, key: B256) -> Result<Option<(B256, U256)>, TrieError> {
        let entry = self.0.seek_raw(key.as_slice())?;
        value_entry(entry)
    }

    fn next(&mut self) -> Result<Option<(B256, U256)>, TrieError> {
        let entry = self.0.next_raw()?;
        value_entry(entry)
    }
}

fn value_entry(entry: Option<Pair>) -> Result<Option<(B256, U256)>, TrieError> {
    entry
        .map(|(k, v)| {
            let value = decode_value(&v).map_err(|d| corrupt(HASHED_STORAGE, d))?;
            Ok((hashed_key(HASHED_STORAGE, &k)?, value))
        })
        .transpose()
}

impl<R: Reader> TrieCursorFactory for View<'_, R> {
    type AccountCursor<'a>
        = Nodes<PrefixCursor<'a, R>>
    where
        Self: 'a;
    type StorageCursor<'a>
        = Nodes<PrefixCursor<'a, R>>
    where
        Self: 'a;

    fn account_trie_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(Nodes(PrefixCursor::new(self.0, ACCOUNT_TRIE, &[])))
    }

    fn storage_trie_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(Nodes(PrefixCursor::new(self.0, STORAGE_TRIE, hashed_address.as_slice())))
    }
}

impl<R: Reader> HashedCursorFactory for View<'_, R> {
    type AccountCursor<'a>
        = Accounts<PrefixCursor<'a, R>>
    where
        Self: 'a;
    type StorageCursor<'a>
        = Slots<PrefixCursor<'a, R>>
    where
        Self: 'a;

    fn hashed_account_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError> {
        Ok(Accounts(PrefixCursor::new(self.0, HASHED_ACCOUNTS, &[])))
    }

    fn hashed_storage_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError> {
        Ok(Slots(PrefixCursor::new(self.0, HASHED_STORAGE, hashed_address.as_slice())))
    }
}
