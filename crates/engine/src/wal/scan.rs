//! Scanning one segment image: which records are good, where the data ends, and what kind of
//! damage (if any) follows. Pure functions over bytes, so the fuzz target drives them directly.

use super::format::{
    FrameError, RECORD_HEADER_LEN, Record, SEGMENT_HEADER_LEN, SegmentHeader, decode_record,
};

/// A good record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    /// Byte offset of the record header in the segment.
    pub offset: usize,
    /// Encoded length (header plus payload).
    pub len: usize,
    /// Sequence number.
    pub seq: u64,
}

/// How bad the damage after the last good record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// Bytes that do not form a good record and after which no good record follows: what an
    /// interrupted write leaves. Only a torn tail if it is in the last segment.
    Tail,
    /// Damage that cannot come from an interrupted append: a bad segment header, a good record
    /// with the wrong sequence number, or a good record after bad bytes.
    Hard,
}

/// Damage found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset where the good data ends.
    pub offset: usize,
    /// Sequence number the next record should have had, if known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub detail: String,
    /// Tail or hard damage.
    pub kind: DamageKind,
    /// One past the last non-zero byte of the segment (how far the damage reaches).
    pub dirty_end: usize,
    /// Good-looking records found after the damage (these would be dropped by a repair).
    pub later_records: u64,
}

/// The result of scanning one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The header, if it decoded.
    pub header: Option<SegmentHeader>,
    /// The good records, in order.
    pub records: Vec<RecordPos>,
    /// Offset one past the last good record (where the next append goes).
    pub end: usize,
    /// Damage after `end`, if any.
    pub damage: Option<Damage>,
}

impl SegmentScan {
    /// The sequence number of the last record in this segment and all before it.
    pub fn last_seq(&self) -> Option<u64> {
        match (self.records.last(), self.header) {
            (Some(r), _) => Some(r.seq),
            (None, Some(h)) => Some(h.first_seq - 1),
            (None, None) => None,
        }
    }

    /// The record at `pos` in `image` (the image this scan was made of).
    pub fn record<'a>(image: &'a [u8], pos: &RecordPos) -> Option<Record<'a>> {
        decode_record(&image[pos.offset..]).ok().flatten().map(|(r, _)| r)
    }
}

/// Scans a segment image. `number` is the segment number its file name gives; `prev_last` the
/// last sequence number of the previous segment, if there is one.
pub fn scan_segment(image: &[u8], number: u64, prev_last: Option<u64>) -> SegmentScan {
    let header = match check_header(image, number, prev_last) {
        Ok(h) => h,
        Err(detail) => {
            let damage = Damage {
                offset: 0,
                seq: prev_last.and_then(|p| p.checked_add(1)),
                detail,
                kind: DamageKind::Hard,
                dirty_end: dirty_end(image),
                later_records: 0,
            };
            return SegmentScan { header: None, records: Vec::new(), end: 0, damage: Some(damage) };
        }
    };
    // A segment file is created at its full length and never changes length: a shorter file was
    // cut (records may be missing without a trace), a longer one had bytes appended.
    let wrong_len = (image.len() as u64 != header.segment_len).then(|| {
        format!("segment file is {} bytes but was created with {}", image.len(), header.segment_len)
    });
    let image = &image[..image.len().min(header.segment_len as usize)];
    let mut records = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    let mut expected = header.first_seq;
    let damage = loop {
        match decode_record(&image[offset..]) {
            Ok(None) => break trailing_garbage(image, offset, expected),
            Ok(Some((rec, len))) if rec.seq == expected => {
                records.push(RecordPos { offset, len, seq: rec.seq });
                offset += len;
                // No record can follow the largest sequence number: what comes after it is the
                // end of the data or damage.
                let Some(next) = expected.checked_add(1) else {
                    break trailing_garbage(image, offset, expected);
                };
                expected = next;
            }
            Ok(Some((rec, _))) => {
                break Some(hard(
                    image,
                    offset,
                    expected,
                    format!("sequence gap: expected record {expected}, found {}", rec.seq),
                ));
            }
            Err(e) => break Some(tail(image, offset, expected, frame_detail(&e))),
        }
    };
    let damage = match (damage, wrong_len) {
        (d, None) => d,
        (Some(mut d), Some(len)) => {
            d.kind = DamageKind::Hard;
            d.detail = format!("{len}; {}", d.detail);
            Some(d)
        }
        (None, Some(len)) => Some(hard(image, offset, expected, len)),
    };
    SegmentScan { header: Some(header), records, end: offset, damage }
}

fn check_header(
    image: &[u8],
    number: u64,
    prev_last: Option<u64>,
) -> Result<SegmentHeader, String> {
    let header = SegmentHeader::decode(image).map_err(|e| format!("segment header: {e}"))?;
    if header.number != number {
        return Err(format!(
            "header names segment {} but the file is segment {number}",
            header.number
        ));
    }
    if header.first_seq <= header.prev_last_seq {
        return Err(format!(
            "header is inconsistent: first record {} not after previous {}",
            header.first_seq, header.prev_last_seq
        ));
    }
    match prev_last {
        Some(p) if p != header.prev_last_seq => Err(format!(
            "records missing: the previous segment ends at record {p} but this one continues \
             from record {}",
            header.prev_last_seq
        )),
        _ => Ok(header),
    }
}

fn frame_detail(e: &FrameError) -> String {
    format!("bad record: {e}")
}

/// After the end marker everything must be zero; anything else is treated like a torn write.
fn trailing_garbage(image: &[u8], offset: usize, expected: u64) -> Option<Damage> {
    let rest = &image[offset..];
    if rest.iter().all(|&b| b == 0) {
        return None;
    }
    Some(tail(image, offset, expected, "non-zero bytes after the end of the data".to_string()))
}

fn tail(image: &[u8], offset: usize, expected: u64, detail: String) -> Damage {
    let later = count_later_records(image, offset, expected);
    let (kind, detail) = match later {
        Later::Found(0) => (DamageKind::Tail, detail),
        Later::Found(n) => (
            DamageKind::Hard,
            format!("{detail}, followed by {n} good record(s): damage inside the log"),
        ),
        Later::Unknown(n) => (
            DamageKind::Hard,
            format!(
                "{detail}; the bytes after it look like records too often to rule out good \
                 records among them ({n} found before giving up)"
            ),
        ),
    };
    let later = match later {
        Later::Found(n) | Later::Unknown(n) => n,
    };
    Damage {
        offset,
        seq: Some(expected),
        detail,
        kind,
        dirty_end: dirty_end(image).max(offset),
        later_records: later,
    }
}

fn hard(image: &[u8], offset: usize, expected: u64, detail: String) -> Damage {
    let mut d = tail(image, offset, expected, detail);
    d.kind = DamageKind::Hard;
    d
}

fn dirty_end(image: &[u8]) -> usize {
    image.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// What the search for good records after damage found.
enum Later {
    /// This many.
    Found(u64),
    /// At least this many, but the search gave up (its checksum budget ran out).
    Unknown(u64),
}

/// Counts good records after `from`: records whose checksum holds and whose sequence number
/// is plausible for this log (at or after `expected`, within 2^32 of it). The plausibility check
/// keeps the scan linear on random garbage; a checksum budget of a few times the segment size
/// keeps it linear on crafted bytes that look like record headers everywhere.
fn count_later_records(image: &[u8], from: usize, expected: u64) -> Later {
    let mut budget = 4 * image.len() as u64 + (1 << 20);
    let mut count = 0;
    let mut at = from + 1;
    while at + RECORD_HEADER_LEN <= image.len() {
        let h = &image[at..];
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&h[9..17]);
        let seq = u64::from_le_bytes(seq_bytes);
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
        let fits = len + RECORD_HEADER_LEN as u64 <= h.len() as u64;
        let plausible = fits && h[8] != 0 && seq >= expected && seq - expected < (1 << 32);
        if plausible {
            budget = match budget.checked_sub(len + RECORD_HEADER_LEN as u64) {
                Some(b) => b,
                None => return Later::Unknown(count),
            };
            if let Ok(Some((_, len))) = decode_record(h) {
                count += 1;
                at += len;
                continue;
            }
        }
        at += 1;
    }
    Later::Found(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::format::encode_record;

    fn segment(records: &[(u64, &[u8])], size: usize) -> Vec<u8> {
        let first = records.first().map_or(1, |r| r.0);
        let mut img = SegmentHeader {
            number: 1,
            first_seq: first,
            prev_last_seq: first - 1,
            segment_len: size as u64,
        }
        .encode()
        .to_vec();
        for (seq, payload) in records {
            encode_record(&mut img, *seq, 1, payload);
        }
        img.resize(size, 0);
        img
    }

    #[test]
    fn clean_segment() {
        let img = segment(&[(1, b"a"), (2, b"bb"), (3, b"ccc")], 4096);
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 3);
        assert_eq!(scan.damage, None);
        assert_eq!(scan.last_seq(), Some(3));
    }

    #[test]
    fn torn_last_record_is_tail_damage() {
        let mut img = segment(&[(1, b"a"), (2, &[5u8; 64])], 4096);
        let end = SEGMENT_HEADER_LEN + 18;
        for b in &mut img[end + 30..end + 81] {
            *b = 0;
        }
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 1);
        let d = scan.damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Tail, end), "{}", d.detail);
    }

    #[test]
    fn bad_record_followed_by_good_one_is_hard() {
        let mut img = segment(&[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")], 4096);
        img[SEGMENT_HEADER_LEN + 21 + 17] ^= 0xff; // a payload byte of record 2
        let scan = scan_segment(&img, 1, None);
        let d = scan.damage.unwrap();
        assert_eq!(d.kind, DamageKind::Hard);
        assert_eq!(d.later_records, 1);
    }

    #[test]
    fn sequence_gap_is_hard() {
        let img = segment(&[(1, b"a"), (3, b"b")], 4096);
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!(d.kind, DamageKind::Hard);
        assert!(d.detail.contains("sequence gap"), "{}", d.detail);
    }

    #[test]
    fn missing_records_between_segments_are_hard() {
        let img = segment(&[(10, b"a")], 4096);
        let d = scan_segment(&img, 1, Some(7)).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, 0));
        assert!(d.detail.contains("records missing"), "{}", d.detail);
    }

    #[test]
    fn bad_header_after_the_largest_sequence_number_does_not_panic() {
        let scan = scan_segment(&[0xffu8; 100], 2, Some(u64::MAX));
        let d = scan.damage.unwrap();
        assert_eq!((d.kind, d.offset, d.seq), (DamageKind::Hard, 0, None));
    }

    #[test]
    fn record_with_the_largest_sequence_number_ends_the_segment() {
        let mut img =
            SegmentHeader { number: 1, first_seq: u64::MAX, prev_last_seq: 0, segment_len: 256 }
                .encode()
                .to_vec();
        encode_record(&mut img, u64::MAX, 1, b"last");
        img.resize(256, 0);
        let scan = scan_segment(&img, 1, None);
        assert_eq!((scan.records.len(), &scan.damage), (1, &None));
        assert_eq!(scan.last_seq(), Some(u64::MAX));
        // Nothing can follow it: a record after it is damage, not a wrapped-around successor.
        let end = scan.end;
        let mut next = Vec::new();
        encode_record(&mut next, 0, 1, b"wrapped");
        img[end..end + next.len()].copy_from_slice(&next);
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 1);
        assert!(scan.damage.is_some());
    }

    #[test]
    fn wrong_file_length_is_hard_damage() {
        let img = segment(&[(1, b"a"), (2, b"b")], 4096);
        let cut = &img[..SEGMENT_HEADER_LEN + 18];
        let d = scan_segment(cut, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, SEGMENT_HEADER_LEN + 18), "{}", d.detail);
        let mut longer = img.clone();
        longer.extend_from_slice(b"more");
        let scan = scan_segment(&longer, 1, None);
        assert_eq!(scan.records.len(), 2);
        assert_eq!(scan.damage.unwrap().kind, DamageKind::Hard);
    }

    #[test]
    fn crafted_record_lookalikes_cannot_make_the_scan_quadratic() {
        // A bad record followed by a plausible record header every 17 bytes, each claiming a
        // long payload: checking them all would cost (size / 17) * size checksum bytes.
        let size = 1 << 20;
        let mut img = segment(&[(1, b"a")], size);
        let start = SEGMENT_HEADER_LEN + 18;
        img[start] = 0xff;
        let mut at = start + 1;
        while at + 17 <= size {
            img[at + 4..at + 8].copy_from_slice(&((size - at - 17) as u32).to_le_bytes());
            img[at + 8] = 1;
            img[at + 9..at + 17].copy_from_slice(&2u64.to_le_bytes());
            at += 17;
        }
        let started = std::time::Instant::now();
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!(d.kind, DamageKind::Hard, "{}", d.detail);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn garbage_after_the_end_is_tail_damage() {
        let mut img = segment(&[(1, b"a")], 4096);
        img[4000] = 1;
        let scan = scan_segment(&img, 1, None);
        let d = scan.damage.unwrap();
        assert_eq!((d.kind, d.dirty_end), (DamageKind::Tail, 4001));
    }
}
