//! Parsing geth-style genesis files (`alloc` of address → `{balance, nonce, code, storage}` plus
//! the header fields) for `chainstore genesis` (`genesis.rs`), and the genesis block hash: keccak256
//! of the RLP header built from the file's fields, with the fields of the forks that `config`
//! activates at genesis (London: `baseFeePerGas`; Shanghai: `withdrawalsRoot`; Cancun:
//! `blobGasUsed`, `excessBlobGas`, `parentBeaconBlockRoot`; Prague: `requestsHash`), following
//! geth's defaults. A file without `config` gets a pre-London header.
//!
//! Self-contained but for `chainstore_json::input`, so that the tests and the `genesis` fuzz
//! target compile it too (`#[path]`).

use alloy_primitives::{Address, B256, Bytes, U256, b256, keccak256};
use alloy_rlp::Encodable as _;
use chainstore_chain::AccountChange;
use chainstore_json::input::{
    InputError, address, address_key, any_object, data, entry, hash, member, object, optional,
    parse_json, storage, u64_field, u256,
};
use chainstore_trie::EMPTY_TRIE_ROOT;
use serde_json::{Map, Value};

/// A parsed genesis file.
#[derive(Debug)]
pub(crate) struct Genesis {
    /// The header fields.
    pub(crate) header: GenesisHeader,
    /// The file's own `stateRoot`, checked against the computed one.
    pub(crate) state_root: Option<B256>,
    /// The accounts, in file order.
    pub(crate) alloc: Vec<(Address, Option<AccountChange>)>,
}

/// The header fields of a genesis block (the state root comes from the alloc).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GenesisHeader {
    pub(crate) parent_hash: B256,
    coinbase: Address,
    difficulty: U256,
    gas_limit: u64,
    gas_used: u64,
    pub(crate) timestamp: u64,
    extra_data: Bytes,
    mix_hash: B256,
    nonce: u64,
    /// Set when London is active at genesis.
    base_fee: Option<U256>,
    shanghai: bool,
    /// `(blobGasUsed, excessBlobGas)`, set when Cancun is active at genesis.
    cancun: Option<(u64, u64)>,
    prague: bool,
}

/// keccak256(rlp([])): the ommers hash of a block without ommers.
const EMPTY_OMMERS_HASH: B256 =
    b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");
/// sha256 of no requests (EIP-7685).
const EMPTY_REQUESTS_HASH: B256 =
    b256!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// geth's defaults for fields a genesis file leaves out.
const INITIAL_BASE_FEE: u64 = 1_000_000_000;
const GENESIS_DIFFICULTY: u64 = 131_072;
const GENESIS_GAS_LIMIT: u64 = 5_000;

impl GenesisHeader {
    /// keccak256 of the RLP header with `state_root`.
    pub(crate) fn hash(&self, state_root: B256) -> B256 {
        let mut payload = Vec::new();
        let mut put = |bytes: &[u8]| bytes.encode(&mut payload);
        put(self.parent_hash.as_slice());
        put(EMPTY_OMMERS_HASH.as_slice());
        put(self.coinbase.as_slice());
        put(state_root.as_slice());
        put(EMPTY_TRIE_ROOT.as_slice()); // transactions
        put(EMPTY_TRIE_ROOT.as_slice()); // receipts
        put(&[0u8; 256]); // logs bloom
        put(&int(self.difficulty));
        put(&int(U256::ZERO)); // number
        put(&int(U256::from(self.gas_limit)));
        put(&int(U256::from(self.gas_used)));
        put(&int(U256::from(self.timestamp)));
        put(&self.extra_data);
        put(self.mix_hash.as_slice());
        put(&self.nonce.to_be_bytes());
        if let Some(base_fee) = self.base_fee {
            put(&int(base_fee));
        }
        if self.shanghai {
            put(EMPTY_TRIE_ROOT.as_slice()); // withdrawals
        }
        if let Some((blob_gas_used, excess_blob_gas)) = self.cancun {
            put(&int(U256::from(blob_gas_used)));
            put(&int(U256::from(excess_blob_gas)));
            put(B256::ZERO.as_slice()); // parent beacon block root
        }
        if self.prague {
            put(EMPTY_REQUESTS_HASH.as_slice());
        }
        let mut rlp = Vec::with_capacity(payload.len() + 4);
        alloy_rlp::Header { list: true, payload_length: payload.len() }.encode(&mut rlp);
        rlp.extend_from_slice(&payload);
        keccak256(rlp)
    }
}

/// An RLP integer: big-endian without leading zeros.
fn int(n: U256) -> Vec<u8> {
    let bytes = n.to_be_bytes::<32>();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(32);
    bytes[first..].to_vec()
}

/// Parses a genesis file. Unknown top-level fields are ignored (geth-style files carry more
/// than a store needs); the fields read are validated like block lines.
pub(crate) fn parse(text: &str) -> Result<Genesis, InputError> {
    let v = parse_json(text, true)?;
    let m = any_object(&v, "")?;
    if let Some(n) = optional(m, "number")
        && u64_field(n, "number")? != 0
    {
        return Err(InputError::field("number", "a genesis block is block 0"));
    }
    let Some(alloc_value) = optional(m, "alloc") else {
        return Err(InputError::field("alloc", "missing required field"));
    };
    Ok(Genesis {
        header: header(m)?,
        state_root: optional(m, "stateRoot").map(|r| hash(r, "stateRoot")).transpose()?,
        alloc: alloc(alloc_value)?,
    })
}

fn header(m: &Map<String, Value>) -> Result<GenesisHeader, InputError> {
    let opt_u64 = |key: &str| optional(m, key).map(|v| u64_field(v, key)).transpose();
    let opt_u256 = |key: &str| optional(m, key).map(|v| u256(v, key)).transpose();
    let mix_key = if m.contains_key("mixHash") { "mixHash" } else { "mixhash" };
    let mix_hash = optional(m, mix_key).map(|v| hash(v, mix_key)).transpose()?;
    let difficulty = opt_u256("difficulty")?;
    let timestamp = opt_u64("timestamp")?.unwrap_or(0);
    let forks = Forks::parse(optional(m, "config"), timestamp)?;
    let base_fee = opt_u256("baseFeePerGas")?.unwrap_or(U256::from(INITIAL_BASE_FEE));
    Ok(GenesisHeader {
        parent_hash: optional(m, "parentHash")
            .map(|v| hash(v, "parentHash"))
            .transpose()?
            .unwrap_or_default(),
        coinbase: optional(m, "coinbase")
            .map(|v| address(v, "coinbase"))
            .transpose()?
            .unwrap_or_default(),
        // geth: no difficulty and a zero (or no) mix hash mean the default difficulty.
        difficulty: match (difficulty, mix_hash.unwrap_or_default()) {
            (Some(d), _) => d,
            (None, B256::ZERO) => U256::from(GENESIS_DIFFICULTY),
            (None, _) => U256::ZERO,
        },
        gas_limit: opt_u64("gasLimit")?.filter(|&g| g != 0).unwrap_or(GENESIS_GAS_LIMIT),
        gas_used: opt_u64("gasUsed")?.unwrap_or(0),
        timestamp,
        extra_data: optional(m, "extraData")
            .map(|v| data(v, "extraData"))
            .transpose()?
            .unwrap_or_default(),
        mix_hash: mix_hash.unwrap_or_default(),
        nonce: opt_u64("nonce")?.unwrap_or(0),
        base_fee: forks.london.then_some(base_fee),
        shanghai: forks.shanghai,
        cancun: match forks.cancun {
            true => {
                Some((opt_u64("blobGasUsed")?.unwrap_or(0), opt_u64("excessBlobGas")?.unwrap_or(0)))
            }
            false => None,
        },
        prague: forks.prague,
    })
}

/// The forks `config` activates at genesis.
#[derive(Debug, Default)]
struct Forks {
    london: bool,
    shanghai: bool,
    cancun: bool,
    prague: bool,
}

impl Forks {
    fn parse(config: Option<&Value>, timestamp: u64) -> Result<Self, InputError> {
        let Some(config) = config else { return Ok(Self::default()) };
        let c = any_object(config, "config")?;
        let at = |key: &str, active: &dyn Fn(u64) -> bool| -> Result<bool, InputError> {
            let field = member("config", key);
            Ok(optional(c, key).map(|v| u64_field(v, &field)).transpose()?.is_some_and(active))
        };
        Ok(Self {
            london: at("londonBlock", &|block| block == 0)?,
            shanghai: at("shanghaiTime", &|time| time <= timestamp)?,
            cancun: at("cancunTime", &|time| time <= timestamp)?,
            prague: at("pragueTime", &|time| time <= timestamp)?,
        })
    }
}

/// The `alloc` object: every account with its balance, nonce, code and storage.
fn alloc(v: &Value) -> Result<Vec<(Address, Option<AccountChange>)>, InputError> {
    let mut seen = std::collections::HashSet::new();
    any_object(v, "alloc")?
        .iter()
        .map(|(key, account)| {
            let at = entry("alloc", key);
            let addr = address_key(key, &at)?;
            if !seen.insert(addr) {
                return Err(InputError::field(&at, "the address appears twice in alloc"));
            }
            Ok((addr, Some(alloc_account(account, &at)?)))
        })
        .collect()
}

fn alloc_account(v: &Value, field: &str) -> Result<AccountChange, InputError> {
    let m = object(v, field, &["balance", "nonce", "code", "storage", "privateKey"])?;
    let f = |k: &str| member(field, k);
    let Some(balance) = optional(m, "balance") else {
        return Err(InputError::field(&f("balance"), "missing required field"));
    };
    let mut storage = match optional(m, "storage") {
        Some(s) => storage(s, &f("storage"))?,
        None => Vec::new(),
    };
    // A zero value is no slot at all.
    storage.retain(|(_, value)| !value.is_zero());
    Ok(AccountChange {
        nonce: optional(m, "nonce").map(|n| u64_field(n, &f("nonce"))).transpose()?,
        balance: Some(u256(balance, &f("balance"))?),
        code: optional(m, "code").map(|c| data(c, &f("code"))).transpose()?,
        storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_header_hash_matches_the_block_rlp_vector() {
        let text = include_str!("../../../testdata/mainnet-genesis/mainnet.json");
        let genesis = parse(text).unwrap();
        let root = genesis.state_root.unwrap();
        assert_eq!(
            genesis.header.hash(root),
            b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
        );
    }

    #[test]
    fn geth_defaults_and_fork_fields() {
        let h = parse(r#"{"alloc":{}}"#).unwrap().header;
        assert_eq!(
            (h.difficulty, h.gas_limit),
            (U256::from(GENESIS_DIFFICULTY), GENESIS_GAS_LIMIT)
        );
        assert_eq!((h.base_fee, h.shanghai, h.cancun, h.prague), (None, false, None, false));
        let mix = format!(r#""mixHash":"0x{}""#, "11".repeat(32));
        assert_eq!(
            parse(&format!("{{{mix},\"alloc\":{{}}}}")).unwrap().header.difficulty,
            U256::ZERO
        );
        let config = r#"{"timestamp":"100","alloc":{},"baseFeePerGas":"7","excessBlobGas":"0x5",
            "config":{"londonBlock":0,"shanghaiTime":100,"cancunTime":0,"pragueTime":101}}"#;
        let h = parse(config).unwrap().header;
        assert_eq!(
            (h.base_fee, h.shanghai, h.cancun, h.prague),
            (Some(U256::from(7)), true, Some((0, 5)), false)
        );
    }

    #[test]
    fn balances_as_big_json_integers() {
        let a = "aa".repeat(20);
        let g = parse(&format!(r#"{{"alloc":{{"{a}":{{"balance":100000000000000000000}}}}}}"#));
        let change = g.unwrap().alloc[0].1.clone().unwrap();
        assert_eq!(change.balance, Some(U256::from(10u128.pow(20))));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"alloc":{"0x01":{"balance":"1"}}}"#).unwrap_err().to_string();
        assert_eq!(e, "field \"alloc[0x01]\": expected 20 bytes of hex, found 1");
        let a = "0x".to_string() + &"aa".repeat(20);
        let e = parse(&format!(r#"{{"alloc":{{"{a}":{{"nonce":"1"}}}}}}"#)).unwrap_err();
        assert!(e.to_string().contains(".balance\": missing required field"), "{e}");
        let e = parse(&format!(r#"{{"alloc":{{"{a}":{{"balance":"-5"}}}}}}"#)).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = parse("{\n\"alloc\": {,}\n}").unwrap_err().to_string();
        assert!(e.starts_with("invalid JSON at line 2, column"), "{e}");
        let e = parse(r#"{"number":"0x1","alloc":{}}"#).unwrap_err().to_string();
        assert!(e.contains("block 0"), "{e}");
        let e = parse(r#"{"alloc":{},"config":{"cancunTime":1.5}}"#).unwrap_err().to_string();
        assert!(e.starts_with("field \"config.cancunTime\""), "{e}");
    }
}
