//! Otterscan's `ots_searchTransactionsBefore` and `ots_searchTransactionsAfter`: an address's
//! transactions (sent or received) a page at a time, newest first, from the store's
//! transactions-by-address index.

use alloy_primitives::{Address, U64};
use chainstore_chain::{ChainError, TxLocation};
use serde::Serialize;

use crate::convert::{self, RpcReceipt, RpcTransaction};
use crate::error::{Result, RpcError};
use crate::eth::{Node, receipt_of};
use crate::params::Args;

/// Blocks read from the index per step while filling a page.
const WINDOW: u64 = 10_000;

/// A page of an address's transactions, newest first (Otterscan's shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page {
    txs: Vec<RpcTransaction>,
    receipts: Vec<OtsReceipt>,
    /// The page holds the address's newest transactions.
    first_page: bool,
    /// The page holds the address's oldest retained transactions.
    last_page: bool,
}

/// A receipt with its block's timestamp.
#[derive(Debug, Clone, Serialize)]
struct OtsReceipt {
    #[serde(flatten)]
    receipt: Option<RpcReceipt>,
    timestamp: U64,
}

/// `ots_searchTransactionsBefore(address, blockNumber, pageSize)`: transactions in blocks
/// before `blockNumber` (0: the head and before).
pub(crate) fn before(node: &Node, args: &Args) -> Result<Page> {
    let (address, block, page_size) = page_args(node, args)?;
    let head = node.head_number()?;
    let floor = oldest_index(node)?;
    let first_page = block == 0 || block > head;
    let start = if first_page { Some(head) } else { block.checked_sub(1) };
    let mut found = Vec::new();
    let mut hi = start.filter(|&b| b >= floor);
    let mut last_page = true;
    while let Some(top) = hi {
        let lo = top.saturating_sub(WINDOW - 1).max(floor);
        found.extend(node.store.transactions_by_address(address, lo, top)?.into_iter().rev());
        if found.len() >= page_size {
            last_page = !truncate_to_page(&mut found, page_size) && lo == floor;
            break;
        }
        hi = lo.checked_sub(1).filter(|&b| b >= floor);
    }
    build(node, found, first_page, last_page)
}

/// `ots_searchTransactionsAfter(address, blockNumber, pageSize)`: transactions in blocks after
/// `blockNumber` (0: from the oldest retained block), returned newest first.
pub(crate) fn after(node: &Node, args: &Args) -> Result<Page> {
    let (address, block, page_size) = page_args(node, args)?;
    let head = node.head_number()?;
    let floor = oldest_index(node)?;
    let last_page = block == 0 || block < floor;
    let start = if block == 0 { Some(floor) } else { block.checked_add(1).map(|b| b.max(floor)) };
    let mut found = Vec::new();
    let mut lo = start.filter(|&b| b <= head);
    let mut first_page = true;
    while let Some(bottom) = lo {
        let top = bottom.saturating_add(WINDOW - 1).min(head);
        found.extend(node.store.transactions_by_address(address, bottom, top)?);
        if found.len() >= page_size {
            first_page = !truncate_to_page(&mut found, page_size) && top == head;
            break;
        }
        lo = top.checked_add(1).filter(|&b| b <= head);
    }
    found.reverse();
    build(node, found, first_page, last_page)
}

fn page_args(node: &Node, args: &Args) -> Result<(Address, u64, usize)> {
    args.at_most(3)?;
    let address: Address = args.required(0, "address")?;
    let block: U64 = args.required(1, "blockNumber")?;
    let page_size: U64 = args.required(2, "pageSize")?;
    let max = node.limits.max_page_size;
    let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
    if page_size == 0 || page_size > max {
        return Err(RpcError::InvalidParams(format!(
            "params[2] (pageSize): {page_size} is not between 1 and the server's limit of {max}"
        )));
    }
    Ok((address, block.to(), page_size))
}

/// The oldest block the transaction index holds (0 if nothing was pruned).
fn oldest_index(node: &Node) -> Result<u64> {
    match node.store.transactions_by_address(Address::ZERO, 0, 0) {
        Ok(_) => Ok(0),
        Err(ChainError::Pruned { oldest_available, .. }) => Ok(oldest_available),
        Err(e) => Err(e.into()),
    }
}

/// Cuts `found` after the block of its `page_size`-th entry (a page ends with a whole block);
/// whether anything was cut.
fn truncate_to_page(found: &mut Vec<TxLocation>, page_size: usize) -> bool {
    let last_block = found[page_size - 1].block_number;
    let end = found[page_size..]
        .iter()
        .position(|t| t.block_number != last_block)
        .map_or(found.len(), |i| page_size + i);
    let cut = end < found.len();
    found.truncate(end);
    cut
}

fn build(node: &Node, found: Vec<TxLocation>, first_page: bool, last_page: bool) -> Result<Page> {
    let mut receipts = Vec::with_capacity(found.len());
    for location in &found {
        let timestamp = node.store.header(location.block_number)?.map_or(0, |h| h.timestamp);
        receipts.push(OtsReceipt {
            receipt: receipt_of(node, location.transaction.hash)?,
            timestamp: U64::from(timestamp),
        });
    }
    Ok(Page { txs: found.iter().map(convert::located).collect(), receipts, first_page, last_page })
}
