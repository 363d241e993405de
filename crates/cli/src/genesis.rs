//! `chainstore genesis FILE`: imports a geth-style genesis file (`alloc` of address →
//! `{balance, nonce, code, storage}` plus the header fields) as block 0 of an empty store and
//! prints `{"number","hash","stateRoot"}`.
//!
//! The block hash is the real Ethereum genesis hash; the file format and the header fields are in
//! [`crate::genesis_file`].

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use chainstore_chain::{BlockCommit, ChainError};
use chainstore_json::output::head_json;

use crate::Global;
use crate::common::print_json;
use crate::genesis_file::parse;

/// Options of `chainstore genesis`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A geth-style genesis JSON file.
    file: PathBuf,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let name = args.file.display();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {name}"))?;
    let genesis = parse(&text).map_err(|e| anyhow!("{name}: {e}"))?;
    let store = global.open()?;
    if let Some(head) = store.head()? {
        return Err(ChainError::NotEmpty { head: head.number }.into());
    }
    let mut block = BlockCommit {
        number: 0,
        parent_hash: genesis.header.parent_hash,
        timestamp: genesis.header.timestamp,
        expected_state_root: genesis.state_root,
        state: genesis.alloc,
        ..Default::default()
    };
    let root = store.compute_state_root(&block).map_err(|e| root_error(&name, e))?;
    block.hash = genesis.header.hash(root);
    let info = store.commit_block(&block)?;
    print_json(&head_json(info.number, info.hash, info.state_root))?;
    store.close().context("closing the store")?;
    Ok(())
}

fn root_error(name: &impl std::fmt::Display, e: ChainError) -> anyhow::Error {
    match e {
        ChainError::StateRootMismatch { expected, computed, .. } => anyhow!(
            "{name}: field \"stateRoot\": the file says {expected}, but its alloc gives \
             {computed}; nothing was changed"
        ),
        e => e.into(),
    }
}
