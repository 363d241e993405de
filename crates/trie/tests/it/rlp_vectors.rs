//! ethereum/tests RLPTests through alloy-rlp, the RLP layer the trie uses (node and account
//! encoding, and proof-node decoding in the verifier).

use crate::common::{hex_bytes, read_json};
use alloy_primitives::U512;
use alloy_rlp::{Encodable, Header};
use serde_json::Value;

/// A decoded RLP item.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Bytes(Vec<u8>),
    List(Vec<Item>),
}

/// Decodes exactly one item spanning all of `input`.
fn decode_all(mut input: &[u8]) -> Result<Item, alloy_rlp::Error> {
    let item = decode_item(&mut input)?;
    if input.is_empty() { Ok(item) } else { Err(alloy_rlp::Error::Custom("trailing bytes")) }
}

fn decode_item(input: &mut &[u8]) -> Result<Item, alloy_rlp::Error> {
    let header = Header::decode(input)?;
    if input.len() < header.payload_length {
        return Err(alloy_rlp::Error::InputTooShort);
    }
    let (mut payload, rest) = input.split_at(header.payload_length);
    *input = rest;
    if !header.list {
        return Ok(Item::Bytes(payload.to_vec()));
    }
    let mut items = Vec::new();
    while !payload.is_empty() {
        items.push(decode_item(&mut payload)?);
    }
    Ok(Item::List(items))
}

/// Encodes a test input: strings as UTF-8 bytes, integers and `#decimal` big integers as
/// minimal big-endian integers, arrays as lists.
fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(text) => match text.strip_prefix('#') {
            Some(decimal) => U512::from_str_radix(decimal, 10).unwrap().encode(out),
            None => text.as_bytes().encode(out),
        },
        Value::Number(number) => number.as_u64().unwrap().encode(out),
        Value::Array(items) => {
            let mut payload = Vec::new();
            items.iter().for_each(|item| encode(item, &mut payload));
            Header { list: true, payload_length: payload.len() }.encode(out);
            out.extend_from_slice(&payload);
        }
        other => panic!("unexpected input {other}"),
    }
}

/// What decoding the encoding of `value` must give.
fn expected_item(value: &Value) -> Item {
    match value {
        Value::Array(items) => Item::List(items.iter().map(expected_item).collect()),
        scalar => {
            let mut encoded = Vec::new();
            encode(scalar, &mut encoded);
            match decode_all(&encoded) {
                Ok(item) => item,
                Err(e) => panic!("cannot decode our own encoding of {scalar}: {e}"),
            }
        }
    }
}

#[test]
fn valid_rlp_vectors_encode_and_decode() {
    let tests = read_json("ethereum-rlp-tests/rlptest.json");
    let tests = tests.as_object().unwrap();
    for (name, test) in tests {
        let expected = hex_bytes(test["out"].as_str().unwrap());
        let mut encoded = Vec::new();
        encode(&test["in"], &mut encoded);
        assert_eq!(encoded, expected, "{name}: encoding");
        let decoded = decode_all(&expected).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, expected_item(&test["in"]), "{name}: decoding");
    }
    assert_eq!(tests.len(), 28);
}

#[test]
fn invalid_rlp_vectors_are_rejected() {
    let tests = read_json("ethereum-rlp-tests/invalidRLPTest.json");
    let tests = tests.as_object().unwrap();
    for (name, test) in tests {
        assert_eq!(test["in"], "INVALID");
        let input = hex_bytes(test["out"].as_str().unwrap());
        assert!(decode_all(&input).is_err(), "{name}: invalid RLP was accepted");
    }
    assert_eq!(tests.len(), 26);
}

#[test]
fn invalid_rlp_vectors_are_rejected_as_proof_nodes() {
    // The verifier decodes proof nodes with alloy-rlp; garbage nodes must be errors, not
    // panics, whatever root they are checked against.
    let tests = read_json("ethereum-rlp-tests/invalidRLPTest.json");
    for (name, test) in tests.as_object().unwrap() {
        let node = alloy_primitives::Bytes::from(hex_bytes(test["out"].as_str().unwrap()));
        let root = alloy_primitives::keccak256(&node);
        let proof = chainstore_trie::StorageProof {
            key: alloy_primitives::B256::ZERO,
            value: alloy_primitives::U256::from(1),
            proof: vec![node],
        };
        assert!(chainstore_trie::verify_storage_proof(root, &proof).is_err(), "{name}");
    }
}
