//! Every table of the chain store, declared in one place with its key and value encodings.
//!
//! Numbers in keys are big-endian so that keys sort in chain order.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | `"head"` | head block number (u64) |
//! | `meta` | `"import"` | while a state import is in progress: its block's number and hash, the last account imported whole, the counts so far |
//! | `meta` | `"pruned_history"`, `"pruned_receipts"`, `"pruned_tx_index"` | the highest block whose history, receipts or transaction-index entries were pruned (absent: none) |
//! | `headers` | number | [`Header`](crate::Header) (RLP) |
//! | `block_numbers` | block hash | number |
//! | `block_txs` | number ‖ index (u32) | transaction hash |
//! | `transactions` | transaction hash | [`StoredTx`] (RLP) |
//! | `receipts` | transaction hash | [`Receipt`](crate::Receipt) (RLP) |
//! | `tx_by_sender` | sender ‖ number ‖ index (u32) | transaction hash |
//! | `tx_by_recipient` | recipient ‖ number ‖ index (u32) | transaction hash |
//! | `logs_by_address` | address ‖ number ‖ log index in block (u32) | [`LogPointer`] |
//! | `logs_by_topic` | position (u8) ‖ topic ‖ number ‖ log index (u32) | [`LogPointer`] |
//! | `hashed_accounts` | keccak(address) | nonce (u64) ‖ balance (32) ‖ code hash (32) |
//! | `hashed_storage` | keccak(address) ‖ keccak(slot) | value (32 bytes, never zero) |
//! | `storage_roots` | keccak(address) | storage root (only for non-empty storage) |
//! | `code` | code hash | code |
//! | `account_trie` | nibble path (one byte per nibble) | branch node (`chainstore_trie::encode_node`) |
//! | `storage_trie` | keccak(address) ‖ nibble path | branch node |
//! | `account_history` | keccak(address) ‖ number | the account before block `number`: `0` absent, or `1` ‖ account ‖ storage root |
//! | `storage_history` | keccak(address) ‖ keccak(slot) ‖ number | the value before the block (zero = absent) |
//! | `account_trie_history` | nibble path (each nibble + 1) ‖ `0` ‖ number | the node before the block: `0` absent, or `1` ‖ node |
//! | `storage_trie_history` | keccak(address) ‖ nibble path (each + 1) ‖ `0` ‖ number | the node before the block, as above |
//! | `account_changes`, `storage_changes`, `account_trie_changes`, `storage_trie_changes` | number | [the keys](crate::history) the block changed (each: length byte, key) |
//! | `blockmeta_<name>` | number | caller-defined per-block metadata |

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use chainstore_engine::db::{Codec, Table};
use chainstore_trie::Account;

use crate::{Header, Receipt, Transaction};

pub(crate) const META: Table<Vec<u8>, u64> = Table::new("meta");
pub(crate) const HEADERS: Table<u64, Header> = Table::new("headers");
pub(crate) const BLOCK_NUMBERS: Table<[u8; 32], u64> = Table::new("block_numbers");
pub(crate) const BLOCK_TXS: &str = "block_txs";
pub(crate) const TRANSACTIONS: Table<[u8; 32], StoredTx> = Table::new("transactions");
pub(crate) const RECEIPTS: Table<[u8; 32], Receipt> = Table::new("receipts");
pub(crate) const TX_BY_SENDER: &str = "tx_by_sender";
pub(crate) const TX_BY_RECIPIENT: &str = "tx_by_recipient";
pub(crate) const LOGS_BY_ADDRESS: &str = "logs_by_address";
pub(crate) const LOGS_BY_TOPIC: &str = "logs_by_topic";
pub(crate) const HASHED_ACCOUNTS: &str = "hashed_accounts";
pub(crate) const HASHED_STORAGE: &str = "hashed_storage";
pub(crate) const STORAGE_ROOTS: Table<[u8; 32], [u8; 32]> = Table::new("storage_roots");
pub(crate) const CODE: Table<[u8; 32], Vec<u8>> = Table::new("code");
pub(crate) const ACCOUNT_TRIE: &str = "account_trie";
pub(crate) const STORAGE_TRIE: &str = "storage_trie";
pub(crate) const ACCOUNT_CHANGES: &str = "account_changes";
pub(crate) const STORAGE_CHANGES: &str = "storage_changes";
pub(crate) const ACCOUNT_TRIE_CHANGES: &str = "account_trie_changes";
pub(crate) const STORAGE_TRIE_CHANGES: &str = "storage_trie_changes";
pub(crate) const ACCOUNT_HISTORY: &str = "account_history";
pub(crate) const STORAGE_HISTORY: &str = "storage_history";
pub(crate) const ACCOUNT_TRIE_HISTORY: &str = "account_trie_history";
pub(crate) const STORAGE_TRIE_HISTORY: &str = "storage_trie_history";
/// Prefix of per-block metadata tables.
pub(crate) const BLOCKMETA_PREFIX: &str = "blockmeta_";

pub(crate) const HEAD_KEY: &[u8] = b"head";
/// The store's first block, when it is not block 0: a state import started the store there.
pub(crate) const FIRST_BLOCK_KEY: &[u8] = b"first_block";
pub(crate) const PRUNED_HISTORY_KEY: &[u8] = b"pruned_history";
pub(crate) const PRUNED_RECEIPTS_KEY: &[u8] = b"pruned_receipts";
pub(crate) const PRUNED_TX_INDEX_KEY: &[u8] = b"pruned_tx_index";
/// In `meta` while a state import is in progress (see [`crate::import`]).
pub(crate) const IMPORT_KEY: &[u8] = b"import";

/// A transaction as stored, with its location.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredTx {
    /// Block number.
    pub block_number: u64,
    /// Index in the block.
    pub index: u64,
    /// Sender.
    pub from: Address,
    /// Recipient: 20 bytes, or empty for a contract creation.
    pub to: Bytes,
    /// Nonce.
    pub nonce: u64,
    /// Raw transaction.
    pub raw: Bytes,
}

impl StoredTx {
    pub(crate) fn new(tx: &Transaction, block_number: u64, index: u64) -> Self {
        Self {
            block_number,
            index,
            from: tx.from,
            to: tx.to.map(|a| Bytes::copy_from_slice(a.as_slice())).unwrap_or_default(),
            nonce: tx.nonce,
            raw: tx.raw.clone(),
        }
    }

    pub(crate) fn to_transaction(&self, hash: B256) -> Result<Transaction, String> {
        let to = match self.to.len() {
            0 => None,
            20 => Some(Address::from_slice(&self.to)),
            n => return Err(format!("recipient of {n} bytes")),
        };
        Ok(Transaction { hash, from: self.from, to, nonce: self.nonce, raw: self.raw.clone() })
    }
}

/// Where a log is: the transaction's index in the block and the log's position in its receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogPointer {
    pub(crate) tx_index: u32,
    pub(crate) position: u32,
}

impl LogPointer {
    pub(crate) fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.tx_index.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, String> {
        let b: [u8; 8] = b.try_into().map_err(|_| format!("log pointer of {} bytes", b.len()))?;
        Ok(Self {
            tx_index: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

macro_rules! rlp_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode_into(&self, out: &mut Vec<u8>) {
                Encodable::encode(self, out);
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                let mut buf = bytes;
                let v = <$t as Decodable>::decode(&mut buf).map_err(|e| e.to_string())?;
                if !buf.is_empty() {
                    return Err(format!("{} trailing bytes", buf.len()));
                }
                Ok(v)
            }
        }
    )*};
}
rlp_codec!(Header, Receipt, StoredTx);

/// Encodes an account of the flat state: nonce ‖ balance ‖ code hash (72 bytes).
pub(crate) fn encode_account(a: &Account) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&a.nonce.to_be_bytes());
    out.extend_from_slice(&a.balance.to_be_bytes::<32>());
    out.extend_from_slice(a.code_hash.as_slice());
    out
}

/// Decodes [`encode_account`].
pub(crate) fn decode_account(b: &[u8]) -> Result<Account, String> {
    if b.len() != 72 {
        return Err(format!("account of {} bytes, expected 72", b.len()));
    }
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&b[..8]);
    Ok(Account {
        nonce: u64::from_be_bytes(nonce),
        balance: U256::from_be_slice(&b[8..40]),
        code_hash: B256::from_slice(&b[40..72]),
    })
}

/// Decodes a stored storage value (32 bytes).
pub(crate) fn decode_value(b: &[u8]) -> Result<U256, String> {
    if b.len() != 32 {
        return Err(format!("storage value of {} bytes, expected 32", b.len()));
    }
    Ok(U256::from_be_slice(b))
}

/// `a ‖ b ‖ ...` as one key.
pub(crate) fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_encoding_round_trips() {
        let a = Account {
            nonce: 7,
            balance: U256::from(1_000_000u64),
            code_hash: B256::repeat_byte(3),
        };
        assert_eq!(decode_account(&encode_account(&a)).unwrap(), a);
        assert!(decode_account(&[0u8; 71]).is_err());
    }
}
