//! The `eth_`, `net_` and `web3_` methods on the store.

use std::ops::ControlFlow;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{self as rpc, Filter, FilterBlockOption};
use alloy_serde::storage::JsonStorageKey;
use chainstore_chain::{AccountInfo, Block, ChainStore, LogFilter, Receipt};

use crate::Limits;
use crate::convert::{self, RpcBlock, RpcReceipt, RpcTransaction};
use crate::error::{Result, RpcError};
use crate::params::Args;

/// What every method reads: the store, the chain id and the limits.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) store: std::sync::Arc<ChainStore>,
    pub(crate) chain_id: u64,
    pub(crate) limits: Limits,
}

/// The state a method reads: the head's, or as of a retained block.
#[derive(Debug, Clone, Copy)]
enum StateAt {
    Head,
    Block(u64),
}

impl Node {
    pub(crate) fn head_number(&self) -> Result<u64> {
        Ok(self.store.head()?.ok_or(chainstore_chain::ChainError::Empty)?.number)
    }

    /// The number a block tag names (a number may be above the head).
    fn number(&self, tag: BlockNumberOrTag) -> Result<u64> {
        match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => self.head_number(),
            BlockNumberOrTag::Earliest => Ok(0),
            BlockNumberOrTag::Number(n) => Ok(n),
            BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized => Err(RpcError::InvalidParams(
                format!("block tag {tag} is not supported: the store has no finality information"),
            )),
        }
    }

    /// The state a block id names (default `latest`).
    fn state_at(&self, id: Option<BlockId>) -> Result<StateAt> {
        match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
            BlockId::Number(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending) => {
                Ok(StateAt::Head)
            }
            BlockId::Number(tag) => Ok(StateAt::Block(self.number(tag)?)),
            BlockId::Hash(h) => Ok(StateAt::Block(self.number_of(h.block_hash)?)),
        }
    }

    /// The number of a stored block, by hash.
    fn number_of(&self, hash: B256) -> Result<u64> {
        self.store.block_number(hash)?.ok_or(RpcError::UnknownBlock(hash))
    }

    /// A block by id; `None` if the store does not have it.
    fn block(&self, id: BlockId) -> Result<Option<Block>> {
        Ok(match id {
            BlockId::Hash(h) => self.store.block_by_hash(h.block_hash)?,
            BlockId::Number(tag) => self.store.block(self.number(tag)?)?,
        })
    }

    /// The receipts of `block`; `None` if a transaction has no receipt (committed without).
    fn receipts_of(&self, block: &Block) -> Result<Option<Vec<RpcReceipt>>> {
        let mut stored: Vec<Receipt> = Vec::with_capacity(block.transactions.len());
        for tx in &block.transactions {
            match self.store.receipt(tx.hash)? {
                Some((receipt, _)) => stored.push(receipt),
                None => return Ok(None),
            }
        }
        Ok(Some(convert::receipts(&block.header, &block.transactions, &stored)))
    }

    fn rpc_block(&self, block: Option<Block>, full: bool) -> Result<Option<RpcBlock>> {
        let Some(block) = block else { return Ok(None) };
        let receipts = match self.receipts_of(&block) {
            Ok(r) => r,
            Err(RpcError::Chain(chainstore_chain::ChainError::Pruned { .. })) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(convert::block(&block, receipts.as_deref(), full)))
    }

    fn account(&self, address: Address, at: StateAt) -> Result<Option<AccountInfo>> {
        Ok(match at {
            StateAt::Head => self.store.account(address)?,
            StateAt::Block(n) => self.store.account_at(address, n)?,
        })
    }
}

/// `eth_chainId`.
pub(crate) fn chain_id(node: &Node, args: &Args) -> Result<U64> {
    args.at_most(0)?;
    Ok(U64::from(node.chain_id))
}

/// `net_version`: the chain id in decimal.
pub(crate) fn net_version(node: &Node, args: &Args) -> Result<String> {
    args.at_most(0)?;
    Ok(node.chain_id.to_string())
}

/// `web3_clientVersion`.
pub(crate) fn client_version(_: &Node, args: &Args) -> Result<String> {
    args.at_most(0)?;
    Ok(concat!("chainstore/v", env!("CARGO_PKG_VERSION")).to_string())
}

/// `eth_blockNumber`.
pub(crate) fn block_number(node: &Node, args: &Args) -> Result<U64> {
    args.at_most(0)?;
    Ok(U64::from(node.head_number()?))
}

/// `eth_getBlockByNumber`.
pub(crate) fn block_by_number(node: &Node, args: &Args) -> Result<Option<RpcBlock>> {
    args.at_most(2)?;
    let tag: BlockNumberOrTag = args.required(0, "block")?;
    let full: bool = args.optional(1, "fullTransactions")?.unwrap_or(false);
    node.rpc_block(node.block(BlockId::Number(tag))?, full)
}

/// `eth_getBlockByHash`.
pub(crate) fn block_by_hash(node: &Node, args: &Args) -> Result<Option<RpcBlock>> {
    args.at_most(2)?;
    let hash: B256 = args.required(0, "blockHash")?;
    let full: bool = args.optional(1, "fullTransactions")?.unwrap_or(false);
    node.rpc_block(node.store.block_by_hash(hash)?, full)
}

/// `eth_getBlockTransactionCountByNumber`.
pub(crate) fn tx_count_by_number(node: &Node, args: &Args) -> Result<Option<U64>> {
    args.at_most(1)?;
    let tag: BlockNumberOrTag = args.required(0, "block")?;
    let header = node.store.header(node.number(tag)?)?;
    Ok(header.map(|h| U64::from(h.transaction_count)))
}

/// `eth_getBlockTransactionCountByHash`.
pub(crate) fn tx_count_by_hash(node: &Node, args: &Args) -> Result<Option<U64>> {
    args.at_most(1)?;
    let hash: B256 = args.required(0, "blockHash")?;
    let Some(number) = node.store.block_number(hash)? else { return Ok(None) };
    Ok(node.store.header(number)?.map(|h| U64::from(h.transaction_count)))
}

/// `eth_getTransactionByHash`.
pub(crate) fn transaction_by_hash(node: &Node, args: &Args) -> Result<Option<RpcTransaction>> {
    args.at_most(1)?;
    let hash: B256 = args.required(0, "transactionHash")?;
    Ok(node.store.transaction(hash)?.as_ref().map(convert::located))
}

fn transaction_in(block: Option<Block>, index: U64) -> Option<RpcTransaction> {
    let block = block?;
    let i = usize::try_from(index).ok()?;
    let tx = block.transactions.get(i)?;
    Some(convert::transaction(tx, block.header.hash, block.header.number, i as u64))
}

/// `eth_getTransactionByBlockNumberAndIndex`.
pub(crate) fn transaction_by_number_and_index(
    node: &Node,
    args: &Args,
) -> Result<Option<RpcTransaction>> {
    args.at_most(2)?;
    let tag: BlockNumberOrTag = args.required(0, "block")?;
    let index: U64 = args.required(1, "index")?;
    Ok(transaction_in(node.block(BlockId::Number(tag))?, index))
}

/// `eth_getTransactionByBlockHashAndIndex`.
pub(crate) fn transaction_by_hash_and_index(
    node: &Node,
    args: &Args,
) -> Result<Option<RpcTransaction>> {
    args.at_most(2)?;
    let hash: B256 = args.required(0, "blockHash")?;
    let index: U64 = args.required(1, "index")?;
    Ok(transaction_in(node.store.block_by_hash(hash)?, index))
}

/// `eth_getTransactionReceipt`.
pub(crate) fn receipt(node: &Node, args: &Args) -> Result<Option<RpcReceipt>> {
    args.at_most(1)?;
    let hash: B256 = args.required(0, "transactionHash")?;
    receipt_of(node, hash)
}

/// The receipt of transaction `hash`, with its block's earlier receipts for the cumulative
/// fields.
pub(crate) fn receipt_of(node: &Node, hash: B256) -> Result<Option<RpcReceipt>> {
    let Some((_, location)) = node.store.receipt(hash)? else { return Ok(None) };
    let Some(mut block) = node.store.block(location.block_number)? else { return Ok(None) };
    block.transactions.truncate(location.index as usize + 1);
    Ok(node.receipts_of(&block)?.and_then(|mut r| r.pop()))
}

/// `eth_getBlockReceipts`.
pub(crate) fn block_receipts(node: &Node, args: &Args) -> Result<Option<Vec<RpcReceipt>>> {
    args.at_most(1)?;
    let id: BlockId = args.required(0, "block")?;
    match node.block(id)? {
        Some(block) => node.receipts_of(&block),
        None => Ok(None),
    }
}

/// `eth_getLogs`.
pub(crate) fn logs(node: &Node, args: &Args) -> Result<Vec<rpc::Log>> {
    args.at_most(1)?;
    let filter: Filter = args.required(0, "filter")?;
    let head = node.head_number()?;
    let (from, to) = match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let n = node.number_of(hash)?;
            (n, n)
        }
        FilterBlockOption::Range { from_block, to_block } => {
            let from = node.number(from_block.unwrap_or(BlockNumberOrTag::Latest))?;
            let to = node.number(to_block.unwrap_or(BlockNumberOrTag::Latest))?;
            if from > to {
                return Err(RpcError::InvalidParams(format!(
                    "params[0] (filter): fromBlock {from} is after toBlock {to}"
                )));
            }
            (from, to.min(head))
        }
    };
    if from > to {
        return Ok(Vec::new());
    }
    let span = to - from + 1;
    if span > node.limits.max_logs_range {
        return Err(RpcError::LimitExceeded(format!(
            "eth_getLogs over {span} blocks ({from} to {to}): the server answers at most {} \
             blocks per query; split the range",
            node.limits.max_logs_range
        )));
    }
    let mut query = LogFilter {
        from_block: Some(from),
        to_block: Some(to),
        addresses: filter.address.iter().copied().collect(),
        ..Default::default()
    };
    for (position, topic) in filter.topics.iter().enumerate() {
        query.topics[position] = topic.iter().copied().collect();
    }
    // Stops reading at one log past the limit: a query over a busy range costs what the limit
    // allows, not what the range holds.
    let max = node.limits.max_logs_results;
    let mut found = Vec::new();
    node.store.for_each_log(&query, |log| {
        if found.len() == max {
            return Err(RpcError::LimitExceeded(format!(
                "eth_getLogs matched more than {max} logs: the server returns at most {max} per \
                 query; narrow the filter or the range"
            )));
        }
        found.push(convert::located_log(&log));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(found)
}

/// The address and block of a state method (`[address, block]`).
fn address_at(node: &Node, args: &Args, block_index: usize) -> Result<(Address, StateAt)> {
    args.at_most(block_index + 1)?;
    let address: Address = args.required(0, "address")?;
    let block: Option<BlockId> = args.optional(block_index, "block")?;
    Ok((address, node.state_at(block)?))
}

/// `eth_getBalance`.
pub(crate) fn balance(node: &Node, args: &Args) -> Result<U256> {
    let (address, at) = address_at(node, args, 1)?;
    Ok(node.account(address, at)?.map_or(U256::ZERO, |a| a.balance))
}

/// `eth_getTransactionCount`: the account's nonce.
pub(crate) fn transaction_count(node: &Node, args: &Args) -> Result<U64> {
    let (address, at) = address_at(node, args, 1)?;
    Ok(U64::from(node.account(address, at)?.map_or(0, |a| a.nonce)))
}

/// `eth_getCode`.
pub(crate) fn code(node: &Node, args: &Args) -> Result<Bytes> {
    let (address, at) = address_at(node, args, 1)?;
    let n = match at {
        StateAt::Head => node.head_number()?,
        StateAt::Block(n) => n,
    };
    Ok(node.store.code_at(address, n)?.unwrap_or_default())
}

/// `eth_getStorageAt`.
pub(crate) fn storage_at(node: &Node, args: &Args) -> Result<B256> {
    let (address, at) = address_at(node, args, 2)?;
    let slot: JsonStorageKey = args.required(1, "slot")?;
    let value = match at {
        StateAt::Head => node.store.storage(address, slot.as_b256())?,
        StateAt::Block(n) => node.store.storage_at(address, slot.as_b256(), n)?,
    };
    Ok(B256::from(value))
}

/// `eth_getProof`.
pub(crate) fn proof(node: &Node, args: &Args) -> Result<rpc::EIP1186AccountProofResponse> {
    let (address, at) = address_at(node, args, 2)?;
    let keys: Vec<JsonStorageKey> = args.required(1, "storageKeys")?;
    let slots: Vec<B256> = keys.iter().map(|k| k.as_b256()).collect();
    let proof = match at {
        StateAt::Head => node.store.proof(address, &slots)?,
        StateAt::Block(n) => node.store.proof_at(address, &slots, n)?,
    };
    Ok(convert::proof(proof))
}
