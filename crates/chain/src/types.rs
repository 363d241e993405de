//! What a node hands to [`ChainStore::commit_block`](crate::ChainStore::commit_block) and gets
//! back from queries.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{RlpDecodable, RlpEncodable};

/// One block with everything that goes with it, committed atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockCommit {
    /// Block number: the head's number plus one (0 on an empty store).
    pub number: u64,
    /// Block hash (as the node computed it).
    pub hash: B256,
    /// Must equal the head's hash (ignored for block 0).
    pub parent_hash: B256,
    /// Unix timestamp.
    pub timestamp: u64,
    /// If set, the state root the block must produce; a mismatch rejects the block and changes
    /// nothing.
    pub expected_state_root: Option<B256>,
    /// Transactions in block order.
    pub transactions: Vec<Transaction>,
    /// `receipts[i]` belongs to `transactions[i]`; empty, or one per transaction.
    pub receipts: Vec<Receipt>,
    /// Touched accounts and their new values, applied in order; `None` deletes the account and
    /// all its storage (a later entry may recreate it).
    pub state: Vec<(Address, Option<AccountChange>)>,
    /// Per-block metadata: (table name, value), e.g. `("poh", entries)`.
    pub metadata: Vec<(String, Vec<u8>)>,
}

impl BlockCommit {
    /// The state updates the block makes: one per entry of `state` and one per storage write.
    pub fn state_updates(&self) -> u64 {
        let slots: usize =
            self.state.iter().filter_map(|(_, c)| c.as_ref()).map(|c| c.storage.len()).sum();
        (self.state.len() + slots) as u64
    }
}

/// A transaction as stored: its hash, sender, recipient, nonce and raw encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Recipient; `None` for a contract creation.
    pub to: Option<Address>,
    /// Sender nonce.
    pub nonce: u64,
    /// The signed transaction's encoding.
    pub raw: Bytes,
}

/// A receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Receipt {
    /// The transaction it belongs to.
    pub transaction_hash: B256,
    /// 1 success, 0 failure.
    pub status: u64,
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// Logs emitted, in order.
    pub logs: Vec<Log>,
}

/// An event log.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Log {
    /// Emitting contract.
    pub address: Address,
    /// Up to four topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// New values of an account's fields; a field left `None` is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// New nonce.
    pub nonce: Option<u64>,
    /// New balance.
    pub balance: Option<U256>,
    /// New code.
    pub code: Option<Bytes>,
    /// Storage writes: a zero value deletes the slot.
    pub storage: Vec<(B256, U256)>,
}

/// What a commit produced, with where the time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// The state root after the block.
    pub state_root: B256,
    /// Time spent in each phase.
    pub timings: CommitTimings,
}

/// Time spent in each phase of a commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitTimings {
    /// Applying the state diff and writing block data into the transaction.
    pub apply: std::time::Duration,
    /// Computing the state root.
    pub root: std::time::Duration,
    /// The durable commit (log append and fsync).
    pub commit: std::time::Duration,
}

/// A stored block header.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Header {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp.
    pub timestamp: u64,
    /// State root after the block.
    pub state_root: B256,
    /// Number of transactions.
    pub transaction_count: u64,
    /// Number of logs in the block.
    pub log_count: u64,
}

/// A block as stored: header plus transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Transactions in block order.
    pub transactions: Vec<Transaction>,
}

/// A transaction with where it is in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxLocation {
    /// The transaction.
    pub transaction: Transaction,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Index in the block.
    pub index: u64,
}

/// A log with where it is in the chain (the `eth_getLogs` shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedLog {
    /// The log.
    pub log: Log,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub transaction_hash: B256,
    /// Index of the transaction in the block.
    pub transaction_index: u64,
    /// Index of the log in the block.
    pub log_index: u64,
}

/// A log filter in the `eth_getLogs` shape: every address is an alternative; `topics[i]` lists
/// alternatives for topic position `i` (empty = any); positions are combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// First block (inclusive); default 0.
    pub from_block: Option<u64>,
    /// Last block (inclusive); default the head.
    pub to_block: Option<u64>,
    /// Emitting contracts (any of them; empty = any).
    pub addresses: Vec<Address>,
    /// Per topic position, the accepted values (empty = any).
    pub topics: [Vec<B256>; 4],
}

impl LogFilter {
    /// Whether `log` passes the address and topic conditions.
    pub fn matches(&self, log: &Log) -> bool {
        (self.addresses.is_empty() || self.addresses.contains(&log.address))
            && self.topics.iter().enumerate().all(|(i, wanted)| {
                wanted.is_empty() || log.topics.get(i).is_some_and(|t| wanted.contains(t))
            })
    }
}
