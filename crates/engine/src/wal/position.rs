//! Where records are in the log. The writer remembers where some of its records start, so that
//! the owner of the log can store, with its checkpoint, a place from which a reader that needs
//! only the records after the checkpoint can start reading (see `docs/recovery.md`).

use std::collections::VecDeque;

/// Where the record with sequence number `seq` starts: byte `offset` of segment `segment`.
///
/// Only a hint to whoever reads it back: a reader checks that a record with that sequence
/// number passes its header check there (which is keyed by the segment's salt and the offset)
/// before it trusts it, and reads the whole log otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The segment number.
    pub segment: u64,
    /// The byte offset of the record header in the segment file.
    pub offset: u64,
    /// The record's sequence number.
    pub seq: u64,
}

impl LogPosition {
    /// The encoded size: a version byte (1), then segment, offset and sequence number, each a
    /// big-endian u64.
    pub const ENCODED_LEN: usize = 25;
    const VERSION: u8 = 1;

    /// The bytes stored beside a checkpoint.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0] = Self::VERSION;
        out[1..9].copy_from_slice(&self.segment.to_be_bytes());
        out[9..17].copy_from_slice(&self.offset.to_be_bytes());
        out[17..25].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// Decodes [`LogPosition::encode`]'s bytes; `None` for anything else (another version or
    /// length), which a reader treats as no hint.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        if bytes[0] != Self::VERSION {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        Some(Self { segment: u64_at(1), offset: u64_at(9), seq: u64_at(17) })
    }
}

/// The writer's memory of record positions: the newest record, and one record per
/// [`MARK_SPACING`] bytes of each live segment (a few dozen per 64 MiB segment).
#[derive(Debug, Default)]
pub(super) struct Marks {
    marks: VecDeque<LogPosition>,
    newest: Option<LogPosition>,
}

/// Bytes of log between two remembered positions: a reader starting from the nearest one
/// before its checkpoint reads at most about this much that it does not need.
const MARK_SPACING: u64 = 1 << 20;

impl Marks {
    /// Notes that a record starts at `pos` (called for every record, in log order).
    pub(super) fn note(&mut self, pos: LogPosition) {
        let far = self
            .marks
            .back()
            .is_none_or(|m| m.segment != pos.segment || pos.offset >= m.offset + MARK_SPACING);
        if far {
            self.marks.push_back(pos);
        }
        self.newest = Some(pos);
    }

    /// The known position of the newest record with a sequence number at or below `seq`.
    pub(super) fn at_or_before(&self, seq: u64) -> Option<LogPosition> {
        if let Some(newest) = self.newest.filter(|n| n.seq <= seq) {
            return Some(newest);
        }
        let i = self.marks.partition_point(|m| m.seq <= seq);
        i.checked_sub(1).map(|i| self.marks[i])
    }

    /// Forgets the positions in segments before `segment` (removed by truncation).
    pub(super) fn forget_before(&mut self, segment: u64) {
        while self.marks.front().is_some_and(|m| m.segment < segment) {
            self.marks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_refuses_other_versions() {
        let pos = LogPosition { segment: 3, offset: 1 << 40, seq: u64::MAX };
        assert_eq!(LogPosition::decode(&pos.encode()), Some(pos));
        let mut other = pos.encode();
        other[0] = 2;
        assert_eq!(LogPosition::decode(&other), None);
        assert_eq!(LogPosition::decode(&pos.encode()[..24]), None);
    }

    #[test]
    fn marks_give_the_nearest_known_record_at_or_before() {
        let mut marks = Marks::default();
        assert_eq!(marks.at_or_before(10), None);
        let at = |segment, offset, seq| LogPosition { segment, offset, seq };
        for seq in 1..=100u64 {
            // 100 KiB records, 10 to a segment.
            let (segment, offset) = ((seq - 1) / 10 + 1, 56 + (seq - 1) % 10 * 100_000);
            marks.note(at(segment, offset, seq));
        }
        assert_eq!(marks.at_or_before(100), Some(at(10, 56 + 9 * 100_000, 100)));
        assert_eq!(marks.at_or_before(u64::MAX), Some(at(10, 56 + 9 * 100_000, 100)));
        // One mark per segment here (the spacing is more than a segment's records).
        assert_eq!(marks.at_or_before(57), Some(at(6, 56, 51)));
        assert_eq!(marks.at_or_before(0), None);
        marks.forget_before(6);
        assert_eq!(marks.at_or_before(50), None);
        assert_eq!(marks.at_or_before(61), Some(at(7, 56, 61)));
    }
}
