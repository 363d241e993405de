//! The `genesis` target's entry point ([`crate::genesis_fuzz_check::check`]) on stable Rust: over
//! the committed corpus `fuzz/corpus/genesis/` and a few thousand pseudo-random and mutated
//! inputs. The seeds are Sepolia's genesis file (the smallest of `testdata/mainnet-genesis/`)
//! and small files in the other accepted spellings.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use crate::block_line_fuzz_corpus::JSON_TOKENS;
use crate::genesis_fuzz_check::check;
use crate::stable::Stable;
use crate::support::testdata;

const INPUTS: usize = 3000;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let a = |b: &str| format!("0x{}", b.repeat(20));
    let written = [
        ("minimal", r#"{"alloc":{}}"#.to_string()),
        (
            "accounts",
            format!(
                r#"{{
  "alloc": {{
    "{}": {{"balance": "0x10", "nonce": "0x1"}},
    "{}": {{"balance": "1000000000000000000000", "code": "0x6000", "storage": {{"0x1": "0x2", "0x02": "0x0"}}}},
    "{}": {{"balance": 100000000000000000000000, "privateKey": "0x01"}}
  }}
}}"#,
                a("aa"),
                &a("bc")[2..],
                a("01")
            ),
        ),
        (
            "forks",
            format!(
                r#"{{"config":{{"chainId":1,"londonBlock":0,"shanghaiTime":0,"cancunTime":"0x0","pragueTime":100}},
"timestamp":"0x10","baseFeePerGas":"0x7","excessBlobGas":"0x5","blobGasUsed":"0","difficulty":"0x1",
"mixHash":"0x{}","extraData":"0x1234","gasLimit":"30000000","coinbase":"{}","parentHash":"0x{}","number":"0x0",
"alloc":{{"{}":{{"balance":"0x1"}}}}}}"#,
                "11".repeat(32),
                a("cb"),
                "00".repeat(32),
                a("dd")
            ),
        ),
        ("block-1", r#"{"number":"0x1","alloc":{}}"#.to_string()),
        (
            "address-twice",
            format!(
                r#"{{"alloc":{{"{}":{{"balance":"1"}},"{}":{{"balance":"2"}}}}}}"#,
                a("ab"),
                a("AB")
            ),
        ),
    ];
    let mut seeds: Vec<(String, Vec<u8>)> =
        written.into_iter().map(|(name, text)| (name.to_string(), text.into_bytes())).collect();
    let sepolia = std::fs::read(testdata("mainnet-genesis/sepolia.json")).unwrap();
    seeds.push(("sepolia".to_string(), sepolia));
    seeds
}

#[test]
fn corpus_and_mutations() {
    let stable = Stable { target: "genesis", seeds: seeds(), tokens: JSON_TOKENS, inputs: INPUTS };
    let outcomes = stable.run(check);
    // Most mutations break the JSON or drop a required field: about 1 % parse.
    for outcome in ["parsed", "error"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 200, "{outcomes:?}");
    }
}
