//! Python objects to JSON values and back, and the arguments of the API parsed with
//! `chainstore_json::input` (the parser of the CLI's block lines), so that a `dict` block and a
//! JSON line are read by the same code with the same errors.

use alloy_primitives::{Address, B256, hex};
use chainstore_json::input;
use pyo3::IntoPyObjectExt as _;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use serde_json::{Map, Number, Value};

use crate::errors::{input_error, invalid};

/// A Python value as JSON: `dict` (string keys), `list`/`tuple`, `str`, `int` (any size: above
/// 64 bits as decimal text, which the quantity parser reads exactly), `float`, `bool`, `None`,
/// and `bytes` as `0x` hex. `path` names the value in errors.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    value(obj, &|| path.to_owned())
}

/// [`to_value`] with the path built only for an error (a block has thousands of values).
fn value(obj: &Bound<'_, PyAny>, path: &dyn Fn() -> String) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_cow()?.into_owned()))
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if let Ok(i) = obj.cast::<PyInt>() {
        Ok(match i.extract::<u64>() {
            Ok(n) => Value::Number(n.into()),
            // Negative or above 64 bits: the parser reads decimal text (and rejects negatives).
            Err(_) => Value::String(i.str()?.to_cow()?.into_owned()),
        })
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| invalid(Some(&path()), format!("{} is not a number", f.value())))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(Value::String(hex::encode_prefixed(b.as_bytes())))
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Ok(Value::String(hex::encode_prefixed(b.to_vec())))
    } else if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = match value(&k, path)? {
                Value::String(s) => s,
                _ => return Err(invalid(Some(&path()), "keys must be str (or bytes)")),
            };
            let value = value(&v, &|| input::member(&path(), &key))?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    } else if let Ok(l) = obj.cast::<PyList>() {
        l.iter().enumerate().map(|(i, v)| value(&v, &|| format!("{}[{i}]", path()))).collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().enumerate().map(|(i, v)| value(&v, &|| format!("{}[{i}]", path()))).collect()
    } else {
        let type_name = obj.get_type().name()?;
        let path = path();
        Err(invalid(
            Some(if path.is_empty() { "(top level)" } else { &path }),
            format!("unsupported type {type_name}: use dict, list, str, int, bytes or None"),
        ))
    }
}

/// A JSON value as Python: objects as `dict` (in order), arrays as `list`.
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_bound_py_any(py),
            (None, Some(i)) => i.into_bound_py_any(py),
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py),
        },
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(m) => {
            let dict = PyDict::new(py);
            for (k, item) in m {
                dict.set_item(k, to_py(py, item)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// `Some(document)` as Python, `None` as `None`.
pub(crate) fn opt_to_py<'py>(py: Python<'py>, v: Option<Value>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => to_py(py, &v),
        None => Ok(py.None().into_bound(py)),
    }
}

/// Parses argument `name` with one of `chainstore_json::input`'s field parsers.
fn arg<T>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    parse: impl FnOnce(&Value, &str) -> Result<T, input::InputError>,
) -> PyResult<T> {
    parse(&to_value(obj, name)?, name).map_err(input_error)
}

/// An address: 20 bytes as hex (with or without `0x`) or `bytes`.
pub(crate) fn address(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Address> {
    arg(obj, name, input::address)
}

/// A 32-byte hash as hex or `bytes`.
pub(crate) fn hash(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<B256> {
    arg(obj, name, input::hash)
}

/// A storage slot: a quantity of up to 32 bytes (`int`, hex or decimal text, `bytes`).
pub(crate) fn slot(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<B256> {
    arg(obj, name, input::word)
}

/// A block number: `int` or quantity text, at most 64 bits.
pub(crate) fn number(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    arg(obj, name, input::u64_field)
}

/// An optional block number.
pub(crate) fn opt_number(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<u64>> {
    obj.filter(|o| !o.is_none()).map(|o| number(o, name)).transpose()
}

/// A list of values (a single value is a list of one), each parsed by `one`.
pub(crate) fn one_or_many<T>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    one: impl Fn(&Bound<'_, PyAny>, &str) -> PyResult<T>,
) -> PyResult<Vec<T>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        obj.try_iter()?.enumerate().map(|(i, item)| one(&item?, &format!("{name}[{i}]"))).collect()
    } else {
        Ok(vec![one(obj, name)?])
    }
}

/// Bytes of a key, prefix or value: `bytes` or `bytearray`.
pub(crate) fn key_bytes(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes().to_vec())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Ok(b.to_vec())
    } else {
        let type_name = obj.get_type().name()?;
        Err(invalid(Some(name), format!("expected bytes, found {type_name}")))
    }
}
