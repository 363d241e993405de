//! The lines a torture child prints on stdout, one per event, flushed at once: the parent
//! treats every complete `ack` line as an acknowledgement and the last `begin` without one as
//! the operation in flight when the child was killed.

use std::fmt;

use alloy_primitives::B256;
use anyhow::{Context as _, anyhow, bail};

/// An operation of the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// Committing block `number` with hash `hash`; `large` if its write set is over 1 MiB.
    Block { number: u64, hash: B256, large: bool },
    /// Unwinding to block `to`.
    Unwind { to: u64 },
    /// Pruning the state history of all but the last `keep` blocks (receipts and the
    /// transaction index keep at least as many).
    Prune { keep: u64 },
    /// Compacting the backend.
    Compact,
}

/// One line of the child's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The store is open (recovery is done).
    Opened,
    /// An operation starts.
    Begin(Op),
    /// Block `number` is durable, with state root `root`.
    Committed { number: u64, hash: B256, root: B256 },
    /// The unwind to block `to` is durable.
    Unwound { to: u64 },
    /// The prune is done; the state history now starts at block `oldest`.
    Pruned { keep: u64, oldest: u64 },
    /// The compaction is done.
    Compacted,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Block { number, hash, large } => {
                write!(f, "block {number} {hash} {}", if *large { "large" } else { "small" })
            }
            Op::Unwind { to } => write!(f, "unwind {to}"),
            Op::Prune { keep } => write!(f, "prune {keep}"),
            Op::Compact => write!(f, "compact"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Opened => write!(f, "opened"),
            Event::Begin(op) => write!(f, "begin {op}"),
            Event::Committed { number, hash, root } => {
                write!(f, "ack block {number} {hash} {root}")
            }
            Event::Unwound { to } => write!(f, "ack unwind {to}"),
            Event::Pruned { keep, oldest } => write!(f, "ack prune {keep} {oldest}"),
            Event::Compacted => write!(f, "ack compact"),
        }
    }
}

impl Event {
    /// Parses a line as [`Display`](fmt::Display) writes it.
    pub(super) fn parse(line: &str) -> anyhow::Result<Self> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| -> anyhow::Result<u64> {
            let w = words.get(i).ok_or_else(|| anyhow!("too few words"))?;
            w.parse().with_context(|| format!("{w:?} is not a number"))
        };
        let hash = |i: usize| -> anyhow::Result<B256> {
            let w = words.get(i).ok_or_else(|| anyhow!("too few words"))?;
            w.parse().with_context(|| format!("{w:?} is not a hash"))
        };
        let event = match words.as_slice() {
            ["opened"] => Event::Opened,
            ["begin", "block", _, _, size @ ("large" | "small")] => Event::Begin(Op::Block {
                number: number(2)?,
                hash: hash(3)?,
                large: *size == "large",
            }),
            ["begin", "unwind", _] => Event::Begin(Op::Unwind { to: number(2)? }),
            ["begin", "prune", _] => Event::Begin(Op::Prune { keep: number(2)? }),
            ["begin", "compact"] => Event::Begin(Op::Compact),
            ["ack", "block", _, _, _] => {
                Event::Committed { number: number(2)?, hash: hash(3)?, root: hash(4)? }
            }
            ["ack", "unwind", _] => Event::Unwound { to: number(2)? },
            ["ack", "prune", _, _] => Event::Pruned { keep: number(2)?, oldest: number(3)? },
            ["ack", "compact"] => Event::Compacted,
            _ => bail!("unknown event"),
        };
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back() {
        let (hash, root) = (B256::repeat_byte(0xab), B256::repeat_byte(0x01));
        let events = [
            Event::Opened,
            Event::Begin(Op::Block { number: 7, hash, large: true }),
            Event::Begin(Op::Block { number: 0, hash, large: false }),
            Event::Begin(Op::Unwind { to: 3 }),
            Event::Begin(Op::Prune { keep: 4 }),
            Event::Begin(Op::Compact),
            Event::Committed { number: 7, hash, root },
            Event::Unwound { to: 3 },
            Event::Pruned { keep: 4, oldest: 12 },
            Event::Compacted,
        ];
        for event in events {
            assert_eq!(Event::parse(&event.to_string()).unwrap(), event, "{event}");
        }
        for bad in ["", "ack", "ack block 1 2 3", "begin block 1 0x00 huge", "ack unwind x"] {
            assert!(Event::parse(bad).is_err(), "{bad:?}");
        }
    }
}
