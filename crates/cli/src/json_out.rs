//! Printing on stdout: the JSON documents of `chainstore_json::output` as one line of JSON with
//! `--json`, or in their readable form, which query commands print without it; lists streamed
//! item by item; and a command that ends quietly when the reader of its output goes away.

use std::fmt::Write as _;
use std::io::{self, BufWriter, StdoutLock, Write as _};

use alloy_primitives::U256;
use serde_json::{Map, Value};

/// Writes a line on stdout, as `println!` does, but returns from the calling function (whose
/// error type takes an [`anyhow::Error`]) instead of panicking when stdout fails; a closed
/// pipe becomes [`ReaderGone`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::json_out::stdout_error)?
    }};
}

/// Writes on stdout, as `print!` does; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::json_out::stdout_error)?
    }};
}

pub(crate) use {out, outln};

/// The reader of stdout went away (`chainstore logs | head`): the command stops, closing what
/// it opened, and ends without a message by [`end_by_sigpipe`].
#[derive(Debug)]
pub(crate) struct ReaderGone;

impl std::fmt::Display for ReaderGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for ReaderGone {}

/// A failed write to stdout: [`ReaderGone`] for a closed pipe, otherwise the error with context.
pub(crate) fn stdout_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(ReaderGone)
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// Whether `error` is, or was caused by, [`ReaderGone`].
pub(crate) fn reader_gone(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<ReaderGone>())
}

/// Ends the process as a Unix tool whose reader went away ends: killed by `SIGPIPE` (status 141
/// in a shell), without a message. Rust programs ignore `SIGPIPE`, so that a write fails with
/// `EPIPE` and the command can stop in order; dying of the signal afterwards still tells a
/// shell with `set -o pipefail` that the output was cut short, where exiting 0 would turn a
/// failed `verify | head` into a success.
pub(crate) fn end_by_sigpipe() -> std::process::ExitCode {
    #[expect(unsafe_code, reason = "signal and raise have no safe wrapper in std")]
    // SAFETY: restores the default disposition of one signal and raises it in this process;
    // neither call takes a pointer.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached: the signal's default action ends the process.
    std::process::ExitCode::from(128 + libc::SIGPIPE as u8)
}

/// Prints `value` on stdout: one line of JSON with `json`, the readable form otherwise.
pub(crate) fn print(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        crate::common::print_json(value)
    } else {
        out!("{}", human(value));
        Ok(())
    }
}

/// A list printed item by item as it is produced, in the same form [`print`] gives the whole
/// array: a command's memory does not grow with its output, and its first lines appear at once.
pub(crate) struct ListPrinter {
    out: BufWriter<StdoutLock<'static>>,
    json: bool,
    items: usize,
}

impl ListPrinter {
    pub(crate) fn new(json: bool) -> Self {
        Self { out: BufWriter::new(io::stdout().lock()), json, items: 0 }
    }

    /// Prints the next item.
    pub(crate) fn item(&mut self, value: &Value) -> anyhow::Result<()> {
        if self.json {
            self.out.write_all(if self.items == 0 { b"[" } else { b"," }).map_err(stdout_error)?;
            serde_json::to_writer(&mut self.out, value).map_err(|e| stdout_error(e.into()))?;
        } else {
            let mut text = String::new();
            human_item("", self.items, value, 0, &mut text);
            self.out.write_all(text.as_bytes()).map_err(stdout_error)?;
        }
        self.items += 1;
        Ok(())
    }

    /// Ends the list (`]` of the JSON array, or `(none)` for an empty readable list).
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        let end: &[u8] = match (self.json, self.items) {
            (true, 0) => b"[]\n",
            (true, _) => b"]\n",
            (false, 0) => b"(none)\n",
            (false, _) => b"",
        };
        self.out.write_all(end).and_then(|()| self.out.flush()).map_err(stdout_error)
    }
}

/// Fields shown as decimal numbers in the readable form.
const DECIMAL_FIELDS: &[&str] = &[
    "number",
    "timestamp",
    "nonce",
    "balance",
    "status",
    "gasUsed",
    "blockNumber",
    "transactionIndex",
    "logIndex",
    "rows",
    "bytes",
    "checkpoint",
    "visibleSeq",
    "logBytes",
    "memtableBytes",
    "backendBytes",
    "liveBytes",
    "logDiskBytes",
    "logLiveBytes",
    "chunks",
    "accounts",
    "slots",
    "codes",
    "backups",
    "tables",
    "rawBytes",
    "referencedBytes",
    "newChunks",
    "writtenBytes",
    "chunksRemoved",
    "bytesFreed",
];

/// The readable form of a document: aligned `key: value` lines, nested values indented,
/// quantities in decimal.
pub(crate) fn human(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Array(items) if items.is_empty() => out.push_str("(none)\n"),
        Value::Array(items) => human_items("", items, 0, &mut out),
        Value::Object(m) => human_object(m, 0, &mut out),
        other => {
            let _ = writeln!(out, "{}", scalar("", other));
        }
    }
    out
}

fn human_object(m: &Map<String, Value>, indent: usize, out: &mut String) {
    let width = m.keys().map(String::len).max().unwrap_or(0);
    let pad = " ".repeat(indent);
    for (k, v) in m {
        match v {
            Value::Object(inner) => {
                let _ = writeln!(out, "{pad}{k}:");
                human_object(inner, indent + 2, out);
            }
            Value::Array(items) if items.is_empty() => {
                let _ = writeln!(out, "{pad}{k:width$}: []");
            }
            Value::Array(items) => human_items(k, items, indent, out),
            _ => {
                let _ = writeln!(out, "{pad}{k:width$}: {}", scalar(k, v));
            }
        }
    }
}

/// The items of an array: scalars one per line, objects as numbered blocks.
fn human_items(key: &str, items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    if !key.is_empty() {
        let _ = writeln!(out, "{pad}{key}:");
    }
    for (i, item) in items.iter().enumerate() {
        human_item(key, i, item, indent, out);
    }
}

/// Item `i` of an array under `key`.
fn human_item(key: &str, i: usize, item: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(m) => {
            let _ = writeln!(out, "{pad}  [{i}]");
            human_object(m, indent + 4, out);
        }
        Value::Array(inner) => human_items(&format!("[{i}]"), inner, indent + 2, out),
        _ => {
            let _ = writeln!(out, "{pad}  {}", scalar(key, item));
        }
    }
}

fn scalar(key: &str, v: &Value) -> String {
    match v {
        Value::String(_) if DECIMAL_FIELDS.contains(&key) => decimal(v),
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// A quantity (`0x` hex) in decimal; anything else as it is.
pub(crate) fn decimal(v: &Value) -> String {
    let Some(s) = v.as_str() else { return v.to_string() };
    s.strip_prefix("0x")
        .and_then(|digits| U256::from_str_radix(digits, 16).ok())
        .map_or_else(|| s.to_string(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn human_form_aligns_keys_and_shows_decimal_quantities() {
        let v = json!({
            "number": "0x10",
            "stateRoot": "0xab",
            "to": null,
            "topics": ["0x01", "0x02"],
            "logs": [{ "address": "0xaa", "logIndex": "0xa" }],
            "empty": [],
        });
        let text = human(&v);
        let expected = "\
number   : 16
stateRoot: 0xab
to       : -
topics:
  0x01
  0x02
logs:
  [0]
    address : 0xaa
    logIndex: 10
empty    : []
";
        assert_eq!(text, expected);
        assert_eq!(human(&json!([])), "(none)\n");
    }
}
