//! The store's records as alloy's RPC objects. What the store does not hold is listed in
//! `docs/rpc.md` ("Fields the store does not hold"); each such field is set here, in one place.

use alloy_consensus::{
    Eip658Value, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope, TxType,
    transaction::Recovered,
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bloom, U64, logs_bloom};
use alloy_rpc_types_eth as rpc;
use chainstore_chain::{Block, Header, LocatedLog, Log, Receipt, Transaction, TxLocation};
use chainstore_trie::AccountProof;
use serde::Serialize;

/// A transaction as the RPC reports it: alloy's full object when the stored `raw` is the
/// transaction's EIP-2718 encoding (it decodes, and hashes to the stored hash); otherwise the
/// fields the store holds.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RpcTransaction {
    /// Decoded from `raw`.
    Decoded(Box<rpc::Transaction>),
    /// Only the stored fields.
    Stored(StoredTransaction),
}

/// The stored fields of a transaction whose `raw` is not a decodable transaction.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTransaction {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Recipient; `null` for a contract creation.
    pub to: Option<Address>,
    /// Sender nonce.
    pub nonce: U64,
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: U64,
    /// Index in the block.
    pub transaction_index: U64,
}

/// A receipt as the RPC reports it.
pub(crate) type RpcReceipt = rpc::TransactionReceipt;

/// An RPC block with transaction hashes or full transactions.
pub(crate) type RpcBlock = rpc::Block<RpcTransaction>;

/// `raw` decoded, if it is the EIP-2718 encoding of the transaction with the stored hash.
fn decode(tx: &Transaction) -> Option<TxEnvelope> {
    let envelope = TxEnvelope::decode_2718_exact(&tx.raw).ok()?;
    (*envelope.tx_hash() == tx.hash).then_some(envelope)
}

/// A transaction at its place in the chain.
pub(crate) fn transaction(
    tx: &Transaction,
    block_hash: B256,
    number: u64,
    index: u64,
) -> RpcTransaction {
    match decode(tx) {
        Some(envelope) => RpcTransaction::Decoded(Box::new(rpc::Transaction {
            // Legacy and EIP-2930 transactions pay their gas price; the others depend on the
            // block's base fee, which the store does not hold.
            effective_gas_price: envelope.gas_price(),
            inner: Recovered::new_unchecked(envelope, tx.from),
            block_hash: Some(block_hash),
            block_number: Some(number),
            transaction_index: Some(index),
        })),
        None => RpcTransaction::Stored(StoredTransaction {
            hash: tx.hash,
            from: tx.from,
            to: tx.to,
            nonce: U64::from(tx.nonce),
            block_hash,
            block_number: U64::from(number),
            transaction_index: U64::from(index),
        }),
    }
}

/// A located transaction.
pub(crate) fn located(location: &TxLocation) -> RpcTransaction {
    transaction(&location.transaction, location.block_hash, location.block_number, location.index)
}

/// A log at its place in the chain.
fn rpc_log(log: &Log, at: LogPlace) -> rpc::Log {
    rpc::Log {
        inner: alloy_primitives::Log::new_unchecked(
            log.address,
            log.topics.clone(),
            log.data.clone(),
        ),
        block_hash: Some(at.block_hash),
        block_number: Some(at.block_number),
        block_timestamp: at.block_timestamp,
        transaction_hash: Some(at.transaction_hash),
        transaction_index: Some(at.transaction_index),
        log_index: Some(at.log_index),
        removed: false,
    }
}

/// Where a log is.
#[derive(Debug, Clone, Copy)]
struct LogPlace {
    block_hash: B256,
    block_number: u64,
    block_timestamp: Option<u64>,
    transaction_hash: B256,
    transaction_index: u64,
    log_index: u64,
}

/// An `eth_getLogs` entry.
pub(crate) fn located_log(l: &LocatedLog) -> rpc::Log {
    rpc_log(
        &l.log,
        LogPlace {
            block_hash: l.block_hash,
            block_number: l.block_number,
            block_timestamp: None,
            transaction_hash: l.transaction_hash,
            transaction_index: l.transaction_index,
            log_index: l.log_index,
        },
    )
}

/// The receipts of a block's transactions (one per transaction, in order), with the header and
/// transactions they belong to. Built together because a receipt's `cumulativeGasUsed` and
/// `logIndex` depend on the receipts before it.
pub(crate) fn receipts(
    header: &Header,
    txs: &[Transaction],
    stored: &[Receipt],
) -> Vec<RpcReceipt> {
    let mut cumulative_gas = 0u64;
    let mut log_index = 0u64;
    let mut out = Vec::with_capacity(stored.len());
    for (index, (tx, receipt)) in txs.iter().zip(stored).enumerate() {
        cumulative_gas = cumulative_gas.saturating_add(receipt.gas_used);
        let decoded = decode(tx);
        let logs: Vec<rpc::Log> = receipt
            .logs
            .iter()
            .map(|log| {
                let at = LogPlace {
                    block_hash: header.hash,
                    block_number: header.number,
                    block_timestamp: Some(header.timestamp),
                    transaction_hash: tx.hash,
                    transaction_index: index as u64,
                    log_index,
                };
                log_index += 1;
                rpc_log(log, at)
            })
            .collect();
        let with_bloom = ReceiptWithBloom {
            logs_bloom: logs_bloom(logs.iter().map(|l| &l.inner)),
            receipt: alloy_consensus::Receipt {
                status: Eip658Value::Eip658(receipt.status == 1),
                cumulative_gas_used: cumulative_gas,
                logs,
            },
        };
        // A transaction whose raw does not decode is reported as legacy (type 0).
        let tx_type = decoded.as_ref().map_or(TxType::Legacy, |e| e.tx_type());
        out.push(RpcReceipt {
            inner: envelope(tx_type, with_bloom),
            transaction_hash: tx.hash,
            transaction_index: Some(index as u64),
            block_hash: Some(header.hash),
            block_number: Some(header.number),
            gas_used: receipt.gas_used,
            // Known for legacy and EIP-2930 transactions; otherwise 0 (no base fee stored).
            effective_gas_price: decoded.as_ref().and_then(|e| e.gas_price()).unwrap_or(0),
            blob_gas_used: None,
            blob_gas_price: None,
            from: tx.from,
            to: tx.to,
            contract_address: tx.to.is_none().then(|| tx.from.create(tx.nonce)),
        });
    }
    out
}

fn envelope(
    tx_type: TxType,
    r: ReceiptWithBloom<alloy_consensus::Receipt<rpc::Log>>,
) -> ReceiptEnvelope<rpc::Log> {
    match tx_type {
        TxType::Legacy => ReceiptEnvelope::Legacy(r),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(r),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(r),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(r),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(r),
    }
}

/// A block; `receipts` are its receipts when the store has them (not pruned, committed with
/// receipts), for `gasUsed`, `logsBloom` and `receiptsRoot`.
pub(crate) fn block(block: &Block, receipts: Option<&[RpcReceipt]>, full: bool) -> RpcBlock {
    let h = &block.header;
    let raws: Vec<&[u8]> = block.transactions.iter().map(|t| t.raw.as_ref()).collect();
    let transactions_root = alloy_trie::root::ordered_trie_root_with_encoder(&raws, |raw, buf| {
        buf.extend_from_slice(raw);
    });
    let (gas_used, logs_bloom, receipts_root) = match receipts {
        Some(r) => (
            r.last().map_or(0, |r| r.inner.cumulative_gas_used()),
            r.iter().fold(Bloom::ZERO, |acc, r| acc | *r.inner.logs_bloom()),
            alloy_consensus::proofs::calculate_receipt_root(
                &r.iter().map(|r| r.inner.clone().map_logs(|l| l.inner)).collect::<Vec<_>>(),
            ),
        ),
        None => (0, Bloom::ZERO, B256::ZERO),
    };
    let inner = alloy_consensus::Header {
        parent_hash: h.parent_hash,
        ommers_hash: alloy_consensus::constants::EMPTY_OMMER_ROOT_HASH,
        beneficiary: Address::ZERO,
        state_root: h.state_root,
        transactions_root,
        receipts_root,
        logs_bloom,
        number: h.number,
        gas_used,
        timestamp: h.timestamp,
        ..Default::default()
    };
    let transactions = if full {
        rpc::BlockTransactions::Full(
            block
                .transactions
                .iter()
                .enumerate()
                .map(|(i, tx)| transaction(tx, h.hash, h.number, i as u64))
                .collect(),
        )
    } else {
        rpc::BlockTransactions::Hashes(block.transactions.iter().map(|t| t.hash).collect())
    };
    rpc::Block {
        header: rpc::Header { hash: h.hash, inner, total_difficulty: None, size: None },
        uncles: Vec::new(),
        transactions,
        withdrawals: None,
    }
}

/// An EIP-1186 proof.
pub(crate) fn proof(p: AccountProof) -> rpc::EIP1186AccountProofResponse {
    rpc::EIP1186AccountProofResponse {
        address: p.address,
        balance: p.balance,
        code_hash: p.code_hash,
        nonce: p.nonce,
        storage_hash: p.storage_hash,
        account_proof: p.account_proof,
        storage_proof: p
            .storage_proof
            .into_iter()
            .map(|s| rpc::EIP1186StorageProof {
                key: alloy_serde::storage::JsonStorageKey::Hash(s.key),
                value: s.value,
                proof: s.proof,
            })
            .collect(),
    }
}
