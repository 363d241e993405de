//! Parsing JSON input (block commit lines, and the parts genesis files share with them) with
//! errors that name the field, and the inverse, [`block_to_json`], which writes a block in
//! exactly the line format `ingest` reads.
//!
//! The formats are serde types: structs that derive `Deserialize` (unknown fields rejected) made
//! of the value types below, which read the accepted spellings (`docs/cli.md`, "Input formats"):
//! [`Quantity`] and [`Quantity64`] as `0x` hex, decimal strings or JSON integers (exact up to 256
//! bits, see [`parse_json`]); [`Hex`] (addresses, hashes) as hex with or without `0x`, in any
//! case; [`Data`] as hex. Rejected: broken JSON, wrong hex length, non-hex, quantities over 256
//! bits (64 for [`Quantity64`]), negative numbers, floats, missing required fields, wrong JSON
//! types, unknown fields. `serde_path_to_error` finds the field at fault; errors come in the
//! order of the text.

use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256, hex};
use chainstore_chain::{AccountChange, BlockCommit, ChainError, Log, Receipt, Transaction};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::{Map, Number, Value, json};
use serde_path_to_error::Segment;

use crate::output::{big_quantity, quantity};

/// What is wrong with an input, and where (a field path such as `transactions[1].hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The field at fault; `None` when the text is not JSON at all.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The message of a required field that is missing or `null`.
const MISSING: &str = "missing required field";

impl InputError {
    /// An error in `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_string()), message: message.into() }
    }

    /// Broken JSON, with the column (and line, for multi-line documents) serde_json reports.
    fn json(e: &serde_json::Error, multi_line: bool) -> Self {
        let position = if multi_line {
            format!("line {}, column {}", e.line(), e.column())
        } else {
            format!("column {}", e.column())
        };
        Self { field: None, message: format!("invalid JSON at {position}: {}", message(e)) }
    }

    /// Broken JSON, or a value at fault at the error's path.
    fn serde(e: serde_path_to_error::Error<serde_json::Error>, multi_line: bool) -> Self {
        let path = field_path(e.path());
        let e = e.into_inner();
        if e.classify() != Category::Data {
            return Self::json(&e, multi_line);
        }
        let message = message(&e);
        // serde reports a missing field at the object lacking it, by name.
        match message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            Some(name) => Self::field(&member(&path, name), MISSING),
            None => Self::field(if path.is_empty() { "(top level)" } else { &path }, message),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InputError {}

type Result<T, E = InputError> = std::result::Result<T, E>;

/// serde_json's message without the position it appends.
fn message(e: &serde_json::Error) -> String {
    let mut text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    if text.ends_with(&position) {
        text.truncate(text.len() - position.len());
    }
    text
}

/// The path of member `key` of the object at `parent`.
pub fn member(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// The path of an object entry whose key is data (an address, a slot).
pub fn entry(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// The members whose keys are data, not field names: addresses in `state` and a genesis
/// file's `alloc`, slots in `storage`.
const KEYED_BY_DATA: [&str; 3] = ["state", "storage", "alloc"];

/// A serde path in [`InputError::field`]'s spelling: `transactions[1].hash`, `state[0xab…]`.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let mut field = String::new();
    let mut keyed_by_data = false;
    for segment in path {
        keyed_by_data = match segment {
            Segment::Map { key } if keyed_by_data => {
                field = entry(&field, key);
                false
            }
            Segment::Map { key } => {
                field = member(&field, key);
                KEYED_BY_DATA.contains(&key.as_str())
            }
            Segment::Seq { index } => {
                let _ = write!(field, "[{index}]");
                false
            }
            Segment::Enum { .. } | Segment::Unknown => {
                field = member(&field, &segment.to_string());
                false
            }
        };
    }
    field
}

/// Parses a JSON document as `T`. Two things serde_json would do silently are handled first, by
/// one pass over the text: integers above 64 bits in value positions are quoted (serde_json
/// would read them as floats; a quantity may be a decimal string), and a key repeated byte for
/// byte in one object is an error (a map would keep only its last value, and [`Entries`] must not
/// see a `state` entry the JSON text does not clearly mean twice). Columns in errors after a
/// quoted integer are off by two per such integer.
pub fn parse_json<T: DeserializeOwned>(text: &str, multi_line: bool) -> Result<T> {
    let spans = scan(text).map_err(|(offset, message)| {
        let before = &text[..offset];
        let column = offset - before.rfind('\n').map_or(0, |n| n + 1) + 1;
        let position = if multi_line {
            format!("line {}, column {column}", before.matches('\n').count() + 1)
        } else {
            format!("column {column}")
        };
        InputError { field: None, message: format!("invalid JSON at {position}: {message}") }
    })?;
    let quoted = (!spans.is_empty()).then(|| {
        let mut quoted = String::with_capacity(text.len() + 2 * spans.len());
        let mut at = 0;
        for &(start, end) in &spans {
            quoted.push_str(&text[at..start]);
            quoted.push('"');
            quoted.push_str(&text[start..end]);
            quoted.push('"');
            at = end;
        }
        quoted.push_str(&text[at..]);
        quoted
    });
    let mut de = serde_json::Deserializer::from_str(quoted.as_deref().unwrap_or(text));
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| InputError::serde(e, multi_line))?;
    de.end().map_err(|e| InputError::json(&e, multi_line))?;
    Ok(value)
}
/// An open container while scanning: an array, or an object with the keys seen so far.
enum Open<'a> {
    Array,
    Object(std::collections::HashSet<&'a str>),
}

/// One pass over `text` outside strings: the byte spans of the non-negative integers over
/// `u64::MAX` in value positions (object values, array items, the whole document), or the byte
/// offset and description of a key repeated in one object. Syntax errors are left to serde_json.
fn scan(text: &str) -> Result<Vec<(usize, usize)>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut open = Vec::new();
    let mut last = b'\0'; // the last structural byte outside strings
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let (Some(Open::Object(keys)), b'{' | b',') = (open.last_mut(), last)
                    && let Some(key) = text.get(start..i)
                    && !keys.insert(key)
                {
                    return Err((
                        start - 1,
                        format!(
                            "key {key:?} appears twice in one object; spell a repeated address \
                             or slot differently (case, 0x prefix, leading zeros)"
                        ),
                    ));
                }
                last = b'"';
            }
            b'{' => {
                open.push(Open::Object(Default::default()));
                last = b'{';
            }
            b'[' => {
                open.push(Open::Array);
                last = b'[';
            }
            b'}' | b']' => {
                open.pop();
                last = bytes[i];
            }
            b if b.is_ascii_whitespace() => {}
            b'0'..=b'9' => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |n| i + n);
                let value_position = match open.last() {
                    None => last == b'\0',
                    Some(Open::Array) => last == b'[' || last == b',',
                    Some(Open::Object(_)) => last == b':',
                };
                let integer = !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
                let digits = &text[i..end];
                let big =
                    digits.len() > 20 || (digits.len() == 20 && digits > "18446744073709551615");
                if value_position && integer && big && !digits.starts_with('0') {
                    spans.push((i, end));
                }
                last = b'0';
                i = end;
                continue;
            }
            b => last = b,
        }
        i += 1;
    }
    Ok(spans)
}

/// A value of one of the types below: it takes the JSON types it has methods for and names any
/// other in the error, "expected {EXPECTED}, found {type}" (a derived struct alone would also
/// take an array of its fields, and serde's own messages speak of sequences and maps).
trait FromJson<'de>: Sized {
    /// What the value should be.
    const EXPECTED: &'static str;

    /// From a string.
    fn text(_: &str) -> Result<Self, String> {
        Err(found(Self::EXPECTED, "a string"))
    }

    /// From a number.
    fn number(_: Number) -> Result<Self, String> {
        Err(found(Self::EXPECTED, "a number"))
    }

    /// From an object.
    fn object<A: MapAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(found(Self::EXPECTED, "an object")))
    }

    /// From an array.
    fn array<A: SeqAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(found(Self::EXPECTED, "an array")))
    }
}

fn found(expected: &str, found: &str) -> String {
    format!("expected {expected}, found {found}")
}

/// The visitor of a [`FromJson`] type.
struct Expect<T>(PhantomData<T>);

/// Deserializes a [`FromJson`] type.
fn expect<'de, D: Deserializer<'de>, T: FromJson<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Expect(PhantomData))
}

impl<'de, T: FromJson<'de>> Visitor<'de> for Expect<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(E::custom(found(T::EXPECTED, "a boolean")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(found(T::EXPECTED, "null")))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        T::number(n.into()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        T::number(n.into()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<T, E> {
        // Always finite: JSON has no infinities or NaN.
        let n = Number::from_f64(n).ok_or_else(|| found(T::EXPECTED, "a number"));
        n.and_then(T::number).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        T::text(s).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }
}

/// A quantity of at most 256 bits: `0x` hex (leading zeros allowed), a decimal string or a JSON
/// integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub U256);

impl FromJson<'_> for Quantity {
    const EXPECTED: &'static str = "a quantity (\"0x\" hex, a decimal string or a JSON integer)";

    fn text(s: &str) -> Result<Self, String> {
        if let Some(digits) = strip_0x(s) {
            if digits.is_empty() {
                return Err(format!("{s:?} has no hex digits after 0x"));
            }
            if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(format!("{s:?} is not hex: unexpected character {bad:?}"));
            }
            let significant = digits.trim_start_matches('0');
            if significant.len() > 64 {
                return Err(format!("quantity {s:?} is over 256 bits"));
            }
            U256::from_str_radix(if significant.is_empty() { "0" } else { significant }, 16)
                .map(Self)
                .map_err(|e| format!("quantity {s:?}: {e}"))
        } else if s.starts_with('-') {
            Err(format!("negative number {s:?}: quantities are unsigned"))
        } else if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            Err(found(Self::EXPECTED, &format!("{s:?}")))
        } else {
            U256::from_str_radix(s, 10)
                .map(Self)
                .map_err(|_| format!("quantity {s:?} is over 256 bits"))
        }
    }

    fn number(n: Number) -> Result<Self, String> {
        if let Some(u) = n.as_u64() {
            Ok(Self(U256::from(u)))
        } else if n.as_i64().is_some() || n.as_f64().is_some_and(|f| f < 0.0) {
            Err(format!("negative number {n}: quantities are unsigned"))
        } else {
            Err(format!("expected an integer quantity, found the float {n}"))
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// A quantity of at most 64 bits (numbers, nonces, timestamps, gas, status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quantity64(pub u64);

impl Quantity64 {
    fn narrow(Quantity(q): Quantity) -> Result<Self, String> {
        u64::try_from(q).map(Self).map_err(|_| format!("quantity {q} is over 64 bits"))
    }
}

impl FromJson<'_> for Quantity64 {
    const EXPECTED: &'static str = Quantity::EXPECTED;

    fn text(s: &str) -> Result<Self, String> {
        Quantity::text(s).and_then(Self::narrow)
    }

    fn number(n: Number) -> Result<Self, String> {
        Quantity::number(n).and_then(Self::narrow)
    }
}

impl<'de> Deserialize<'de> for Quantity64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// Hex bytes, with or without `0x`.
fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let digits = strip_0x(s).unwrap_or(s);
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("not hex: unexpected character {bad:?}"));
    }
    if digits.len() % 2 == 1 {
        return Err(format!("odd number of hex digits ({}): every byte takes two", digits.len()));
    }
    hex::decode(digits).map_err(|e| format!("not hex: {e}"))
}

/// Exactly `N` bytes of hex, with or without `0x`, in any case: a hash (`Hex<32>`) or an
/// address (`Hex<20>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hex<const N: usize>(pub FixedBytes<N>);

impl<const N: usize> FromJson<'_> for Hex<N> {
    const EXPECTED: &'static str = "hex";

    fn text(s: &str) -> Result<Self, String> {
        let bytes = hex_bytes(s)?;
        <[u8; N]>::try_from(bytes.as_slice())
            .map(|b| Self(b.into()))
            .map_err(|_| format!("expected {N} bytes of hex, found {}", bytes.len()))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// Data of any length: hex with or without `0x`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data(pub Bytes);

impl FromJson<'_> for Data {
    const EXPECTED: &'static str = "hex";

    fn text(s: &str) -> Result<Self, String> {
        hex_bytes(s).map(|b| Self(b.into()))
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// A JSON object read by `T`, a struct that derives `Deserialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> FromJson<'de> for Object<T> {
    const EXPECTED: &'static str = "an object";

    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Self)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// A JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> FromJson<'de> for Array<T> {
    const EXPECTED: &'static str = "an array";

    fn array<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Self)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// A JSON object whose keys are data (addresses, slots), as its entries in order. A key may come
/// twice in other spellings ([`parse_json`] rejects one repeated byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> FromJson<'de> for Entries<K, V> {
    const EXPECTED: &'static str = "an object";

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Self(entries))
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expect(d)
    }
}

/// A `storage` object: slot → value, both quantities of up to 32 bytes (slots left-padded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Storage(pub Vec<(B256, U256)>);

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Entries(slots) = Entries::<Quantity, Quantity>::deserialize(d)?;
        Ok(Self(slots.into_iter().map(|(slot, value)| (B256::from(slot.0), value.0)).collect()))
    }
}

/// For `#[serde(deserialize_with = "required")]`: a required field, `null` counting as missing
/// (as in an optional field).
pub fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Option::deserialize(d)?.ok_or_else(|| de::Error::custom(MISSING))
}

/// Reads `v` as `T`, naming `field` in the error.
fn value<'a, T: Deserialize<'a>>(v: &'a Value, field: &str) -> Result<T> {
    T::deserialize(v).map_err(|e| InputError::field(field, message(&e)))
}

/// A quantity of at most 256 bits.
pub fn u256(v: &Value, field: &str) -> Result<U256> {
    value(v, field).map(|Quantity(q)| q)
}

/// A quantity of at most 64 bits (numbers, nonces, timestamps, gas, status).
pub fn u64_field(v: &Value, field: &str) -> Result<u64> {
    value(v, field).map(|Quantity64(q)| q)
}

/// A 32-byte hash.
pub fn hash(v: &Value, field: &str) -> Result<B256> {
    value(v, field).map(|Hex(h)| h)
}

/// A 20-byte address.
pub fn address(v: &Value, field: &str) -> Result<Address> {
    value(v, field).map(|Hex(a)| Address(a))
}

/// Data of any length.
pub fn data(v: &Value, field: &str) -> Result<Bytes> {
    value(v, field).map(|Data(d)| d)
}

/// A storage slot key or value: a quantity of up to 32 bytes, left-padded.
pub fn word(v: &Value, field: &str) -> Result<B256> {
    u256(v, field).map(B256::from)
}

/// A block commit line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BlockLine {
    #[serde(deserialize_with = "required")]
    number: Quantity64,
    #[serde(deserialize_with = "required")]
    hash: Hex<32>,
    /// Required but for block 0, which has no parent.
    parent_hash: Option<Hex<32>>,
    #[serde(deserialize_with = "required")]
    timestamp: Quantity64,
    state_root: Option<Hex<32>>,
    transactions: Option<Array<Object<TransactionLine>>>,
    receipts: Option<Array<Object<ReceiptLine>>>,
    /// Touched accounts in order, `null` deleting one.
    state: Option<Entries<Hex<20>, Option<Object<AccountChangeLine>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionLine {
    #[serde(deserialize_with = "required")]
    hash: Hex<32>,
    #[serde(deserialize_with = "required")]
    from: Hex<20>,
    to: Option<Hex<20>>,
    #[serde(deserialize_with = "required")]
    nonce: Quantity64,
    #[serde(deserialize_with = "required")]
    raw: Data,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReceiptLine {
    #[serde(deserialize_with = "required")]
    transaction_hash: Hex<32>,
    #[serde(deserialize_with = "required")]
    status: Quantity64,
    #[serde(deserialize_with = "required")]
    gas_used: Quantity64,
    logs: Option<Array<Object<LogLine>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogLine {
    #[serde(deserialize_with = "required")]
    address: Hex<20>,
    #[serde(default, deserialize_with = "topics")]
    topics: Vec<Hex<32>>,
    data: Option<Data>,
}

/// A log's topics: at most 4.
fn topics<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hex<32>>, D::Error> {
    let topics = Option::<Array<Hex<32>>>::deserialize(d)?.map_or_else(Vec::new, |Array(t)| t);
    if topics.len() > 4 {
        return Err(de::Error::custom(format!("{} topics: a log has at most 4", topics.len())));
    }
    Ok(topics)
}

/// One account's new values; missing fields are unchanged.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountChangeLine {
    nonce: Option<Quantity64>,
    balance: Option<Quantity>,
    code: Option<Data>,
    storage: Option<Storage>,
}

/// The elements of an optional array of objects.
fn elements<T: Into<U>, U>(array: Option<Array<Object<T>>>) -> Vec<U> {
    array
        .map_or_else(Vec::new, |Array(items)| items.into_iter().map(|Object(t)| t.into()).collect())
}

impl BlockLine {
    fn into_block(self) -> Result<BlockCommit> {
        let Quantity64(number) = self.number;
        let parent_hash = match (number, self.parent_hash) {
            (_, Some(Hex(parent))) => parent,
            (0, None) => B256::ZERO,
            _ => return Err(InputError::field("parentHash", MISSING)),
        };
        let state = self.state.map_or_else(Vec::new, |Entries(entries)| {
            entries
                .into_iter()
                .map(|(Hex(address), change)| (Address(address), change.map(|Object(c)| c.into())))
                .collect()
        });
        Ok(BlockCommit {
            number,
            hash: self.hash.0,
            parent_hash,
            timestamp: self.timestamp.0,
            expected_state_root: self.state_root.map(|Hex(root)| root),
            transactions: elements(self.transactions),
            receipts: elements(self.receipts),
            state,
            metadata: Vec::new(),
        })
    }
}

impl From<TransactionLine> for Transaction {
    fn from(t: TransactionLine) -> Self {
        Self {
            hash: t.hash.0,
            from: Address(t.from.0),
            to: t.to.map(|Hex(to)| Address(to)),
            nonce: t.nonce.0,
            raw: t.raw.0,
        }
    }
}

impl From<ReceiptLine> for Receipt {
    fn from(r: ReceiptLine) -> Self {
        Self {
            transaction_hash: r.transaction_hash.0,
            status: r.status.0,
            gas_used: r.gas_used.0,
            logs: elements(r.logs),
        }
    }
}

impl From<LogLine> for Log {
    fn from(l: LogLine) -> Self {
        Self {
            address: Address(l.address.0),
            topics: l.topics.into_iter().map(|Hex(t)| t).collect(),
            data: l.data.unwrap_or_default().0,
        }
    }
}

impl From<AccountChangeLine> for AccountChange {
    fn from(c: AccountChangeLine) -> Self {
        Self {
            nonce: c.nonce.map(|Quantity64(n)| n),
            balance: c.balance.map(|Quantity(b)| b),
            code: c.code.map(|Data(code)| code),
            storage: c.storage.unwrap_or_default().0,
        }
    }
}

/// Parses one block commit line.
pub fn parse_block(line: &str) -> Result<BlockCommit> {
    parse_json::<Object<BlockLine>>(line, false)?.0.into_block()
}

/// A block commit from its JSON object.
pub fn block_from_value(v: &Value) -> Result<BlockCommit> {
    let Object(line) = serde_path_to_error::deserialize::<_, Object<BlockLine>>(v)
        .map_err(|e| InputError::serde(e, false))?;
    line.into_block()
}

/// The field of a block line at fault when committing the block failed with `e`, if one is:
/// `number`, `parentHash`, `receipts`, `transactions`, `hash` or `stateRoot`.
pub fn commit_error_field(e: &ChainError) -> Option<&'static str> {
    match e {
        ChainError::WrongNumber { .. } => Some("number"),
        ChainError::WrongParent { .. } => Some("parentHash"),
        ChainError::ReceiptMismatch { .. } => Some("receipts"),
        ChainError::DuplicateTransaction { .. } => Some("transactions"),
        ChainError::DuplicateBlock { .. } => Some("hash"),
        ChainError::StateRootMismatch { .. } => Some("stateRoot"),
        _ => None,
    }
}

/// Writes `block` as one commit line of the `ingest` format (its metadata is not part of the
/// format and is left out). Repeated addresses in `state` and repeated slots in `storage` get
/// distinct spellings of the same key, so the JSON object keeps every entry in order (limit: an
/// address whose hex has no letter has three spellings, so at most three entries in one block).
pub fn block_to_json(block: &BlockCommit) -> Value {
    let mut v = json!({
        "number": quantity(block.number),
        "hash": block.hash,
        "parentHash": block.parent_hash,
        "timestamp": quantity(block.timestamp),
    });
    if let Some(root) = block.expected_state_root {
        v["stateRoot"] = json!(root);
    }
    v["transactions"] = block.transactions.iter().map(transaction_json).collect();
    v["receipts"] = block.receipts.iter().map(receipt_json).collect();
    let mut state = Map::new();
    for (address, change) in &block.state {
        // 192 spellings are distinct for any address with 6 or more letters among its digits.
        let key = (0..192)
            .map(|i| address_spelling(*address, i))
            .find(|k| !state.contains_key(k))
            .unwrap_or_else(|| address_hex(*address));
        state.insert(key, change.as_ref().map_or(Value::Null, change_json));
    }
    v["state"] = Value::Object(state);
    v
}

fn address_hex(a: Address) -> String {
    format!("0x{}", hex::encode(a))
}

/// The `i`-th distinct spelling of an address: prefix `0x`, none or `0X`, then letters
/// upper-cased by the bits of `i / 3`.
fn address_spelling(a: Address, i: usize) -> String {
    let prefix = ["0x", "", "0X"][i % 3];
    let mut mask = i / 3;
    let digits: String = hex::encode(a)
        .chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            let upper = mask & 1 == 1;
            mask >>= 1;
            if upper { c.to_ascii_uppercase() } else { c }
        })
        .collect();
    format!("{prefix}{digits}")
}

fn transaction_json(tx: &Transaction) -> Value {
    json!({
        "hash": tx.hash,
        "from": address_hex(tx.from),
        "to": tx.to.map(address_hex),
        "nonce": quantity(tx.nonce),
        "raw": format!("0x{}", hex::encode(&tx.raw)),
    })
}

fn receipt_json(r: &Receipt) -> Value {
    json!({
        "transactionHash": r.transaction_hash,
        "status": quantity(r.status),
        "gasUsed": quantity(r.gas_used),
        "logs": r.logs.iter().map(|l| json!({
            "address": address_hex(l.address),
            "topics": l.topics,
            "data": format!("0x{}", hex::encode(&l.data)),
        })).collect::<Vec<_>>(),
    })
}

fn change_json(c: &AccountChange) -> Value {
    let mut m = Map::new();
    if let Some(n) = c.nonce {
        m.insert("nonce".into(), quantity(n));
    }
    if let Some(b) = c.balance {
        m.insert("balance".into(), big_quantity(b));
    }
    if let Some(code) = &c.code {
        m.insert("code".into(), Value::String(format!("0x{}", hex::encode(code))));
    }
    if !c.storage.is_empty() {
        let mut storage = Map::new();
        for (slot, value) in &c.storage {
            // The k-th repeat of a slot is written with k more leading zeros.
            let digits = hex::encode(slot);
            let key = (0..)
                .map(|k| format!("0x{}{digits}", "0".repeat(k)))
                .find(|k| !storage.contains_key(k))
                .unwrap_or_default();
            storage.insert(key, big_quantity(*value));
        }
        m.insert("storage".into(), Value::Object(storage));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use chainstore_chain::synth::{SynthChain, SynthConfig};
    use proptest::prelude::*;

    use super::*;

    fn q(v: Value) -> Result<U256> {
        u256(&v, "f")
    }

    fn err(r: Result<impl fmt::Debug>) -> String {
        r.expect_err("accepted").to_string()
    }

    #[test]
    fn quantities_in_every_spelling() {
        for v in [json!("0x10"), json!("0X10"), json!("16"), json!(16), json!("0x0010")] {
            assert_eq!(q(v.clone()).unwrap(), U256::from(16), "{v}");
        }
        assert_eq!(q(json!("0x0")).unwrap(), U256::ZERO);
        assert_eq!(q(json!(format!("0x{}", "f".repeat(64)))).unwrap(), U256::MAX);
        assert_eq!(q(json!(U256::MAX.to_string())).unwrap(), U256::MAX);
    }

    #[test]
    fn bad_quantities_are_named() {
        let cases = [
            (json!("-1"), "negative"),
            (json!(-1), "negative"),
            (json!(1.5), "float"),
            (json!(1e30), "float"),
            (json!("0x"), "no hex digits"),
            (json!("0x1g"), "not hex"),
            (json!(""), "expected a quantity"),
            (json!("1e3"), "expected a quantity"),
            (json!(true), "found a boolean"),
            (json!(format!("0x1{}", "0".repeat(64))), "over 256 bits"),
            (json!(format!("{}0", U256::MAX)), "over 256 bits"),
        ];
        for (v, want) in cases {
            let e = err(q(v.clone()));
            assert!(e.starts_with("field \"f\": ") && e.contains(want), "{v}: {e}");
        }
        let e = err(u64_field(&json!("0x10000000000000000"), "nonce"));
        assert!(e.contains("over 64 bits"), "{e}");
        assert_eq!(u64_field(&json!("0xffffffffffffffff"), "n").unwrap(), u64::MAX);
    }

    #[test]
    fn json_integers_over_64_bits_stay_exact() {
        let big = U256::from(u64::MAX) + U256::from(1);
        let text = format!(r#"{{"b":{big},"a":[1,{big},"{big}"],"s":"x\\\"{big}","{big}":2.5}}"#);
        let v = parse_json::<Value>(&text, false).unwrap();
        assert_eq!(u256(&v["b"], "b").unwrap(), big);
        assert_eq!(u256(&v["a"][1], "a").unwrap(), big);
        assert_eq!(v["a"][0], json!(1));
        assert_eq!(v["s"], json!(format!("x\\\"{big}")));
        assert_eq!(v[big.to_string()], json!(2.5));
        let max = format!("[{},{}]", U256::MAX, "9".repeat(78));
        let v = parse_json::<Value>(&max, false).unwrap();
        assert_eq!(u256(&v[0], "m").unwrap(), U256::MAX);
        assert!(err(u256(&v[1], "m")).contains("over 256 bits"));
        assert_eq!(parse_json::<Value>("18446744073709551615", false).unwrap(), json!(u64::MAX));
        assert!(parse_json::<Value>("[018446744073709551616]", false).is_err());
        assert!(parse_json::<Value>("{18446744073709551616: 1}", false).is_err());
    }

    #[test]
    fn repeated_keys_are_rejected() {
        let e = err(parse_json::<Value>(
            r#"{"a":{"x":1,"y":{"x":2}},"b":[{"x":1},{"x":1}],"a":3}"#,
            false,
        ));
        assert!(e.starts_with("invalid JSON at column 48: key \"a\" appears twice"), "{e}");
        let e = err(parse_json::<Value>("{\n \"s\": {\"0x01\": 1,\n \"0x01\": 2}}", true));
        assert!(e.starts_with("invalid JSON at line 3, column 2: key \"0x01\""), "{e}");
        // Values and escaped quotes are not keys.
        parse_json::<Value>(r#"{"a":"a","b":["a","a"],"c\"":1,"c":2}"#, false).unwrap();
    }

    #[test]
    fn hashes_addresses_and_data() {
        let e = err(hash(&json!(format!("0x{}", "ab".repeat(31))), "h"));
        assert_eq!(e, "field \"h\": expected 32 bytes of hex, found 31");
        assert!(err(hash(&json!(format!("0x{}", "a".repeat(63))), "h")).contains("odd number"));
        assert!(err(hash(&json!(format!("0x{}zz", "ab".repeat(31))), "h")).contains("not hex"));
        let a = Address::repeat_byte(0xab);
        for s in [
            "0xabababababababababababababababababababab",
            "ABABABABABABABABABABABABABABABABABABABAB",
        ] {
            assert_eq!(address(&json!(s), "a").unwrap(), a);
        }
        assert_eq!(data(&json!("0x"), "d").unwrap(), Bytes::new());
        assert_eq!(word(&json!("0x1"), "w").unwrap(), B256::with_last_byte(1));
    }

    #[test]
    fn errors_name_the_field_path() {
        let mut block = block_to_json(&SynthChain::new(small()).nth_block(2));
        block["transactions"][1]["hash"] = json!(format!("0x{}", "11".repeat(31)));
        let e = err(block_from_value(&block));
        assert_eq!(e, "field \"transactions[1].hash\": expected 32 bytes of hex, found 31");
        let mut block = block_to_json(&SynthChain::new(small()).nth_block(2));
        block["receipts"][0]["logs"][0]["topics"][2] = json!("0x12");
        assert!(err(block_from_value(&block)).contains("receipts[0].logs[0].topics[2]"));
        // Errors come in the order of the text: the bad topic before the unknown field after it.
        block["extra"] = json!(1);
        assert!(err(block_from_value(&block)).contains("receipts[0].logs[0].topics[2]"));
        let mut block = block_to_json(&SynthChain::new(small()).nth_block(2));
        block["extra"] = json!(1);
        assert!(err(block_from_value(&block)).starts_with("field \"extra\": unknown field"));
        let e = err(parse_block(r#"{"number":"0x1","hash":"0x"#));
        assert!(e.starts_with("invalid JSON at column"), "{e}");
        let e = err(parse_block(r#"{"number":1,"parentHash":"0x00","timestamp":0}"#));
        assert_eq!(e, "field \"parentHash\": expected 32 bytes of hex, found 1");
        let zero = "00".repeat(32);
        let e = err(parse_block(&format!(r#"{{"number":1,"parentHash":"{zero}","timestamp":0}}"#)));
        assert_eq!(e, "field \"hash\": missing required field");
        let e = err(parse_block(r#"[1]"#));
        assert_eq!(e, "field \"(top level)\": expected an object, found an array");
    }

    /// A block line with `rest` after the required fields.
    fn line(rest: &str) -> String {
        let h = "11".repeat(32);
        format!(r#"{{"number":1,"hash":"{h}","parentHash":"{h}","timestamp":1,{rest}}}"#)
    }

    #[test]
    fn nested_paths_and_json_types() {
        let a = "ab".repeat(20);
        let h = format!("0x{}", "22".repeat(32));
        let tx = format!(r#""hash":"{h}","from":"{a}","nonce":0,"raw":"0x""#);
        let log = format!(r#"{{"address":"{a}","topics":["{h}","{h}","{h}","{h}","{h}"]}}"#);
        let quantity = r#"a quantity ("0x" hex, a decimal string or a JSON integer)"#;
        let cases = [
            (
                format!(r#""state":{{"{a}":{{"storage":{{"0x01":"0x2","0X01":true}}}}}}"#),
                format!(
                    r#"field "state[{a}].storage[0X01]": expected {quantity}, found a boolean"#
                ),
            ),
            (
                format!(r#""state":{{"{a}":{{"storage":{{"0xzz":"1"}}}}}}"#),
                format!(
                    r#"field "state[{a}].storage[0xzz]": "0xzz" is not hex: unexpected character 'z'"#
                ),
            ),
            (
                r#""state":{"0x01":null}"#.to_string(),
                r#"field "state[0x01]": expected 20 bytes of hex, found 1"#.to_string(),
            ),
            (
                r#""state":{"storage":{"code":"0x1"}}"#.to_string(),
                r#"field "state[storage]": not hex: unexpected character 's'"#.to_string(),
            ),
            (
                format!(r#""transactions":[{{{tx}}},{{{tx},"gas":1}}]"#),
                "field \"transactions[1].gas\": unknown field `gas`, expected one of `hash`, \
                 `from`, `to`, `nonce`, `raw`"
                    .to_string(),
            ),
            (
                format!(r#""transactions":[["{h}","{a}",null,0,"0x"]]"#),
                r#"field "transactions[0]": expected an object, found an array"#.to_string(),
            ),
            (
                r#""receipts":{}"#.to_string(),
                r#"field "receipts": expected an array, found an object"#.to_string(),
            ),
            (
                r#""state":[]"#.to_string(),
                r#"field "state": expected an object, found an array"#.to_string(),
            ),
            (
                format!(r#""receipts":[{{"transactionHash":"{h}","gasUsed":"0x1"}}]"#),
                r#"field "receipts[0].status": missing required field"#.to_string(),
            ),
            (
                format!(r#""receipts":[{{"transactionHash":"{h}","status":null,"gasUsed":1}}]"#),
                r#"field "receipts[0].status": missing required field"#.to_string(),
            ),
            (
                format!(
                    r#""receipts":[{{"transactionHash":"{h}","status":1,"gasUsed":1,"logs":[{{"address":"{a}"}},{log}]}}]"#
                ),
                r#"field "receipts[0].logs[1].topics": 5 topics: a log has at most 4"#.to_string(),
            ),
            (
                format!(
                    r#""receipts":[{{"transactionHash":"{h}","status":1,"gasUsed":1,"logs":[{{"address":"{a}","topics":[7]}}]}}]"#
                ),
                r#"field "receipts[0].logs[0].topics[0]": expected hex, found a number"#
                    .to_string(),
            ),
            // 2^256: one over the largest quantity.
            (
                format!(
                    r#""state":{{"{a}":{{"balance":115792089237316195423570985008687907853269984665640564039457584007913129639936}}}}"#
                ),
                format!(
                    r#"field "state[{a}].balance": quantity "115792089237316195423570985008687907853269984665640564039457584007913129639936" is over 256 bits"#
                ),
            ),
            (
                format!(r#""state":{{"{a}":{{"nonce":1.0}}}}"#),
                format!(
                    r#"field "state[{a}].nonce": expected an integer quantity, found the float 1.0"#
                ),
            ),
            (
                format!(r#""state":{{"{a}":{{"balance":-1}}}}"#),
                format!(
                    r#"field "state[{a}].balance": negative number -1: quantities are unsigned"#
                ),
            ),
            (
                format!(r#""state":{{"{a}":{{"balance":"1","balance":"2"}}}}"#),
                format!(
                    r#"invalid JSON at column {}: key "balance" appears twice in one object; spell a repeated address or slot differently (case, 0x prefix, leading zeros)"#,
                    line(&format!(r#""state":{{"{a}":{{"balance":"1","#)).len()
                ),
            ),
        ];
        for (rest, want) in cases {
            let text = line(&rest);
            assert_eq!(err(parse_block(&text)), want, "{text}");
            if let Ok(v) = parse_json::<Value>(&text, false) {
                assert_eq!(err(block_from_value(&v)), want, "{text} as a value");
            }
        }
    }

    #[test]
    fn accepted_spellings_in_a_line() {
        let a = Address::repeat_byte(0xab);
        let text = line(&format!(
            r#""transactions":null,"receipts":null,"stateRoot":null,"state":{{"{}":{{"balance":115792089237316195423570985008687907853269984665640564039457584007913129639935,"storage":{{"26":"0x1A","0x0000000000000000000000000000000000000000000000000000000000000001a":1}}}},"0X{}":null}}"#,
            hex::encode(a),
            hex::encode(a).to_uppercase()
        ));
        let block = parse_block(&text).unwrap();
        assert_eq!((block.number, block.timestamp), (1, 1));
        assert_eq!(block.parent_hash, B256::repeat_byte(0x11));
        assert!(block.transactions.is_empty() && block.receipts.is_empty());
        assert_eq!(block.expected_state_root, None);
        let slot = B256::with_last_byte(26);
        let change = AccountChange {
            balance: Some(U256::MAX),
            storage: vec![(slot, U256::from(26)), (slot, U256::from(1))],
            ..Default::default()
        };
        assert_eq!(block.state, vec![(a, Some(change)), (a, None)]);
        // Required fields: `null` is missing; block 0 alone may leave out its parent.
        let e = err(parse_block(r#"{"number":0,"hash":null,"timestamp":0}"#));
        assert_eq!(e, r#"field "hash": missing required field"#);
        let e = err(parse_block(&format!(
            r#"{{"number":1,"hash":"{}","timestamp":0}}"#,
            "00".repeat(32)
        )));
        assert_eq!(e, r#"field "parentHash": missing required field"#);
        // After the value: trailing text is broken JSON.
        let e = err(parse_block(
            r#"{"number":0,"hash":"0x0000000000000000000000000000000000000000000000000000000000000000","timestamp":0} x"#,
        ));
        assert!(e.starts_with("invalid JSON at column ") && e.ends_with("trailing characters"));
        // Errors come in the order of the text: a bad value before the break in the JSON.
        let e = err(parse_block(r#"{"number":-1,"#));
        assert_eq!(e, r#"field "number": negative number -1: quantities are unsigned"#);
    }

    fn small() -> SynthConfig {
        SynthConfig { accounts: 50, tokens: 3, txs_per_block: 8, seed: 7 }
    }

    trait Nth {
        fn nth_block(self, n: usize) -> BlockCommit;
    }

    impl Nth for SynthChain {
        fn nth_block(mut self, n: usize) -> BlockCommit {
            (0..n).for_each(|_| drop(self.next_block()));
            self.next_block()
        }
    }

    fn round_trip(block: &BlockCommit) -> BlockCommit {
        let line = serde_json::to_string(&block_to_json(block)).unwrap();
        assert!(!line.contains('\n'));
        parse_block(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    #[test]
    fn synthetic_blocks_round_trip() {
        let mut chain = SynthChain::new(small());
        for _ in 0..30 {
            let mut block = chain.next_block();
            assert_eq!(round_trip(&block), block);
            block.expected_state_root = Some(B256::repeat_byte(7));
            assert_eq!(round_trip(&block), block);
        }
    }

    #[test]
    fn repeated_keys_keep_every_entry_in_order() {
        let a = Address::repeat_byte(0x12); // no letters: three spellings only
        let b = Address::repeat_byte(0xab);
        let slot = B256::with_last_byte(1);
        let change = |v: u64| AccountChange {
            storage: vec![(slot, U256::from(v)), (slot, U256::ZERO), (slot, U256::from(v + 1))],
            ..Default::default()
        };
        let state = vec![
            (a, None),
            (a, Some(change(1))),
            (b, None),
            (a, None),
            (b, Some(change(5))),
            (b, None),
        ];
        let block = BlockCommit { state, ..Default::default() };
        assert_eq!(round_trip(&block), block);
    }

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn addr() -> impl Strategy<Value = Address> {
        // A small pool, so that blocks repeat addresses (with letters: an address of digits only
        // has three spellings, so it can appear at most three times in one `state`).
        prop_oneof![
            any::<[u8; 20]>().prop_map(Address::from),
            (0xa0u8..0xa4).prop_map(Address::repeat_byte)
        ]
    }

    fn u256s() -> impl Strategy<Value = U256> {
        prop_oneof![
            any::<u64>().prop_map(U256::from),
            any::<[u8; 32]>().prop_map(U256::from_be_bytes)
        ]
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn change() -> impl Strategy<Value = Option<AccountChange>> {
        let slots =
            proptest::collection::vec(((0u8..3).prop_map(B256::with_last_byte), u256s()), 0..4);
        let c = (
            proptest::option::of(any::<u64>()),
            proptest::option::of(u256s()),
            proptest::option::of(bytes()),
            slots,
        )
            .prop_map(|(nonce, balance, code, storage)| AccountChange {
                nonce,
                balance,
                code,
                storage,
            });
        proptest::option::of(c)
    }

    fn block() -> impl Strategy<Value = BlockCommit> {
        let tx = (b256(), addr(), proptest::option::of(addr()), any::<u64>(), bytes())
            .prop_map(|(hash, from, to, nonce, raw)| Transaction { hash, from, to, nonce, raw });
        let log = (addr(), proptest::collection::vec(b256(), 0..=4), bytes())
            .prop_map(|(address, topics, data)| Log { address, topics, data });
        let receipt = (b256(), any::<u64>(), any::<u64>(), proptest::collection::vec(log, 0..3))
            .prop_map(|(transaction_hash, status, gas_used, logs)| Receipt {
                transaction_hash,
                status,
                gas_used,
                logs,
            });
        (
            (any::<u64>(), b256(), b256(), any::<u64>(), proptest::option::of(b256())),
            proptest::collection::vec(tx, 0..4),
            proptest::collection::vec(receipt, 0..4),
            proptest::collection::vec((addr(), change()), 0..8),
        )
            .prop_map(
                |((number, hash, parent_hash, timestamp, root), transactions, receipts, state)| {
                    BlockCommit {
                        number,
                        hash,
                        // Block 0 may leave its parent out; the parser reads that as zero.
                        parent_hash,
                        timestamp,
                        expected_state_root: root,
                        transactions,
                        receipts,
                        state,
                        metadata: Vec::new(),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn random_blocks_round_trip(block in block()) {
            prop_assert_eq!(round_trip(&block), block);
        }
    }
}
