//! Entry points of the chain store's fuzz targets: its stored values ([`check_value`], target
//! `chain_value`) and its state history ([`check_history`], target `history`) decoded from
//! arbitrary bytes. Compiled for the unit tests, which run them over the corpora on stable Rust,
//! and with the cargo feature `fuzz` for the fuzz crate; not an API.
//!
//! Errors are fine. A value that decodes must encode to the same bytes (every stored encoding
//! here has one spelling per value), so a decoder cannot accept bytes the store never writes
//! without the fuzzer noticing. A broken invariant panics, which is what a fuzzer reports.

use std::fmt::Debug;

use alloy_primitives::B256;
use chainstore_engine::db::Codec;

use crate::history::{Kind, account_change, decode_change_list, history_key};
use crate::import::Marker;
use crate::schema::{LogPointer, StoredTx, decode_account, decode_value, encode_account};
use crate::{Header, Receipt};

/// The stable half of the targets (corpus, seeds, mutations), shared with the other crates.
#[cfg(test)]
#[path = "../../../fuzz/stable.rs"]
mod stable;

type Check = fn(&[u8]) -> &'static str;

/// The stored values, by the table (and `meta` key) that holds them; the first byte of a
/// `chain_value` input picks one, modulo their number.
pub const VALUES: [(&str, Check); 8] = [
    ("headers", codec::<Header>),
    ("transactions", stored_tx),
    ("receipts", codec::<Receipt>),
    ("hashed_accounts", account),
    ("hashed_storage", storage_value),
    ("logs_by_address", log_pointer),
    ("meta-import", import_marker),
    ("meta", codec::<u64>),
];

/// Decodes the rest of `data` as the value [`VALUES`] `[data[0] % 8]` names.
pub fn check_value(data: &[u8]) -> &'static str {
    let Some((&selector, value)) = data.split_first() else { return "empty" };
    (VALUES[usize::from(selector) % VALUES.len()].1)(value)
}

/// A value with a [`Codec`] (RLP for headers, transactions and receipts; big-endian numbers).
fn codec<T: Codec + Debug>(bytes: &[u8]) -> &'static str {
    match T::decode(bytes) {
        Ok(value) => {
            assert_eq!(value.encode(), bytes, "{value:?} decoded from other bytes");
            "decoded"
        }
        Err(e) => {
            assert!(!e.is_empty(), "an empty error message");
            "error"
        }
    }
}

fn stored_tx(bytes: &[u8]) -> &'static str {
    let outcome = codec::<StoredTx>(bytes);
    if let Ok(tx) = StoredTx::decode(bytes) {
        let ok = tx.to_transaction(B256::ZERO).is_ok();
        assert_eq!(ok, matches!(tx.to.len(), 0 | 20), "recipient of {} bytes", tx.to.len());
    }
    outcome
}

fn account(bytes: &[u8]) -> &'static str {
    round_trip(decode_account(bytes).map(|a| encode_account(&a)), bytes)
}

fn storage_value(bytes: &[u8]) -> &'static str {
    round_trip(decode_value(bytes).map(|v| v.to_be_bytes::<32>().to_vec()), bytes)
}

fn log_pointer(bytes: &[u8]) -> &'static str {
    round_trip(LogPointer::decode(bytes).map(|p| p.encode().to_vec()), bytes)
}

fn import_marker(bytes: &[u8]) -> &'static str {
    round_trip(Marker::decode(bytes).map(|m| m.encode()), bytes)
}

/// `encoded` is a decoded value encoded again: it must be `bytes`.
fn round_trip(encoded: Result<Vec<u8>, String>, bytes: &[u8]) -> &'static str {
    match encoded {
        Ok(again) => {
            assert_eq!(again, bytes, "decode/encode differ");
            "decoded"
        }
        Err(e) => {
            assert!(!e.is_empty(), "an empty error message");
            "error"
        }
    }
}

/// What a `history` input is, after its selector byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPart {
    /// A block's change list (`account_changes` and the other `*_changes` tables).
    ChangeList,
    /// A history row's value: the value before the block (`account_history` and the others).
    Before,
    /// A history row's key: `key ‖ number`, node paths with each nibble plus one.
    Key,
}

impl HistoryPart {
    const ALL: [HistoryPart; 3] = [HistoryPart::ChangeList, HistoryPart::Before, HistoryPart::Key];
}

/// The selector byte of a `history` input: the kind of key (account, slot, account-trie node,
/// storage-trie node) in the low two bits, the part above them.
pub fn history_selector(kind: usize, part: HistoryPart) -> u8 {
    (part as u8) << 2 | kind as u8
}

/// Decodes the rest of `data` as the kind and part its first byte selects
/// ([`history_selector`]).
pub fn check_history(data: &[u8]) -> &'static str {
    let Some((&selector, bytes)) = data.split_first() else { return "empty" };
    let kind = Kind::ALL[usize::from(selector & 3)];
    match HistoryPart::ALL[usize::from(selector >> 2) % 3] {
        HistoryPart::ChangeList => change_list(kind, bytes),
        HistoryPart::Before => before(kind, bytes),
        HistoryPart::Key => index_key(kind, bytes),
    }
}

fn change_list(kind: Kind, bytes: &[u8]) -> &'static str {
    let keys = decode_change_list(kind, bytes);
    let encoded = keys.map(|keys| {
        let mut out = Vec::new();
        for key in keys {
            assert!(kind.valid_key(&key), "{kind:?} key {key:02x?} accepted");
            out.push(key.len() as u8);
            out.extend_from_slice(&key);
        }
        out
    });
    round_trip(encoded, bytes)
}

fn before(kind: Kind, bytes: &[u8]) -> &'static str {
    let value = match kind.before_value(bytes) {
        Ok(value) => value,
        Err(e) => return round_trip(Err(e), bytes),
    };
    let encoded = match (kind, &value) {
        (Kind::Account, Some(account)) => {
            assert!(decode_account(account).is_ok(), "the account of a change does not decode");
            let (_, root) = account_change(bytes).ok().flatten().expect("an account change");
            [&[1], &account[..], root.as_slice()].concat()
        }
        (Kind::Storage, Some(value)) => {
            assert!(value.iter().any(|&b| b != 0), "a zero slot value taken for a present one");
            value.clone()
        }
        (Kind::Storage, None) => vec![0; 32],
        (Kind::AccountNode | Kind::StorageNode, Some(node)) => [&[1], &node[..]].concat(),
        (_, None) => vec![0],
    };
    round_trip(Ok(encoded), bytes)
}

fn index_key(kind: Kind, bytes: &[u8]) -> &'static str {
    let Some((key, number)) = kind.decode_index_key(bytes) else { return "error" };
    assert!(kind.valid_key(&key), "{kind:?} history key for the malformed key {key:02x?}");
    round_trip(Ok(history_key(kind, &key, number)), bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a failure is a test failure")]

    use std::sync::Arc;

    use alloy_primitives::{Address, B256, U256, keccak256};
    use chainstore_engine::backend::{KeyRange, MemoryBackend};
    use chainstore_engine::db::{BackendChoice, Options};
    use chainstore_engine::vfs::FaultFs;
    use chainstore_trie::Account;

    use super::stable::Stable;
    use super::*;
    use crate::synth::{SynthChain, SynthConfig};
    use crate::{ChainStore, ImportBlock, StateEntry};

    const INPUTS: usize = 5000;

    /// A store on an in-memory file system and backend.
    fn open() -> ChainStore {
        let options = Options {
            vfs: Arc::new(FaultFs::new()),
            backend: BackendChoice::Memory(MemoryBackend::new()),
            ..Options::default()
        };
        ChainStore::open("/chain", options).unwrap()
    }

    /// Three small synthetic blocks, committed.
    fn chain() -> ChainStore {
        let store = open();
        let config = SynthConfig { accounts: 40, tokens: 2, txs_per_block: 3, seed: 11 };
        let mut chain = SynthChain::new(config);
        for _ in 0..3 {
            store.commit_block(&chain.next_block()).unwrap();
        }
        store
    }

    /// The first `n` rows of `table`.
    fn rows(store: &ChainStore, table: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let r = store.db.begin_read();
        r.range(table, KeyRange::all(), false).unwrap().take(n).map(Result::unwrap).collect()
    }

    /// The import marker a state import leaves when its stream fails after `accounts` accounts
    /// (committed in batches of two).
    fn import_marker_after(accounts: u64) -> Vec<u8> {
        let store = open();
        let block = ImportBlock {
            number: 9,
            hash: B256::repeat_byte(9),
            parent_hash: B256::repeat_byte(8),
            timestamp: 1,
            state_root: None,
        };
        let mut entries = (1..=accounts)
            .map(|i| {
                let account = Account { nonce: i, ..Account::default() };
                let hashed_address = B256::from(U256::from(i));
                Ok(StateEntry::Account { hashed_address, account, code: None })
            })
            .chain([Err(crate::ChainError::BadImport("the stream broke".into()))]);
        assert!(store.import_state_in_batches(&block, &mut entries, 2, &mut |_| {}).is_err());
        store.db.begin_read().get("meta", crate::schema::IMPORT_KEY).unwrap().unwrap()
    }

    fn value_seeds() -> Vec<(String, Vec<u8>)> {
        let store = chain();
        let mut seeds = Vec::new();
        for (i, (table, _)) in VALUES.iter().enumerate() {
            let values: Vec<Vec<u8>> = match *table {
                "meta-import" => vec![import_marker_after(0), import_marker_after(5)],
                table => rows(&store, table, 2).into_iter().map(|(_, v)| v).collect(),
            };
            assert!(!values.is_empty(), "no {table} rows");
            for (j, value) in values.into_iter().enumerate() {
                seeds.push((format!("{table}-{j}"), [&[i as u8][..], &value].concat()));
            }
        }
        // A contract creation: a transaction without a recipient.
        let creation = StoredTx {
            block_number: 1,
            index: 0,
            from: Address::from_slice(&keccak256("creator")[..20]),
            to: Default::default(),
            nonce: 0,
            raw: vec![0x60, 0x80, 0x60, 0x40].into(),
        };
        seeds.push(("transactions-creation".into(), [&[1][..], &creation.encode()].concat()));
        seeds
    }

    fn history_seeds() -> Vec<(String, Vec<u8>)> {
        let store = chain();
        let mut seeds = Vec::new();
        for (k, kind) in Kind::ALL.into_iter().enumerate() {
            let history = rows(&store, kind.history(), 2);
            let parts = [
                (
                    HistoryPart::ChangeList,
                    rows(&store, kind.changes(), 2).into_iter().map(|r| r.1).collect(),
                ),
                (HistoryPart::Before, history.iter().map(|r| r.1.clone()).collect()),
                (HistoryPart::Key, history.iter().map(|r| r.0.clone()).collect::<Vec<_>>()),
            ];
            for (part, values) in parts {
                assert!(!values.is_empty(), "no {kind:?} {part:?} rows");
                for (j, value) in values.into_iter().enumerate() {
                    let selector = history_selector(k, part);
                    let file = format!("{kind:?}-{part:?}-{j}").to_lowercase();
                    seeds.push((file, [&[selector][..], &value].concat()));
                }
            }
        }
        seeds
    }

    #[test]
    fn chain_value_corpus_and_mutations() {
        let tokens: &[&[u8]] = &[&[0xc0], &[0x80], &[0xa0], &[0x94], &[0xb8, 0x38], &[0xf8]];
        let stable = Stable { target: "chain_value", seeds: value_seeds(), tokens, inputs: INPUTS };
        let outcomes = stable.run(check_value);
        for outcome in ["decoded", "error"] {
            assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 20, "{outcomes:?}");
        }
    }

    #[test]
    fn history_corpus_and_mutations() {
        let stable =
            Stable { target: "history", seeds: history_seeds(), tokens: &[], inputs: INPUTS };
        let outcomes = stable.run(check_history);
        for outcome in ["decoded", "error"] {
            assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 20, "{outcomes:?}");
        }
    }
}
