//! The options of `cs_store_open_with` and `cs_db_open`: a JSON object with the names of the
//! keyword arguments of Python's `ChainStore(...)` and `Database(...)`, errors naming the field.

use chainstore_chain::Retention;
use chainstore_engine::db::{BackendChoice, Options};
use chainstore_engine::wal::Durability;
use chainstore_json::input::{self, InputError};
use serde_json::Value;

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

impl OpenOptions {
    /// Parses `text` (`None`: every default), accepting the fields in `known`.
    pub(crate) fn parse(text: Option<&str>, known: &[&str]) -> Result<Self> {
        let mut options =
            Self { engine: Options::default(), retention: Retention::default(), read_only: false };
        let Some(text) = text else { return Ok(options) };
        let doc = input::parse_json(text, true)?;
        let map = input::object(&doc, "", known)?;
        if let Some(v) = input::optional(map, "backend") {
            options.engine.backend = backend(v)?;
        }
        if let Some(v) = input::optional(map, "durability") {
            options.engine.durability = durability(string(v, "durability")?, "durability")?;
        }
        if let Some(v) = input::optional(map, "retention") {
            options.retention = retention(v, "retention")?;
        }
        options.engine.max_bytes = input::optional(map, "max_bytes")
            .map(|v| input::u64_field(v, "max_bytes"))
            .transpose()?;
        if let Some(v) = input::optional(map, "read_only") {
            options.read_only = v
                .as_bool()
                .ok_or_else(|| InputError::field("read_only", "expected true or false"))?;
        }
        Ok(options)
    }
}

/// A string member's text.
fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, InputError> {
    v.as_str().ok_or_else(|| InputError::field(field, "expected a string"))
}

/// `"redb"` (the default) or `"rocksdb"` (builds with the `rocksdb` feature).
fn backend(v: &Value) -> Result<BackendChoice, InputError> {
    string(v, "backend")?.parse().map_err(|e| InputError::field("backend", format!("{e}")))
}

/// `"immediate"` (a commit returns once it is on stable storage) or `"buffered"` (once the OS
/// has it).
pub(crate) fn durability(name: &str, field: &str) -> Result<Durability, InputError> {
    name.parse().map_err(|e| InputError::field(field, format!("{e}")))
}

/// A retention object: `history`, `receipts`, `tx_index`, each the number of blocks to keep, or
/// absent or `null` to keep everything.
pub(crate) fn retention(v: &Value, field: &str) -> Result<Retention, InputError> {
    let map = input::object(v, field, &["history", "receipts", "tx_index"])?;
    let keep = |key: &str| {
        input::optional(map, key)
            .map(|v| input::u64_field(v, &input::member(field, key)))
            .transpose()
    };
    Ok(Retention {
        history: keep("history")?,
        receipts: keep("receipts")?,
        tx_index: keep("tx_index")?,
    })
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
