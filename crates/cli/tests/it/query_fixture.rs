//! A store built through the library for the query-command tests, the blocks it was built
//! from (the independent source of expected values), a model of the state rebuilt from those
//! blocks, and helpers to run the binary.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use chainstore_chain::synth::{SynthChain, SynthConfig, transfer_topic};
use chainstore_chain::{AccountChange, BlockCommit, ChainStore, Log, Receipt, Transaction};
use chainstore_trie::{Account, EMPTY_TRIE_ROOT, MemoryState, rebuild_state_root};
use serde_json::Value;
use tempfile::TempDir;

/// Synthetic blocks 0..=10, then one hand-made block 11 (see [`special_block`]).
pub(crate) const SYNTH_BLOCKS: u64 = 11;

/// The state as the test computes it from the committed blocks, independently of the store.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    state: MemoryState,
}

impl Model {
    /// Applies a block's state diff with the contract's rules.
    pub(crate) fn apply(&mut self, block: &BlockCommit) {
        for (address, change) in &block.state {
            let Some(c) = change else {
                self.state.remove_account(*address);
                continue;
            };
            let mut account = self.state.account(*address).unwrap_or_default();
            account.nonce = c.nonce.unwrap_or(account.nonce);
            account.balance = c.balance.unwrap_or(account.balance);
            if let Some(code) = &c.code {
                // keccak256 of empty code is the empty code hash.
                account.code_hash = keccak256(code);
            }
            self.state.set_account(*address, account);
            for (slot, value) in &c.storage {
                self.state.set_storage(*address, *slot, *value);
            }
        }
        self.state.take_changes();
    }

    pub(crate) fn account(&self, address: Address) -> Option<Account> {
        self.state.account(address)
    }

    pub(crate) fn storage(&self, address: Address, slot: B256) -> U256 {
        let slots = self.state.hashed_storage(keccak256(address));
        slots.get(&keccak256(slot)).copied().unwrap_or_default()
    }

    /// The storage root, by a full rebuild of the model's state.
    pub(crate) fn storage_root(&self, address: Address) -> B256 {
        let out = rebuild_state_root(&self.state).unwrap();
        out.storage_roots.get(&keccak256(address)).copied().unwrap_or(EMPTY_TRIE_ROOT)
    }

    /// The state root, by a full rebuild of the model's state.
    pub(crate) fn state_root(&self) -> B256 {
        rebuild_state_root(&self.state).unwrap().root
    }
}

/// A store in a temporary directory with the blocks committed to it.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) blocks: Vec<BlockCommit>,
    pub(crate) model: Model,
    /// The state root of every block, from the model.
    pub(crate) roots: Vec<B256>,
}

pub(crate) fn synth_config() -> SynthConfig {
    SynthConfig { accounts: 40, tokens: 3, txs_per_block: 6, seed: 7 }
}

/// Account 39 is funded at genesis and deleted by the special block.
pub(crate) fn deleted_account() -> Address {
    SynthChain::account(39)
}

/// A contract the special block creates with code and two slots.
pub(crate) fn created_contract() -> Address {
    Address::repeat_byte(0xc0)
}

/// Block 11: transactions with several logs each, none, four topics, no topics, a contract
/// creation; an account deletion, a created contract with storage, a slot set to zero.
pub(crate) fn special_block(parent: &BlockCommit) -> BlockCommit {
    let number = parent.number + 1;
    let token = SynthChain::token(0);
    let tx = |i: u8, to: Option<Address>| Transaction {
        hash: keccak256([b'x', i]),
        from: SynthChain::account(u64::from(i)),
        to,
        nonce: 1000 + u64::from(i),
        raw: Bytes::from(vec![0xf8, i, 0xAB]),
    };
    let transactions = vec![tx(0, Some(token)), tx(1, None), tx(2, Some(token))];
    let log = |address: Address, topics: Vec<B256>, data: &[u8]| Log {
        address,
        topics,
        data: Bytes::copy_from_slice(data),
    };
    let four =
        vec![transfer_topic(), B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3)];
    let receipts = vec![
        Receipt {
            transaction_hash: transactions[0].hash,
            status: 1,
            gas_used: 70_000,
            logs: vec![log(token, four.clone(), &[1, 2, 3]), log(token, vec![], &[])],
        },
        Receipt {
            transaction_hash: transactions[1].hash,
            status: 0,
            gas_used: 21_000,
            logs: vec![],
        },
        Receipt {
            transaction_hash: transactions[2].hash,
            status: 1,
            gas_used: 90_000,
            logs: vec![
                log(created_contract(), vec![B256::repeat_byte(1)], &[4]),
                log(token, vec![transfer_topic(), B256::repeat_byte(9)], &[5]),
                log(token, four, &[6]),
            ],
        },
    ];
    let token_slot = SynthChain::account(0).into_word();
    let state = vec![
        (deleted_account(), None),
        (
            created_contract(),
            Some(AccountChange {
                nonce: Some(1),
                balance: Some(U256::from(5)),
                code: Some(Bytes::from_static(&[0x60, 0x00])),
                storage: vec![
                    (B256::with_last_byte(1), U256::from(0x1234)),
                    (B256::repeat_byte(0xee), U256::MAX),
                ],
            }),
        ),
        (
            token,
            Some(AccountChange { storage: vec![(token_slot, U256::ZERO)], ..Default::default() }),
        ),
    ];
    BlockCommit {
        number,
        hash: keccak256(format!("special block {number}")),
        parent_hash: parent.hash,
        timestamp: parent.timestamp + 12,
        transactions,
        receipts,
        state,
        ..Default::default()
    }
}

/// Blocks 0..=10 of the synthetic chain followed by the special block 11.
pub(crate) fn chain() -> Vec<BlockCommit> {
    let mut synth = SynthChain::new(synth_config());
    let mut blocks: Vec<BlockCommit> = (0..SYNTH_BLOCKS).map(|_| synth.next_block()).collect();
    blocks.push(special_block(blocks.last().unwrap()));
    blocks
}

impl Fixture {
    /// Commits `blocks` through the library and closes the store.
    pub(crate) fn with_blocks(blocks: Vec<BlockCommit>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = ChainStore::open(dir.path(), Default::default()).unwrap();
        let mut model = Model::default();
        let mut roots = Vec::new();
        for block in &blocks {
            let info = store.commit_block(block).unwrap();
            model.apply(block);
            roots.push(model.state_root());
            assert_eq!(info.state_root, *roots.last().unwrap(), "block {}", block.number);
        }
        store.close().unwrap();
        Self { dir, blocks, model, roots }
    }

    /// The standard chain.
    pub(crate) fn new() -> Self {
        Self::with_blocks(chain())
    }

    pub(crate) fn head(&self) -> &BlockCommit {
        self.blocks.last().unwrap()
    }

    /// Opens the store through the library (close it before running the binary again).
    pub(crate) fn open(&self) -> ChainStore {
        ChainStore::open(self.dir.path(), Default::default()).unwrap()
    }

    /// Runs `chainstore --data DIR args...`.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir.path(), args)
    }

    /// Runs a command that must succeed with `--json` and returns its one JSON document.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        parse_one(&out, args)
    }

    /// Runs a command that must fail; returns its stderr.
    pub(crate) fn fail(&self, args: &[&str]) -> String {
        expect_failure(&self.run(args), args)
    }
}

pub(crate) fn run_in(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainstore"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

/// Checks success and exactly one JSON document on one line, in lower-case hex.
pub(crate) fn parse_one(out: &Output, args: &[&str]) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{args:?}: not one line: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_lower_hex(&v);
    v
}

/// Checks a non-zero exit, nothing on stdout, and a message on stderr; returns the message.
pub(crate) fn expect_failure(out: &Output, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("error: "), "{args:?}: stderr {stderr:?}");
    stderr
}

/// Every `0x` string in the document is lower case.
pub(crate) fn assert_lower_hex(v: &Value) {
    match v {
        Value::String(s) if s.starts_with("0x") => {
            assert_eq!(s, &s.to_lowercase(), "not lower-case hex");
            assert!(s[2..].bytes().all(|b| b.is_ascii_hexdigit()), "not hex: {s}");
        }
        Value::Array(items) => items.iter().for_each(assert_lower_hex),
        Value::Object(m) => m.values().for_each(assert_lower_hex),
        _ => {}
    }
}

/// The object's field names are exactly `keys` (in any order).
pub(crate) fn assert_keys(v: &Value, keys: &[&str]) {
    let mut got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "in {v}");
}

/// `0x` hex of a quantity, as the contract prints it.
pub(crate) fn q(n: impl std::fmt::LowerHex) -> String {
    format!("{n:#x}")
}

/// `0x` hex of data.
pub(crate) fn h(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", alloy_primitives::hex::encode(bytes))
}
