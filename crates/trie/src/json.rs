//! JSON field formats of the EIP-1186 types (Ethereum JSON-RPC conventions).
//!
//! Output: quantities as minimal `0x` hex, data as `0x` hex. Input: quantities as `0x` hex,
//! decimal strings or JSON integers; storage keys as `0x` hex of at most 32 bytes, left-padded.

use alloy_primitives::{B256, U256, hex};
use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// A JSON quantity as written by clients: a string (hex or decimal) or an integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawQuantity {
    Text(String),
    Number(u64),
}

fn parse_quantity<E: Error>(raw: RawQuantity) -> Result<U256, E> {
    let text = match raw {
        RawQuantity::Number(n) => return Ok(U256::from(n)),
        RawQuantity::Text(text) => text,
    };
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some("") => Ok(U256::ZERO),
        Some(digits) => U256::from_str_radix(digits, 16),
        None => U256::from_str_radix(&text, 10),
    };
    parsed.map_err(|e| E::custom(format!("invalid quantity {text:?}: {e}")))
}

/// `u64` as a quantity.
pub(crate) mod u64_quantity {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:#x}"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let value = parse_quantity(RawQuantity::deserialize(deserializer)?)?;
        value.try_into().map_err(|_| D::Error::custom(format!("quantity {value} exceeds u64")))
    }
}

/// `U256` as a quantity.
pub(crate) mod u256_quantity {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:#x}"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<U256, D::Error> {
        parse_quantity(RawQuantity::deserialize(deserializer)?)
    }
}

/// A 32-byte storage key, accepted shorter (`"0x0"`) and left-padded.
pub(crate) mod storage_key {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &B256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<B256, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_owned() };
        let bytes = hex::decode(&padded)
            .map_err(|e| D::Error::custom(format!("invalid storage key {text:?}: {e}")))?;
        if bytes.len() > 32 {
            return Err(D::Error::custom(format!("storage key {text:?} is longer than 32 bytes")));
        }
        Ok(B256::left_padding_from(&bytes))
    }
}
