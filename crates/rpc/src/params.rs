//! Positional params with errors that name the param and the field at fault, e.g.
//! `invalid params: params[0] (filter): topics[1][0]: invalid string length`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Result, RpcError};

/// The positional params of one call.
#[derive(Debug, Default)]
pub(crate) struct Args {
    values: Vec<Value>,
}

impl Args {
    /// Parses the `params` member: absent, or an array (named params are refused).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self> {
        let Some(raw) = raw else { return Ok(Self::default()) };
        match serde_json::from_str(raw) {
            Ok(Value::Array(values)) => Ok(Self { values }),
            Ok(Value::Null) => Ok(Self::default()),
            Ok(_) => Err(RpcError::InvalidParams("params must be an array (positional)".into())),
            Err(e) => Err(RpcError::InvalidParams(format!("params: {e}"))),
        }
    }

    /// Fails if there are more than `n` params.
    pub(crate) fn at_most(&self, n: usize) -> Result<()> {
        if self.values.len() > n {
            return Err(RpcError::InvalidParams(format!(
                "expected at most {n} params, got {}",
                self.values.len()
            )));
        }
        Ok(())
    }

    /// Param `index`, named `name` in errors; missing or `null` is an error.
    pub(crate) fn required<T: DeserializeOwned>(&self, index: usize, name: &str) -> Result<T> {
        self.optional(index, name)?.ok_or_else(|| {
            RpcError::InvalidParams(format!("params[{index}] ({name}): missing value"))
        })
    }

    /// Param `index`, named `name` in errors; `None` if missing or `null`.
    pub(crate) fn optional<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<Option<T>> {
        match self.values.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    RpcError::InvalidParams(format!("params[{index}] ({name}): {inner}"))
                } else {
                    RpcError::InvalidParams(format!("params[{index}] ({name}): {path}: {inner}"))
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use alloy_primitives::Address;
    use alloy_rpc_types_eth::Filter;

    #[test]
    fn errors_name_the_param_and_the_field() {
        let args = Args::parse(Some(r#"["0x12", {"address": ["0x01"]}]"#)).unwrap();
        let e = args.required::<Address>(0, "address").unwrap_err().to_string();
        assert!(e.starts_with("invalid params: params[0] (address): "), "{e}");
        let e = args.required::<Filter>(1, "filter").unwrap_err().to_string();
        assert!(e.contains("params[1] (filter): "), "{e}");
        let e = args.required::<Address>(2, "block").unwrap_err().to_string();
        assert_eq!(e, "invalid params: params[2] (block): missing value");
        assert!(args.at_most(1).is_err() && args.at_most(2).is_ok());
    }

    #[test]
    fn absent_or_null_params_are_empty_and_objects_are_refused() {
        assert!(Args::parse(None).unwrap().optional::<u64>(0, "x").unwrap().is_none());
        assert!(Args::parse(Some("null")).unwrap().values.is_empty());
        assert!(Args::parse(Some(r#"{"a": 1}"#)).is_err());
    }
}
