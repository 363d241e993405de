//! Parsing geth-style genesis files (`alloc` of address → `{balance, nonce, code, storage}` plus
//! the header fields) for `chainstore genesis` (`genesis.rs`), and the genesis block hash: keccak256
//! of the RLP header built from the file's fields, with the fields of the forks that `config`
//! activates at genesis (London: `baseFeePerGas`; Shanghai: `withdrawalsRoot`; Cancun:
//! `blobGasUsed`, `excessBlobGas`, `parentBeaconBlockRoot`; Prague: `requestsHash`), following
//! geth's defaults. A file without `config` gets a pre-London header.
//!
//! Self-contained but for `chainstore_json::input`, so that the tests and the `genesis` fuzz
//! target compile it too (`#[path]`).

use alloy_primitives::{Address, B256, Bytes, U256, b256, hex, keccak256};
use alloy_rlp::Encodable as _;
use chainstore_chain::AccountChange;
use chainstore_json::input::{
    Data, Entries, Hex, InputError, Object, Quantity, Quantity64, Storage, entry, parse_json,
    required,
};
use chainstore_trie::EMPTY_TRIE_ROOT;
use serde::Deserialize;
use serde::de::IgnoredAny;

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

/// A genesis file: the fields read, each optional but `alloc`. Unknown fields are ignored
/// (geth-style files carry more than a store needs); the fields read are validated like block
/// lines.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenesisFile {
    number: Option<Quantity64>,
    #[serde(deserialize_with = "required")]
    alloc: Entries<Hex<20>, Object<AllocAccount>>,
    state_root: Option<Hex<32>>,
    parent_hash: Option<Hex<32>>,
    coinbase: Option<Hex<20>>,
    difficulty: Option<Quantity>,
    gas_limit: Option<Quantity64>,
    gas_used: Option<Quantity64>,
    timestamp: Option<Quantity64>,
    extra_data: Option<Data>,
    mix_hash: Option<Hex<32>>,
    /// geth's other spelling of `mixHash`, read when `mixHash` is missing.
    #[serde(rename = "mixhash")]
    mix_hash_lower_case: Option<Hex<32>>,
    nonce: Option<Quantity64>,
    base_fee_per_gas: Option<Quantity>,
    blob_gas_used: Option<Quantity64>,
    excess_blob_gas: Option<Quantity64>,
    config: Option<Object<Config>>,
}

/// An account of `alloc`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocAccount {
    #[serde(deserialize_with = "required")]
    balance: Quantity,
    nonce: Option<Quantity64>,
    code: Option<Data>,
    storage: Option<Storage>,
    /// Ignored.
    #[serde(rename = "privateKey")]
    _private_key: Option<IgnoredAny>,
}

/// The fork activations read from `config` (other fields are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    london_block: Option<Quantity64>,
    shanghai_time: Option<Quantity64>,
    cancun_time: Option<Quantity64>,
    prague_time: Option<Quantity64>,
}

/// Parses a genesis file.
pub(crate) fn parse(text: &str) -> Result<Genesis, InputError> {
    let file: GenesisFile = parse_json(text, true)?;
    if file.number.is_some_and(|Quantity64(n)| n != 0) {
        return Err(InputError::field("number", "a genesis block is block 0"));
    }
    Ok(Genesis {
        header: header(&file),
        state_root: file.state_root.map(|Hex(root)| root),
        alloc: alloc(file.alloc)?,
    })
}

fn header(file: &GenesisFile) -> GenesisHeader {
    let mix_hash = file.mix_hash.or(file.mix_hash_lower_case).unwrap_or_default().0;
    let timestamp = file.timestamp.unwrap_or_default().0;
    let forks = Forks::new(file.config.as_ref().map(|Object(c)| c), timestamp);
    let base_fee = file.base_fee_per_gas.map_or(U256::from(INITIAL_BASE_FEE), |Quantity(f)| f);
    GenesisHeader {
        parent_hash: file.parent_hash.unwrap_or_default().0,
        coinbase: Address(file.coinbase.unwrap_or_default().0),
        // geth: no difficulty and a zero (or no) mix hash mean the default difficulty.
        difficulty: match (file.difficulty, mix_hash) {
            (Some(Quantity(d)), _) => d,
            (None, B256::ZERO) => U256::from(GENESIS_DIFFICULTY),
            (None, _) => U256::ZERO,
        },
        gas_limit: file
            .gas_limit
            .map(|Quantity64(g)| g)
            .filter(|&g| g != 0)
            .unwrap_or(GENESIS_GAS_LIMIT),
        gas_used: file.gas_used.unwrap_or_default().0,
        timestamp,
        extra_data: file.extra_data.clone().unwrap_or_default().0,
        mix_hash,
        nonce: file.nonce.unwrap_or_default().0,
        base_fee: forks.london.then_some(base_fee),
        shanghai: forks.shanghai,
        cancun: forks.cancun.then(|| {
            (file.blob_gas_used.unwrap_or_default().0, file.excess_blob_gas.unwrap_or_default().0)
        }),
        prague: forks.prague,
    }
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
    fn new(config: Option<&Config>, timestamp: u64) -> Self {
        let Some(c) = config else { return Self::default() };
        let by_time = |time: Option<Quantity64>| time.is_some_and(|Quantity64(t)| t <= timestamp);
        Self {
            london: c.london_block == Some(Quantity64(0)),
            shanghai: by_time(c.shanghai_time),
            cancun: by_time(c.cancun_time),
            prague: by_time(c.prague_time),
        }
    }
}

/// The `alloc` object: every account with its balance, nonce, code and storage.
fn alloc(
    Entries(accounts): Entries<Hex<20>, Object<AllocAccount>>,
) -> Result<Vec<(Address, Option<AccountChange>)>, InputError> {
    let mut seen = std::collections::HashSet::new();
    accounts
        .into_iter()
        .map(|(Hex(address), Object(account))| {
            let address = Address(address);
            if !seen.insert(address) {
                let at = entry("alloc", &format!("0x{}", hex::encode(address)));
                return Err(InputError::field(&at, "the address appears twice in alloc"));
            }
            let mut storage = account.storage.unwrap_or_default().0;
            // A zero value is no slot at all.
            storage.retain(|(_, value)| !value.is_zero());
            let change = AccountChange {
                nonce: account.nonce.map(|Quantity64(n)| n),
                balance: Some(account.balance.0),
                code: account.code.map(|Data(code)| code),
                storage,
            };
            Ok((address, Some(change)))
        })
        .collect()
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
    fn alloc_addresses_once_and_geths_other_spellings() {
        let (a, upper) = ("ab".repeat(20), "AB".repeat(20));
        let twice =
            format!(r#"{{"alloc":{{"{a}":{{"balance":"1"}},"0X{upper}":{{"balance":"2"}}}}}}"#);
        let e = parse(&twice).unwrap_err().to_string();
        assert_eq!(e, format!("field \"alloc[0x{a}]\": the address appears twice in alloc"));
        let e = parse(&format!(r#"{{"alloc":{{"{a}":{{"balance":"1","bal":"2"}}}}}}"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            format!(
                "field \"alloc[{a}].bal\": unknown field `bal`, expected one of `balance`, \
                 `nonce`, `code`, `storage`, `privateKey`"
            )
        );
        let mix = format!(r#"{{"mixhash":"0x{}","alloc":{{}},"unknown":[1]}}"#, "11".repeat(32));
        let h = parse(&mix).unwrap().header;
        assert_eq!((h.mix_hash, h.difficulty), (B256::repeat_byte(0x11), U256::ZERO));
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
