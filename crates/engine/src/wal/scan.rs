//! Scanning one segment image: which records are good, where the data ends, and what kind of
//! damage (if any) follows. Pure functions over bytes, so the fuzz target drives them directly.

use super::format::{
    FrameError, Record, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader, decode_record,
    decode_record_header, payload_of,
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
    /// Good records found after the damage (these would be dropped by a repair).
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
    pub fn record<'a>(&self, image: &'a [u8], pos: &RecordPos) -> Option<Record<'a>> {
        let at = self.header?.at(pos.offset as u64);
        decode_record(&image[pos.offset..], at).ok().flatten().map(|(r, _)| r)
    }
}

/// What the bytes at one offset of a segment are.
enum Frame {
    /// The end-of-data marker.
    End,
    /// A whole record.
    Good(RecordHeader),
    /// A header whose check holds, so it was written here, but whose payload is cut short or
    /// fails its checksum: a torn record (or damage) whose extent the header gives.
    BadPayload(RecordHeader, FrameError),
    /// No header written here: torn, damaged, or not a record at all.
    BadHeader(FrameError),
}

fn frame(image: &[u8], header: &SegmentHeader, offset: usize) -> Frame {
    let buf = &image[offset..];
    match decode_record_header(buf, header.at(offset as u64)) {
        Ok(None) => Frame::End,
        Ok(Some(h)) => match payload_of(buf, &h) {
            Ok(_) => Frame::Good(h),
            Err(e) => Frame::BadPayload(h, e),
        },
        Err(e) => Frame::BadHeader(e),
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
        match frame(image, &header, offset) {
            Frame::End => {
                let detail = "non-zero bytes after the end of the data".to_string();
                break judge(image, &header, offset, offset + 1, expected, detail);
            }
            Frame::BadHeader(e) => {
                let detail = format!("bad record: {e}");
                break judge(image, &header, offset, offset + 1, expected, detail);
            }
            Frame::Good(h) | Frame::BadPayload(h, _) if h.seq != expected => {
                let detail = format!("sequence gap: expected record {expected}, found {}", h.seq);
                break Some(hard(image, &header, offset, expected, detail));
            }
            Frame::Good(h) => {
                let len = h.record_len();
                records.push(RecordPos { offset, len, seq: h.seq });
                offset += len;
                // No record can follow the largest sequence number: what comes after it is the
                // end of the data or damage.
                let Some(next) = expected.checked_add(1) else {
                    let detail = "bytes after the largest sequence number".to_string();
                    break judge(image, &header, offset, offset, expected, detail);
                };
                expected = next;
            }
            Frame::BadPayload(h, e) => {
                // The header was written here and claims the record's extent; whatever its
                // payload holds (a cut, or bytes that look like records), only what lies beyond
                // the extent can tell a torn write from damage inside the log.
                let extent_end = offset.saturating_add(h.record_len());
                let detail = format!("record {expected}: {e}");
                break judge(image, &header, offset, extent_end, expected, detail);
            }
        }
    };
    let damage = match (damage, wrong_len) {
        (d, None) => d,
        (Some(mut d), Some(len)) => {
            d.kind = DamageKind::Hard;
            d.detail = format!("{len}; {}", d.detail);
            Some(d)
        }
        (None, Some(len)) => Some(hard(image, &header, offset, expected, len)),
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
    if header.segment_len < SEGMENT_HEADER_LEN as u64 {
        return Err(format!(
            "header is inconsistent: segment length {} is shorter than the header",
            header.segment_len
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

/// The data ends at `offset` without a good record there. Bytes before `from` belong to the
/// record (or marker) at `offset`; beyond it, anything but zeros is judged: no good record after
/// it is what an interrupted write leaves (tail damage), a good record after it is damage inside
/// the log. `None` if there is nothing but zeros from `offset` on.
fn judge(
    image: &[u8],
    header: &SegmentHeader,
    offset: usize,
    from: usize,
    expected: u64,
    detail: String,
) -> Option<Damage> {
    let dirty = dirty_end(image);
    if dirty <= offset {
        return None;
    }
    let later = count_later_records(image, header, from, dirty);
    let (kind, detail) = match later {
        Later::Found(0) => (DamageKind::Tail, detail),
        Later::Found(n) => (
            DamageKind::Hard,
            format!("{detail}, followed by {n} good record(s): damage inside the log"),
        ),
        Later::Unknown(n) => (
            DamageKind::Hard,
            format!(
                "{detail}; the bytes after it hold too many valid record headers to check them \
                 all ({n} good records found before giving up)"
            ),
        ),
    };
    let (Later::Found(later_records) | Later::Unknown(later_records)) = later;
    Some(Damage { offset, seq: Some(expected), detail, kind, dirty_end: dirty, later_records })
}

/// Damage that no interrupted write explains, at `offset`; the good records from there on are
/// counted for the report of a repair.
fn hard(
    image: &[u8],
    header: &SegmentHeader,
    offset: usize,
    expected: u64,
    detail: String,
) -> Damage {
    let dirty = dirty_end(image).max(offset);
    let (Later::Found(later_records) | Later::Unknown(later_records)) =
        count_later_records(image, header, offset, dirty);
    Damage {
        offset,
        seq: Some(expected),
        detail,
        kind: DamageKind::Hard,
        dirty_end: dirty,
        later_records,
    }
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

/// Counts good records starting in `from..dirty`: records whose header check holds at their
/// offset and whose payload checksum holds. Only headers written at their offset pass the check
/// (it is keyed by the segment's salt and the offset), so payload checksums are computed only for
/// records the log wrote, and the search is linear; a budget of a few times the segment size
/// bounds it even against a 2^-32 coincidence per offset.
fn count_later_records(image: &[u8], header: &SegmentHeader, from: usize, dirty: usize) -> Later {
    let mut budget = 4 * image.len() as u64 + (1 << 20);
    let mut count = 0;
    let mut at = from;
    while at < dirty {
        let buf = &image[at..];
        if let Ok(Some(h)) = decode_record_header(buf, header.at(at as u64)) {
            budget = match budget.checked_sub(u64::from(h.len)) {
                Some(b) => b,
                None => return Later::Unknown(count),
            };
            if payload_of(buf, &h).is_ok() {
                count += 1;
            }
            if h.record_len() <= buf.len() {
                at += h.record_len();
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
    use crate::wal::format::{Position, RECORD_HEADER_LEN, encode_record};

    const SALT: u32 = 0x5eed_0001;

    fn header(first_seq: u64, size: usize) -> SegmentHeader {
        SegmentHeader {
            number: 1,
            first_seq,
            prev_last_seq: first_seq - 1,
            segment_len: size as u64,
            salt: SALT,
        }
    }

    fn push(img: &mut Vec<u8>, h: &SegmentHeader, seq: u64, payload: &[u8]) {
        let at = h.at(img.len() as u64);
        encode_record(img, at, seq, 1, payload);
    }

    fn segment(records: &[(u64, &[u8])], size: usize) -> Vec<u8> {
        let h = header(records.first().map_or(1, |r| r.0), size);
        let mut img = h.encode().to_vec();
        for (seq, payload) in records {
            push(&mut img, &h, *seq, payload);
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
        let end = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1;
        img[end + 30..end + 85].fill(0);
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 1);
        let d = scan.damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Tail, end), "{}", d.detail);
    }

    /// The failure CI saw: a record torn in the middle of a large payload full of small numbers,
    /// which the old scan read as record headers claiming long extents until its budget ran out.
    #[test]
    fn torn_record_full_of_header_lookalikes_is_tail_damage() {
        let size = 8 << 20;
        let h = header(18, size);
        let mut img = h.encode().to_vec();
        push(&mut img, &h, 18, b"acknowledged");
        let torn_at = img.len();
        // Every 21 bytes: a header claiming the expected sequence number and most of the segment.
        let mut payload = Vec::new();
        while payload.len() < 2 << 20 {
            let claim = (size - torn_at - payload.len() - 64) as u32;
            payload.extend_from_slice(&[0xab; 4]);
            payload.extend_from_slice(&claim.to_le_bytes());
            payload.push(1);
            payload.extend_from_slice(&19u64.to_le_bytes());
            payload.extend_from_slice(&[0xcd; 4]);
        }
        push(&mut img, &h, 19, &payload);
        img.resize(size, 0);
        img[torn_at + (1 << 20)..torn_at + RECORD_HEADER_LEN + payload.len()].fill(0);
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 1);
        let d = scan.damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Tail, torn_at), "{}", d.detail);
    }

    /// Even a payload holding a record that is valid where it lies (sealed with the segment's
    /// salt for that very offset) cannot make a torn record look like damage inside the log: the
    /// torn record's header claims the bytes, and only what lies beyond them is judged.
    #[test]
    fn a_record_inside_a_torn_records_extent_is_not_judged() {
        let h = header(1, 4096);
        let mut img = h.encode().to_vec();
        push(&mut img, &h, 1, b"acknowledged");
        let torn_at = img.len();
        let inner_at = torn_at + RECORD_HEADER_LEN + 8;
        let mut inner = Vec::new();
        encode_record(&mut inner, h.at(inner_at as u64), 3, 1, b"forged with the salt");
        let mut payload = vec![7u8; 8];
        payload.extend_from_slice(&inner);
        payload.extend_from_slice(&[9u8; 100]);
        push(&mut img, &h, 2, &payload);
        img.resize(4096, 0);
        let cut = torn_at + RECORD_HEADER_LEN + payload.len() - 50;
        img[cut..].fill(0);
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Tail, torn_at), "{}", d.detail);
        // Without its header the torn record claims nothing, and the forged record is judged.
        img[torn_at..torn_at + RECORD_HEADER_LEN].fill(0);
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.later_records), (DamageKind::Hard, 1), "{}", d.detail);
    }

    #[test]
    fn bad_payload_followed_by_good_record_is_hard() {
        let mut img = segment(&[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")], 4096);
        img[SEGMENT_HEADER_LEN + 25 + RECORD_HEADER_LEN] ^= 0xff; // a payload byte of record 2
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, SEGMENT_HEADER_LEN + 25));
        assert_eq!(d.later_records, 1);
    }

    #[test]
    fn bad_header_followed_by_good_record_is_hard() {
        let mut img = segment(&[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")], 4096);
        img[SEGMENT_HEADER_LEN + 25 + 5] ^= 0x01; // the length of record 2
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, SEGMENT_HEADER_LEN + 25));
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
    fn header_claiming_a_length_shorter_than_itself_is_hard() {
        let h = SegmentHeader { segment_len: 10, ..header(1, 4096) };
        let mut img = h.encode().to_vec();
        img.resize(4096, 0);
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, 0), "{}", d.detail);
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
        let h = SegmentHeader { first_seq: u64::MAX, prev_last_seq: 0, ..header(1, 256) };
        let mut img = h.encode().to_vec();
        push(&mut img, &h, u64::MAX, b"last");
        img.resize(256, 0);
        let scan = scan_segment(&img, 1, None);
        assert_eq!((scan.records.len(), &scan.damage), (1, &None));
        assert_eq!(scan.last_seq(), Some(u64::MAX));
        // Nothing can follow it: a record after it is damage, not a wrapped-around successor.
        let end = scan.end;
        let mut next = Vec::new();
        encode_record(&mut next, h.at(end as u64), 0, 1, b"wrapped");
        img[end..end + next.len()].copy_from_slice(&next);
        let scan = scan_segment(&img, 1, None);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.damage.unwrap().kind, DamageKind::Hard);
    }

    #[test]
    fn wrong_file_length_is_hard_damage() {
        let img = segment(&[(1, b"a"), (2, b"b")], 4096);
        let first_end = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1;
        let d = scan_segment(&img[..first_end], 1, None).damage.unwrap();
        assert_eq!((d.kind, d.offset), (DamageKind::Hard, first_end), "{}", d.detail);
        let mut longer = img.clone();
        longer.extend_from_slice(b"more");
        let scan = scan_segment(&longer, 1, None);
        assert_eq!(scan.records.len(), 2);
        assert_eq!(scan.damage.unwrap().kind, DamageKind::Hard);
    }

    #[test]
    fn crafted_record_lookalikes_cannot_make_the_scan_slow() {
        // A bad record followed by a record header every 21 bytes, each claiming a long payload
        // and carrying a checksum computed without the segment's salt: none passes the header
        // check, so no payload checksum is computed.
        let size = 1 << 20;
        let mut img = segment(&[(1, b"a")], size);
        let start = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1;
        img[start] = 0xff;
        let mut at = start + 1;
        while at + RECORD_HEADER_LEN <= size {
            let mut fake = Vec::new();
            let other = Position { salt: SALT ^ 1, offset: at as u64 };
            encode_record(&mut fake, other, 2, 1, &[]);
            fake[4..8].copy_from_slice(&((size - at - RECORD_HEADER_LEN) as u32).to_le_bytes());
            img[at..at + RECORD_HEADER_LEN].copy_from_slice(&fake);
            at += RECORD_HEADER_LEN;
        }
        let started = std::time::Instant::now();
        let d = scan_segment(&img, 1, None).damage.unwrap();
        assert_eq!(d.kind, DamageKind::Tail, "{}", d.detail);
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
