//! Parsing command-line arguments (addresses, hashes, slots, block numbers) in the contract's
//! conventions: quantities as `0x` hex or decimal, addresses and hashes with or without `0x`, in
//! any case. Every error names the argument and repeats the input.

use alloy_primitives::{Address, B256, U256, hex};
use anyhow::bail;

/// A block named by number or by hash (`block N|HASH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockId {
    /// By number.
    Number(u64),
    /// By hash.
    Hash(B256),
}

/// The hex digits of `text`, without an optional `0x`/`0X` prefix.
fn strip_0x(text: &str) -> &str {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text)
}

/// Exactly `N` bytes of hex (`2 * N` digits), with or without `0x`.
fn fixed_hex<const N: usize>(what: &str, text: &str) -> anyhow::Result<[u8; N]> {
    let digits = strip_0x(text);
    if digits.len() != 2 * N {
        bail!(
            "invalid {what} {text:?}: expected {N} bytes ({} hex digits), got {} digits",
            2 * N,
            digits.len()
        );
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out)
        .map_err(|e| anyhow::anyhow!("invalid {what} {text:?}: {e}"))?;
    Ok(out)
}

/// A 20-byte address, with or without `0x`, in any case.
pub(crate) fn address(what: &str, text: &str) -> anyhow::Result<Address> {
    fixed_hex::<20>(what, text).map(Address::from)
}

/// A 32-byte hash, with or without `0x`, in any case.
pub(crate) fn hash(what: &str, text: &str) -> anyhow::Result<B256> {
    fixed_hex::<32>(what, text).map(B256::from)
}

/// A quantity that fits in `u64`: `0x` hex or decimal.
pub(crate) fn quantity(what: &str, text: &str) -> anyhow::Result<u64> {
    let value = big_quantity(what, text)?;
    u64::try_from(value)
        .map_err(|_| anyhow::anyhow!("invalid {what} {text:?}: larger than 2^64 - 1"))
}

/// A quantity up to 256 bits: `0x` hex or decimal.
fn big_quantity(what: &str, text: &str) -> anyhow::Result<U256> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(digits) => (digits, 16),
        None => (text, 10),
    };
    let is_digit = |b: u8| if radix == 16 { b.is_ascii_hexdigit() } else { b.is_ascii_digit() };
    if digits.is_empty() || !digits.bytes().all(is_digit) {
        bail!("invalid {what} {text:?}: expected a number (decimal, or hex with 0x)");
    }
    U256::from_str_radix(digits, radix)
        .map_err(|_| anyhow::anyhow!("invalid {what} {text:?}: larger than 256 bits"))
}

/// A storage slot as a 32-byte word: `0x` hex of at most 32 bytes (left-padded, as
/// `eth_getStorageAt` accepts `0x0`), 64 hex digits without `0x`, or a decimal number.
pub(crate) fn slot(what: &str, text: &str) -> anyhow::Result<B256> {
    if !text.starts_with("0x") && !text.starts_with("0X") && text.len() == 64 {
        return hash(what, text);
    }
    big_quantity(what, text).map(B256::from)
}

/// `N` (decimal or `0x` hex) or a 32-byte `HASH` (64 hex digits, with or without `0x`).
pub(crate) fn block_id(what: &str, text: &str) -> anyhow::Result<BlockId> {
    let digits = strip_0x(text);
    if digits.len() == 64 {
        return hash(what, text).map(BlockId::Hash);
    }
    quantity(what, text).map(BlockId::Number).map_err(|_| {
        anyhow::anyhow!(
            "invalid {what} {text:?}: expected a block number (decimal, or hex with 0x) or a \
             block hash (32 bytes of hex)"
        )
    })
}

/// The block of a state query's `--block N` (`None`: the head).
pub(crate) fn state_block(block: Option<&str>) -> anyhow::Result<Option<u64>> {
    block.map(|text| quantity("--block", text)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_or_without_prefix_in_any_case() {
        let a = Address::repeat_byte(0xab);
        for text in [
            "0xabababababababababababababababababababab",
            "ABABABABABABABABABABABABABABABABABABABAB",
            "0XAbAbabababababababababababababababababab",
        ] {
            assert_eq!(address("ADDR", text).unwrap(), a, "{text}");
        }
        let short = address("ADDR", "0xabab").unwrap_err().to_string();
        assert!(short.contains("ADDR") && short.contains("\"0xabab\""), "{short}");
        assert!(short.contains("20 bytes"), "{short}");
        let bad = address("ADDR", "0xzbababababababababababababababababababab").unwrap_err();
        assert!(bad.to_string().contains("invalid ADDR"), "{bad}");
    }

    #[test]
    fn quantities_hex_or_decimal() {
        assert_eq!(quantity("N", "0x1f").unwrap(), 31);
        assert_eq!(quantity("N", "0X1F").unwrap(), 31);
        assert_eq!(quantity("N", "31").unwrap(), 31);
        assert_eq!(quantity("N", "0").unwrap(), 0);
        for bad in ["", "0x", "-1", "1f", "0xg", " 1", "0x+1"] {
            let e = quantity("N", bad).unwrap_err().to_string();
            assert!(e.ends_with("expected a number (decimal, or hex with 0x)"), "{bad}: {e}");
        }
        let e = quantity("N", "18446744073709551616").unwrap_err().to_string();
        assert!(e.ends_with("larger than 2^64 - 1"), "{e}");
        assert_eq!(quantity("N", "18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn slots_are_left_padded_words() {
        let one = B256::with_last_byte(1);
        assert_eq!(slot("SLOT", "0x1").unwrap(), one);
        assert_eq!(slot("SLOT", "1").unwrap(), one);
        assert_eq!(slot("SLOT", "0x01").unwrap(), one);
        assert_eq!(slot("SLOT", &format!("{one}")).unwrap(), one);
        assert_eq!(slot("SLOT", &hex::encode(one)).unwrap(), one);
        assert_eq!(slot("SLOT", "10").unwrap(), B256::with_last_byte(10));
        let e = slot("SLOT", &format!("0x1{}", hex::encode(one))).unwrap_err().to_string();
        assert!(e.ends_with("larger than 256 bits"), "{e}");
        assert!(slot("SLOT", "xyz").is_err());
    }

    #[test]
    fn block_ids_by_number_or_hash() {
        let h = B256::repeat_byte(0xcd);
        assert_eq!(block_id("BLOCK", "7").unwrap(), BlockId::Number(7));
        assert_eq!(block_id("BLOCK", "0x7").unwrap(), BlockId::Number(7));
        assert_eq!(block_id("BLOCK", &h.to_string()).unwrap(), BlockId::Hash(h));
        assert_eq!(block_id("BLOCK", &hex::encode(h)).unwrap(), BlockId::Hash(h));
        assert_eq!(block_id("BLOCK", "0xcdcd").unwrap(), BlockId::Number(0xcdcd));
        let e = block_id("BLOCK", "cdcd").unwrap_err().to_string();
        assert!(e.starts_with("invalid BLOCK \"cdcd\": expected a block number"), "{e}");
    }
}
