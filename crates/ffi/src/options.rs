//! The options of `cs_store_open_with` and `cs_db_open`: a JSON object with the names of the
//! keyword arguments of Python's `ChainStore(...)` and `Database(...)`, errors naming the field.

use std::str::FromStr;

use chainstore_chain::Retention;
use chainstore_engine::db::{BackendChoice, Options, UnknownName};
use chainstore_engine::wal::Durability;
use chainstore_json::input::{self, InputError, Object, Quantity64};
use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::Result;

/// The fields of `cs_store_open_with`'s options.
pub(crate) const STORE_OPTIONS: &[&str] =
    &["backend", "durability", "retention", "max_bytes", "read_only"];
/// The fields of `cs_db_open`'s options (a database has no retention).
pub(crate) const DB_OPTIONS: &[&str] = &["backend", "durability", "max_bytes", "read_only"];

/// What a store or database is opened with.
pub(crate) struct OpenOptions {
    /// Backend, durability and quota.
    pub(crate) engine: Options,
    /// What a prune without a retention keeps (keep everything if absent).
    pub(crate) retention: Retention,
    /// Open for queries only.
    pub(crate) read_only: bool,
}

/// The options document: every field optional, `null` as absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsDoc {
    #[serde(default, deserialize_with = "by_name")]
    backend: Option<BackendChoice>,
    #[serde(default, deserialize_with = "by_name")]
    durability: Option<Durability>,
    retention: Option<Object<RetentionDoc>>,
    max_bytes: Option<Quantity64>,
    read_only: Option<bool>,
}

/// A retention object: `history`, `receipts`, `tx_index`, each the number of blocks to keep, or
/// absent or `null` to keep everything.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionDoc {
    history: Option<Quantity64>,
    receipts: Option<Quantity64>,
    tx_index: Option<Quantity64>,
}

impl From<RetentionDoc> for Retention {
    fn from(doc: RetentionDoc) -> Self {
        let keep = |q: Option<Quantity64>| q.map(|Quantity64(n)| n);
        Self {
            history: keep(doc.history),
            receipts: keep(doc.receipts),
            tx_index: keep(doc.tx_index),
        }
    }
}

/// A backend or durability given by name (`"redb"`, `"buffered"`, ...).
fn by_name<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = UnknownName>,
{
    Option::<String>::deserialize(d)?
        .map(|name| name.parse().map_err(de::Error::custom))
        .transpose()
}

impl OpenOptions {
    /// Parses `text` (`None`: every default), accepting the fields in `known`.
    pub(crate) fn parse(text: Option<&str>, known: &[&str]) -> Result<Self> {
        let mut options =
            Self { engine: Options::default(), retention: Retention::default(), read_only: false };
        let Some(text) = text else { return Ok(options) };
        let doc: Object<OptionsDoc> = input::parse_json(text, true)?;
        let Object(doc) = doc;
        if doc.retention.is_some() && !known.contains(&"retention") {
            let expected = known.join("`, `");
            let message = format!("unknown field `retention`, expected one of `{expected}`");
            return Err(InputError::field("retention", message).into());
        }
        options.engine.backend = doc.backend.unwrap_or(options.engine.backend);
        options.engine.durability = doc.durability.unwrap_or(options.engine.durability);
        options.engine.max_bytes = doc.max_bytes.map(|Quantity64(n)| n);
        options.retention = doc.retention.map_or_else(Retention::default, |Object(r)| r.into());
        options.read_only = doc.read_only.unwrap_or(false);
        Ok(options)
    }
}

/// A prune's retention document, errors named under `retention`.
pub(crate) fn retention(text: &str) -> Result<Retention, InputError> {
    let doc: Object<RetentionDoc> = input::parse_json(text, true).map_err(|mut e| {
        e.field = e.field.map(|f| input::member("retention", &f));
        e
    })?;
    Ok(doc.0.into())
}

/// `"immediate"` (a commit returns once it is on stable storage) or `"buffered"` (once the OS
/// has it).
pub(crate) fn durability(name: &str, field: &str) -> Result<Durability, InputError> {
    name.parse().map_err(|e| InputError::field(field, format!("{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str, known: &[&str]) -> Option<String> {
        OpenOptions::parse(Some(text), known).err().and_then(|f| f.field)
    }

    #[test]
    fn options_parse_and_name_the_field_at_fault() {
        let o = OpenOptions::parse(
            Some(r#"{"durability":"buffered","retention":{"history":"0x80","receipts":null},"max_bytes":1000,"read_only":true}"#),
            STORE_OPTIONS,
        )
        .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(o.engine.durability, Durability::Buffered);
        assert_eq!(o.retention, Retention { history: Some(128), ..Retention::default() });
        assert_eq!((o.engine.max_bytes, o.read_only), (Some(1000), true));

        assert_eq!(field_of(r#"{"backend":"lmdb"}"#, STORE_OPTIONS).as_deref(), Some("backend"));
        assert_eq!(field_of(r#"{"durability":1}"#, STORE_OPTIONS).as_deref(), Some("durability"));
        assert_eq!(
            field_of(r#"{"retention":{"blocks":1}}"#, STORE_OPTIONS).as_deref(),
            Some("retention.blocks")
        );
        assert_eq!(field_of(r#"{"retention":{}}"#, DB_OPTIONS).as_deref(), Some("retention"));
        assert_eq!(field_of(r#"{"read_only":"yes"}"#, DB_OPTIONS).as_deref(), Some("read_only"));
        assert_eq!(field_of("[]", DB_OPTIONS).as_deref(), Some("(top level)"));
    }
}
