//! The `block_line` target's entry point ([`crate::block_line_fuzz_check::check`]) on stable
//! Rust: over the committed corpus `fuzz/corpus/block_line/` and a few thousand pseudo-random and
//! mutated inputs. The seeds are lines of a small synthetic chain written by `block_to_json`,
//! and lines in the other accepted spellings.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use chainstore_chain::synth::{SynthChain, SynthConfig};

use crate::block_line_fuzz_check::check;
use crate::stable::Stable;
use crate::support::json_in::block_to_json;

const INPUTS: usize = 4000;

/// JSON punctuation and the values the parser treats specially.
pub(crate) const JSON_TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"null",
    b"0x",
    b"0X",
    b"-1",
    b"1.5",
    b"1e3",
    b"18446744073709551616",
    b"115792089237316195423570985008687907853269984665640564039457584007913129639936",
    b"\"0x\"",
    b"\\u00e9",
    b"\xc3\xa9",
];

fn seeds() -> Vec<(String, Vec<u8>)> {
    let config = SynthConfig { accounts: 12, tokens: 2, txs_per_block: 2, seed: 5 };
    let mut chain = SynthChain::new(config);
    let mut seeds: Vec<(String, Vec<u8>)> = (0..3)
        .map(|n| {
            let line = serde_json::to_string(&block_to_json(&chain.next_block())).unwrap();
            (format!("synth-block-{n}"), line.into_bytes())
        })
        .collect();
    let a = "0x00000000000000000000000000000000000000aa";
    let h = |b: &str| format!("\"0x{}\"", b.repeat(32));
    let written = [
        ("block-0-without-parent", format!(r#"{{"number":0,"hash":{},"timestamp":"0"}}"#, h("01"))),
        (
            "other-spellings",
            format!(
                r#"{{"number":"7","hash":{},"parentHash":{},"timestamp":1700000000,"stateRoot":null,"transactions":[{{"hash":{},"from":"{a}","to":null,"nonce":"0x0","raw":"0x"}}],"receipts":[{{"transactionHash":{},"status":1,"gasUsed":"21000","logs":[{{"address":"{a}","topics":[{}],"data":"0xff"}}]}}],"state":{{"{a}":{{"balance":340282366920938463463374607431768211456,"nonce":"0x1","code":"0x6000","storage":{{"0x1":"0x2","0x01":"0"}}}},"00000000000000000000000000000000000000AA":null}}}}"#,
                h("02"),
                h("01"),
                h("0a"),
                h("0a"),
                h("0b")
            ),
        ),
        ("repeated-key", format!(r#"{{"number":1,"number":2,"hash":{}}}"#, h("01"))),
        ("unknown-field", format!(r#"{{"number":1,"hash":{},"extra":true}}"#, h("01"))),
    ];
    seeds.extend(written.into_iter().map(|(name, line)| (name.to_string(), line.into_bytes())));
    seeds
}

#[test]
fn corpus_and_mutations() {
    let stable =
        Stable { target: "block_line", seeds: seeds(), tokens: JSON_TOKENS, inputs: INPUTS };
    let outcomes = stable.run(check);
    // Most mutations break the JSON or drop a required field: about 1 % parse.
    for outcome in ["parsed", "error"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) >= INPUTS / 200, "{outcomes:?}");
    }
}
