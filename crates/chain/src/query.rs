//! Reading the chain: blocks, transactions, receipts, logs, state and proofs. Every query reads
//! one consistent snapshot.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use chainstore_trie::{AccountProof, EMPTY_TRIE_ROOT, account_proof};
use std::ops::Bound;

use crate::apply::metadata_table;
use crate::cursors::View;
use crate::error::{ChainError, Result, corrupt};
use crate::prune::{Prunable, pruned_through};
use crate::schema::*;
use crate::{Block, ChainStore, Header, LocatedLog, LogFilter, Receipt, Transaction, TxLocation};

/// An account's state, as `eth_getProof` and the `account` command report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountInfo {
    /// Nonce.
    pub nonce: u64,
    /// Balance.
    pub balance: U256,
    /// Code hash (`keccak256` of empty code for accounts without code).
    pub code_hash: B256,
    /// Storage root (the empty-trie root for accounts without storage).
    pub storage_root: B256,
}

impl AccountInfo {
    pub(crate) fn new(account: chainstore_trie::Account, storage_root: B256) -> Self {
        Self {
            nonce: account.nonce,
            balance: account.balance,
            code_hash: account.code_hash,
            storage_root,
        }
    }
}

fn b256(table: &'static str, bytes: &[u8]) -> Result<B256> {
    if bytes.len() != 32 {
        return Err(corrupt(table, "-", format!("value of {} bytes, expected 32", bytes.len())));
    }
    Ok(B256::from_slice(bytes))
}

impl ChainStore {
    /// A read snapshot, for several queries that must agree with each other.
    pub fn snapshot(&self) -> ReadTxn {
        self.db.begin_read()
    }

    /// The header of block `number`.
    pub fn header(&self, number: u64) -> Result<Option<Header>> {
        Ok(self.db.begin_read().get_as(&HEADERS, &number)?)
    }

    /// Block `number` with its transactions.
    pub fn block(&self, number: u64) -> Result<Option<Block>> {
        let r = self.db.begin_read();
        block_at(&r, number)
    }

    /// The block with hash `hash`.
    pub fn block_by_hash(&self, hash: B256) -> Result<Option<Block>> {
        let r = self.db.begin_read();
        match r.get_as(&BLOCK_NUMBERS, &hash.0)? {
            Some(n) => block_at(&r, n),
            None => Ok(None),
        }
    }

    /// The number of the block with hash `hash`.
    pub fn block_number(&self, hash: B256) -> Result<Option<u64>> {
        Ok(self.db.begin_read().get_as(&BLOCK_NUMBERS, &hash.0)?)
    }

    /// A transaction and where it is.
    pub fn transaction(&self, hash: B256) -> Result<Option<TxLocation>> {
        let r = self.db.begin_read();
        locate(&r, hash)
    }

    /// A receipt and where its transaction is; [`ChainError::Pruned`] if its block's receipts
    /// were pruned.
    pub fn receipt(&self, hash: B256) -> Result<Option<(Receipt, TxLocation)>> {
        let r = self.db.begin_read();
        let Some(receipt) = r.get_as(&RECEIPTS, &hash.0)? else {
            if let Some(location) = locate(&r, hash)? {
                check_not_pruned(&r, Prunable::Receipts, location.block_number)?;
            }
            return Ok(None);
        };
        let location = locate(&r, hash)?
            .ok_or_else(|| corrupt("transactions", hash, "receipt without transaction"))?;
        Ok(Some((receipt, location)))
    }

    /// The transactions `address` sent or received in blocks `from..=to`, in chain order;
    /// [`ChainError::Pruned`] if the index no longer reaches back to `from`.
    pub fn transactions_by_address(
        &self,
        address: Address,
        from: u64,
        to: u64,
    ) -> Result<Vec<TxLocation>> {
        let mut found = Vec::new();
        self.for_each_transaction_by_address(address, from, to, |t| {
            found.push(t);
            Ok::<_, ChainError>(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// [`Self::transactions_by_address`] one transaction at a time, in chain order, until `visit`
    /// breaks: the caller streams or stops early without holding the whole answer. The index
    /// positions (a few bytes each) are gathered first, to merge sent and received in order.
    pub fn for_each_transaction_by_address<E: From<ChainError>>(
        &self,
        address: Address,
        from: u64,
        to: u64,
        mut visit: impl FnMut(TxLocation) -> std::result::Result<ControlFlow<()>, E>,
    ) -> std::result::Result<(), E> {
        let r = self.db.begin_read();
        check_not_pruned(&r, Prunable::TxIndex, from)?;
        let mut found = BTreeMap::new();
        for table in [TX_BY_SENDER, TX_BY_RECIPIENT] {
            let range = block_range(address.as_slice(), from, to);
            for pair in r.range(table, range, false).map_err(ChainError::from)? {
                let (k, v) = pair.map_err(ChainError::from)?;
                let position = k[20..].to_vec();
                found.insert(position, b256(table, &v)?);
            }
        }
        for h in found.into_values() {
            let t = locate(&r, h)?
                .ok_or_else(|| corrupt("transactions", h, "index entry without transaction"))?;
            if visit(t)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Logs matching `filter`, in chain order (the `eth_getLogs` rules). Without a `from_block`,
    /// from the oldest block whose receipts are kept; [`ChainError::Pruned`] if `from_block` is
    /// older.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LocatedLog>> {
        let mut out = Vec::new();
        self.for_each_log(filter, |log| {
            out.push(log);
            Ok::<_, ChainError>(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// [`Self::logs`] one log at a time, in chain order, until `visit` breaks: a caller with a
    /// result limit stops at it, and one that prints streams. Only one block's header and
    /// receipts are held at a time; with an address or topic filter the index pointers (16
    /// bytes per candidate) are gathered first, to merge the filter's alternatives in order.
    pub fn for_each_log<E: From<ChainError>>(
        &self,
        filter: &LogFilter,
        mut visit: impl FnMut(LocatedLog) -> std::result::Result<ControlFlow<()>, E>,
    ) -> std::result::Result<(), E> {
        let r = self.db.begin_read();
        let Some(head) = r.get_as(&META, &HEAD_KEY.to_vec()).map_err(ChainError::from)? else {
            return Ok(());
        };
        let from = match filter.from_block {
            Some(from) => {
                check_not_pruned(&r, Prunable::Receipts, from)?;
                from
            }
            None => pruned_through(&r, Prunable::Receipts)?.map_or(0, |p| p + 1),
        };
        let to = filter.to_block.unwrap_or(head).min(head);
        if from > to {
            return Ok(());
        }
        if filter.addresses.is_empty() && filter.topics.iter().all(Vec::is_empty) {
            // No index applies: every log of every block in the range, block by block.
            for number in from..=to {
                let Some(h) = r.get_as(&HEADERS, &number).map_err(ChainError::from)? else {
                    continue;
                };
                let mut log_index = 0u64;
                for tx_index in 0..h.transaction_count as u32 {
                    let (transaction_hash, receipt) = receipt_at(&r, number, tx_index)?;
                    for log in receipt.logs {
                        let located = LocatedLog {
                            log,
                            block_number: number,
                            block_hash: h.hash,
                            transaction_hash,
                            transaction_index: u64::from(tx_index),
                            log_index,
                        };
                        log_index += 1;
                        if visit(located)?.is_break() {
                            return Ok(());
                        }
                    }
                }
            }
            return Ok(());
        }
        let mut block: Option<BlockLogs> = None;
        for ((number, log_index), pointer) in log_candidates(&r, filter, from, to)? {
            let b = match &mut block {
                Some(b) if b.number == number => b,
                slot => {
                    let header = r.get_as(&HEADERS, &number).map_err(ChainError::from)?;
                    let header = header.ok_or_else(|| {
                        corrupt("headers", number, "log index entry for a missing block")
                    })?;
                    slot.insert(BlockLogs { number, hash: header.hash, receipts: HashMap::new() })
                }
            };
            let (transaction_hash, receipt) = match b.receipts.entry(pointer.tx_index) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(receipt_at(&r, number, pointer.tx_index)?),
            };
            let log = receipt
                .logs
                .get(pointer.position as usize)
                .ok_or_else(|| corrupt("logs index", number, "points past the receipt's logs"))?;
            if !filter.matches(log) {
                continue;
            }
            let located = LocatedLog {
                log: log.clone(),
                block_number: number,
                block_hash: b.hash,
                transaction_hash: *transaction_hash,
                transaction_index: u64::from(pointer.tx_index),
                log_index: u64::from(log_index),
            };
            if visit(located)?.is_break() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// An account's state at the head (`None` if it does not exist).
    pub fn account(&self, address: Address) -> Result<Option<AccountInfo>> {
        let r = self.db.begin_read();
        let hashed = keccak256(address);
        let Some(bytes) = r.get(HASHED_ACCOUNTS, hashed.as_slice())? else { return Ok(None) };
        let a = decode_account(&bytes).map_err(|d| corrupt(HASHED_ACCOUNTS, hashed, d))?;
        let storage_root = r.get_as(&STORAGE_ROOTS, &hashed.0)?.map_or(EMPTY_TRIE_ROOT, B256::from);
        Ok(Some(AccountInfo::new(a, storage_root)))
    }

    /// A storage slot's value at the head (zero if unset).
    pub fn storage(&self, address: Address, slot: B256) -> Result<U256> {
        let r = self.db.begin_read();
        let k = key(&[keccak256(address).as_slice(), keccak256(slot).as_slice()]);
        match r.get(HASHED_STORAGE, &k)? {
            Some(v) => decode_value(&v).map_err(|d| corrupt(HASHED_STORAGE, address, d)),
            None => Ok(U256::ZERO),
        }
    }

    /// Code by its hash.
    pub fn code(&self, code_hash: B256) -> Result<Option<Bytes>> {
        Ok(self.db.begin_read().get_as(&CODE, &code_hash.0)?.map(Bytes::from))
    }

    /// An EIP-1186 proof of `address` and `slots` against the head's state root.
    pub fn proof(&self, address: Address, slots: &[B256]) -> Result<AccountProof> {
        let r = self.db.begin_read();
        let view = View(&r);
        Ok(account_proof(&view, &view, address, slots)?)
    }

    /// Per-block metadata `name` of block `number`.
    pub fn metadata(&self, name: &str, number: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.db.begin_read().get(&metadata_table(name)?, &number.to_be_bytes())?)
    }
}

/// Fails with [`ChainError::Pruned`] if block `number`'s `what` was pruned.
fn check_not_pruned(r: &ReadTxn, what: Prunable, number: u64) -> Result<()> {
    match pruned_through(r, what)? {
        Some(p) if number <= p => Err(ChainError::Pruned {
            what: what.name(),
            requested: number,
            oldest_available: p + 1,
        }),
        _ => Ok(()),
    }
}

/// Keys `prefix ‖ number ‖ ...` for `from <= number <= to`.
fn block_range(prefix: &[u8], from: u64, to: u64) -> KeyRange {
    let start = key(&[prefix, &from.to_be_bytes()]);
    let end = match to.checked_add(1) {
        Some(next) => Bound::Excluded(key(&[prefix, &next.to_be_bytes()])),
        None => match chainstore_engine::backend::prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
    };
    KeyRange { start: Bound::Included(start), end }
}

/// The block whose logs [`ChainStore::for_each_log`] is reading, with the receipts read so far.
struct BlockLogs {
    number: u64,
    hash: B256,
    receipts: HashMap<u32, (B256, Receipt)>,
}

/// (block, log index) → pointer of every log that may match, from the index of the filter's
/// addresses or else of its first topic position (the caller has checked there is one).
fn log_candidates(
    r: &ReadTxn,
    filter: &LogFilter,
    from: u64,
    to: u64,
) -> Result<BTreeMap<(u64, u32), LogPointer>> {
    let mut out = BTreeMap::new();
    let mut scan = |table: &'static str, prefix: Vec<u8>| -> Result<()> {
        for pair in r.range(table, block_range(&prefix, from, to), false)? {
            let (k, v) = pair?;
            let tail = &k[prefix.len()..];
            let number = u64::from_be_bytes(
                tail[..8].try_into().map_err(|_| corrupt(table, "-", "short key"))?,
            );
            let index = u32::from_be_bytes(
                tail[8..12].try_into().map_err(|_| corrupt(table, "-", "short key"))?,
            );
            out.insert(
                (number, index),
                LogPointer::decode(&v).map_err(|d| corrupt(table, number, d))?,
            );
        }
        Ok(())
    };
    if !filter.addresses.is_empty() {
        for a in &filter.addresses {
            scan(LOGS_BY_ADDRESS, a.to_vec())?;
        }
    } else if let Some((p, topics)) = filter.topics.iter().enumerate().find(|(_, t)| !t.is_empty())
    {
        for t in topics {
            scan(LOGS_BY_TOPIC, key(&[&[p as u8], t.as_slice()]))?;
        }
    }
    Ok(out)
}

/// The hash and receipt of transaction `tx_index` of block `number` (an empty receipt if the
/// block was committed without receipts).
fn receipt_at(r: &ReadTxn, number: u64, tx_index: u32) -> Result<(B256, Receipt)> {
    let k = key(&[&number.to_be_bytes(), &tx_index.to_be_bytes()]);
    let hash =
        r.get(BLOCK_TXS, &k)?.ok_or_else(|| corrupt(BLOCK_TXS, number, "missing transaction"))?;
    let hash = b256(BLOCK_TXS, &hash)?;
    let receipt = r.get_as(&RECEIPTS, &hash.0)?.unwrap_or_default();
    Ok((hash, receipt))
}

fn locate(r: &ReadTxn, hash: B256) -> Result<Option<TxLocation>> {
    let Some(stored) = r.get_as(&TRANSACTIONS, &hash.0)? else { return Ok(None) };
    let header = r
        .get_as(&HEADERS, &stored.block_number)?
        .ok_or_else(|| corrupt("headers", stored.block_number, "transaction in a missing block"))?;
    let transaction = stored.to_transaction(hash).map_err(|d| corrupt("transactions", hash, d))?;
    Ok(Some(TxLocation {
        transaction,
        block_number: stored.block_number,
        block_hash: header.hash,
        index: stored.index,
    }))
}

pub(crate) fn block_at(r: &ReadTxn, number: u64) -> Result<Option<Block>> {
    let Some(header) = r.get_as(&HEADERS, &number)? else { return Ok(None) };
    let mut transactions: Vec<Transaction> = Vec::new();
    for pair in r.range(BLOCK_TXS, KeyRange::prefix(&number.to_be_bytes()), false)? {
        let (_, v) = pair?;
        let hash = b256(BLOCK_TXS, &v)?;
        let stored = r
            .get_as(&TRANSACTIONS, &hash.0)?
            .ok_or_else(|| corrupt("transactions", hash, "listed in a block but missing"))?;
        transactions
            .push(stored.to_transaction(hash).map_err(|d| corrupt("transactions", hash, d))?);
    }
    Ok(Some(Block { header, transactions }))
}
