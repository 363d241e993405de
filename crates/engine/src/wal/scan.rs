//! Scanning one segment image: which records are good, where the data ends, and what kind of
//! damage (if any) follows. Pure functions over bytes, so the fuzz target drives them directly;
//! [`Scanner`] does the same scan on a segment whose bytes arrive in pieces, so that recovery
//! checks records while it reads the next ones, through a small buffer.

use super::format::{
    FrameError, RECORD_HEADER_LEN, Record, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader,
    checked_record, decode_record, decode_record_header, payload_of,
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

impl RecordPos {
    /// The record at this position, read from `bytes`, the bytes of the segment file from
    /// offset `base` on that the scan found it in (nothing is checked again).
    pub fn record<'a>(&self, bytes: &'a [u8], base: usize) -> Option<Record<'a>> {
        let at = self.offset.checked_sub(base)?;
        checked_record(bytes.get(at..at.checked_add(self.len)?)?)
    }
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
    /// The sequence number of the last record before the scanned records: `first_seq - 1` of a
    /// whole segment, the one before the start of a resumed scan ([`Scanner::resume`]); `None`
    /// if the header is bad.
    pub before: Option<u64>,
}

impl SegmentScan {
    /// The sequence number of the last record in this segment and all before it.
    pub fn last_seq(&self) -> Option<u64> {
        self.records.last().map(|r| r.seq).or(self.before)
    }

    /// The record at `pos` in `image` (the image this scan was made of).
    pub fn record<'a>(&self, image: &'a [u8], pos: &RecordPos) -> Option<Record<'a>> {
        let at = self.header?.at(pos.offset as u64);
        decode_record(&image[pos.offset..], at).ok().flatten().map(|(r, _)| r)
    }
}

/// The bytes of a segment file from offset `base` on, as far as they have been read: what the
/// scan decides on. Offsets are always those of the file.
#[derive(Debug, Clone, Copy)]
struct Window<'a> {
    bytes: &'a [u8],
    base: usize,
}

impl<'a> Window<'a> {
    /// The bytes from `offset` to the end of the window, if the window starts at or before it.
    fn from(&self, offset: usize) -> Option<&'a [u8]> {
        self.bytes.get(offset.checked_sub(self.base)?..)
    }

    /// The offset one past the window's last byte.
    fn end(&self) -> usize {
        self.base + self.bytes.len()
    }

    /// The window without the bytes at or past `limit`.
    fn until(self, limit: usize) -> Self {
        let len = self.bytes.len().min(limit.saturating_sub(self.base));
        Self { bytes: &self.bytes[..len], base: self.base }
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

/// The frame at `offset`, which the window must reach (see [`Scanner::frame_is_within`]).
fn frame(window: Window<'_>, header: &SegmentHeader, offset: usize) -> Frame {
    let buf = window.from(offset).unwrap_or_default();
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
    match Scanner::start(image, image.len(), number, prev_last) {
        Ok(scanner) => scanner.finish(image, 0),
        Err(detail) => {
            let damage = Damage {
                offset: 0,
                seq: prev_last.and_then(|p| p.checked_add(1)),
                detail,
                kind: DamageKind::Hard,
                dirty_end: dirty_end(Window { bytes: image, base: 0 }, 0),
                later_records: 0,
            };
            let damage = Some(damage);
            SegmentScan { header: None, records: Vec::new(), end: 0, damage, before: None }
        }
    }
}

/// A scan of one segment that checks its records as its bytes arrive, front to back, so that
/// reading a segment and checking it can overlap and the segment need not be in memory at once.
///
/// Each decision is made on exactly the bytes [`scan_segment`] decides on: a record is judged
/// only once all of it is there, and what follows the last good record only once everything
/// from there to the end of the file is. Fed a segment in pieces of any size, it finds what
/// `scan_segment` finds in the whole image (`scan_segment` is this scanner fed everything at
/// once).
#[derive(Debug, Clone)]
pub struct Scanner {
    header: SegmentHeader,
    /// The length of the segment file.
    file_len: usize,
    /// The bytes records can occupy: the file, but no more than the length it was created with.
    limit: usize,
    records: Vec<RecordPos>,
    /// Where the next record starts.
    offset: usize,
    /// The sequence number the next record must have.
    expected: u64,
    /// The sequence number of the last record before where the scan started.
    before: u64,
    /// Set once the good records have ended.
    stop: Option<Stop>,
}

/// Why the good records ended at the scanner's offset.
#[derive(Debug, Clone)]
struct Stop {
    /// Bytes before this belong to the frame at the offset; the search for good records after
    /// the damage starts here. `None`: damage that no interrupted write explains.
    judge_from: Option<usize>,
    detail: String,
}

impl Scanner {
    /// A scan of a whole segment whose file is `file_len` bytes long and starts with `head` (at
    /// least its header, or the whole file if shorter). Fails with what is wrong if the header is
    /// bad: [`scan_segment`] of the whole image then reports it.
    pub fn start(
        head: &[u8],
        file_len: usize,
        number: u64,
        prev_last: Option<u64>,
    ) -> Result<Self, String> {
        let header = check_header(head, number, prev_last)?;
        Ok(Self::resume(header, file_len, SEGMENT_HEADER_LEN, header.first_seq))
    }

    /// A scan of the segment with `header` (already checked) that starts at `offset`, where the
    /// record with sequence number `seq` starts: the records before it are neither checked nor
    /// returned, and the bytes before it are never needed.
    pub fn resume(header: SegmentHeader, file_len: usize, offset: usize, seq: u64) -> Self {
        Self {
            header,
            file_len,
            limit: file_len.min(usize::try_from(header.segment_len).unwrap_or(usize::MAX)),
            records: Vec::new(),
            offset,
            expected: seq,
            before: seq.saturating_sub(1),
            stop: None,
        }
    }

    /// The segment's header.
    pub fn header(&self) -> SegmentHeader {
        self.header
    }

    /// The good records found so far.
    pub fn records(&self) -> &[RecordPos] {
        &self.records
    }

    /// Where the next record starts (where the good records end, once they have): the bytes
    /// before it are not needed any more.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Checks the records that lie wholly within `bytes`, the bytes of the segment file from
    /// offset `base` on as far as they have been read (`base` at or before [`Scanner::offset`]).
    /// Returns whether the good records have ended: then only [`Scanner::finish`] is left.
    pub fn advance(&mut self, bytes: &[u8], base: usize) -> bool {
        debug_assert!(base <= self.offset, "the window starts after the scan");
        let window = Window { bytes, base }.until(self.limit);
        let whole = window.end() == self.limit;
        while self.stop.is_none() && (whole || self.frame_is_within(window)) {
            self.step(window);
        }
        self.stop.is_some()
    }

    /// The result, given `rest`: the bytes of the segment file from offset `base` (at or before
    /// [`Scanner::offset`]) to its end.
    pub fn finish(mut self, rest: &[u8], base: usize) -> SegmentScan {
        debug_assert!(base <= self.offset, "the window starts after the scan");
        let window = Window { bytes: rest, base }.until(self.limit);
        let stop = loop {
            match self.stop.take() {
                Some(stop) => break stop,
                None => self.step(window),
            }
        };
        let (header, offset, expected) = (self.header, self.offset, self.expected);
        let limit = self.limit;
        let damage = match stop.judge_from {
            Some(from) => judge(window, limit, &header, offset, from, expected, stop.detail),
            None => Some(hard(window, limit, &header, offset, expected, stop.detail)),
        };
        // A segment file is created at its full length and never changes length: a shorter file
        // was cut (records may be missing without a trace), a longer one had bytes appended.
        let wrong_len = (self.file_len as u64 != header.segment_len).then(|| {
            format!(
                "segment file is {} bytes but was created with {}",
                self.file_len, header.segment_len
            )
        });
        let damage = match (damage, wrong_len) {
            (d, None) => d,
            (Some(mut d), Some(len)) => {
                d.kind = DamageKind::Hard;
                d.detail = format!("{len}; {}", d.detail);
                Some(d)
            }
            (None, Some(len)) => Some(hard(window, limit, &header, offset, expected, len)),
        };
        SegmentScan {
            header: Some(header),
            records: self.records,
            end: offset,
            damage,
            before: Some(self.before),
        }
    }

    /// Whether the window holds all the bytes the decision at the current offset depends on: a
    /// record header and, if it passes its check, the whole record.
    fn frame_is_within(&self, window: Window<'_>) -> bool {
        let Some(buf) = window.from(self.offset) else { return false };
        match decode_record_header(buf, self.header.at(self.offset as u64)) {
            Ok(Some(h)) => h.record_len() <= buf.len(),
            _ => buf.len() >= RECORD_HEADER_LEN,
        }
    }

    /// Decides on the frame at the current offset: a good record, or the end of the good ones.
    fn step(&mut self, window: Window<'_>) {
        let (offset, expected) = (self.offset, self.expected);
        let stop = match frame(window, &self.header, offset) {
            Frame::End => Stop {
                judge_from: Some(offset + 1),
                detail: "non-zero bytes after the end of the data".into(),
            },
            Frame::BadHeader(e) => {
                Stop { judge_from: Some(offset + 1), detail: format!("bad record: {e}") }
            }
            Frame::Good(h) | Frame::BadPayload(h, _) if h.seq != expected => Stop {
                judge_from: None,
                detail: format!("sequence gap: expected record {expected}, found {}", h.seq),
            },
            Frame::Good(h) => {
                let len = h.record_len();
                self.records.push(RecordPos { offset, len, seq: h.seq });
                self.offset += len;
                // No record can follow the largest sequence number: what comes after it is the
                // end of the data or damage.
                match expected.checked_add(1) {
                    Some(next) => {
                        self.expected = next;
                        return;
                    }
                    None => Stop {
                        judge_from: Some(self.offset),
                        detail: "bytes after the largest sequence number".into(),
                    },
                }
            }
            // The header was written here and claims the record's extent; whatever its payload
            // holds (a cut, or bytes that look like records), only what lies beyond the extent
            // can tell a torn write from damage inside the log.
            Frame::BadPayload(h, e) => Stop {
                judge_from: Some(offset.saturating_add(h.record_len())),
                detail: format!("record {expected}: {e}"),
            },
        };
        self.stop = Some(stop);
    }
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
/// the log. `None` if there is nothing but zeros from `offset` on. The window reaches from at
/// or before `offset` to the end of the image, `limit` bytes (the segment's length at most).
fn judge(
    window: Window<'_>,
    limit: usize,
    header: &SegmentHeader,
    offset: usize,
    from: usize,
    expected: u64,
    detail: String,
) -> Option<Damage> {
    let dirty = dirty_end(window, offset);
    if dirty <= offset {
        return None;
    }
    let later = count_later_records(window, limit, header, from, dirty);
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
    window: Window<'_>,
    limit: usize,
    header: &SegmentHeader,
    offset: usize,
    expected: u64,
    detail: String,
) -> Damage {
    let dirty = dirty_end(window, offset);
    let (Later::Found(later_records) | Later::Unknown(later_records)) =
        count_later_records(window, limit, header, offset, dirty);
    Damage {
        offset,
        seq: Some(expected),
        detail,
        kind: DamageKind::Hard,
        dirty_end: dirty,
        later_records,
    }
}

/// One past the last non-zero byte of the window at or after `from`; `from` if there is none.
fn dirty_end(window: Window<'_>, from: usize) -> usize {
    let rest = window.from(from).unwrap_or_default();
    from + zero_tail_start(rest)
}

/// One past the last non-zero byte of `bytes` (0 if they are all zero).
pub(crate) fn zero_tail_start(bytes: &[u8]) -> usize {
    // Whole blocks first, with a test the compiler vectorizes: the zero tail of a segment is
    // most of it when the segment is new.
    const BLOCK: usize = 4096;
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let block = &bytes[start..end];
        if block.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            return start + block.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        }
        end = start;
    }
    0
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
/// records the log wrote, and the search is linear; a budget of a few times the image's length
/// (`limit`) bounds it even against a 2^-32 coincidence per offset.
fn count_later_records(
    window: Window<'_>,
    limit: usize,
    header: &SegmentHeader,
    from: usize,
    dirty: usize,
) -> Later {
    let mut budget = 4 * limit as u64 + (1 << 20);
    let mut count = 0;
    let mut at = from;
    while at < dirty {
        let buf = window.from(at).unwrap_or_default();
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
pub(super) mod tests {
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

    pub(in crate::wal) fn segment(records: &[(u64, &[u8])], size: usize) -> Vec<u8> {
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

    /// Feeds `image` to a [`Scanner`] in pieces of `piece` bytes.
    fn scan_in_pieces(image: &[u8], prev_last: Option<u64>, piece: usize) -> SegmentScan {
        let head = image.len().min(piece.max(SEGMENT_HEADER_LEN));
        let Ok(mut scanner) = Scanner::start(&image[..head], image.len(), 1, prev_last) else {
            return scan_segment(image, 1, prev_last);
        };
        // A window that drops what the scanner has passed and grows by `piece` bytes a time.
        let (mut base, mut have) = (0, head);
        while have < image.len() && !scanner.advance(&image[base..have], base) {
            base = scanner.offset().min(have);
            have = (have + piece).min(image.len());
        }
        let rest = scanner.offset().min(image.len());
        scanner.finish(&image[rest..], rest)
    }

    /// Segments of 4 KiB, clean and damaged in every way the scan tells apart.
    pub(in crate::wal) fn damaged_images() -> Vec<Vec<u8>> {
        let clean = segment(&[(1, b"a"), (2, &[7u8; 300]), (3, b"ccc")], 4096);
        let mut torn = segment(&[(1, b"a"), (2, &[5u8; 64])], 4096);
        torn[SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 31..][..55].fill(0);
        let mut bad_payload = segment(&[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")], 4096);
        bad_payload[SEGMENT_HEADER_LEN + 25 + RECORD_HEADER_LEN] ^= 0xff;
        let mut bad_header = bad_payload.clone();
        bad_header[SEGMENT_HEADER_LEN + 25 + RECORD_HEADER_LEN] ^= 0xff;
        bad_header[SEGMENT_HEADER_LEN + 25 + 5] ^= 0x01;
        let mut garbage = clean.clone();
        garbage[4000] = 1;
        let gap = segment(&[(1, b"a"), (3, b"b")], 4096);
        let cut = clean[..SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 100].to_vec();
        let mut longer = clean.clone();
        longer.extend_from_slice(b"more");
        let mut bad_segment_header = clean.clone();
        bad_segment_header[3] ^= 1;
        vec![clean, torn, bad_payload, bad_header, garbage, gap, cut, longer, bad_segment_header]
    }

    #[test]
    fn a_segment_scanned_in_pieces_gives_the_whole_scan() {
        for (i, image) in damaged_images().iter().enumerate() {
            let whole = scan_segment(image, 1, None);
            for piece in [1, 2, 7, 20, 21, 22, 57, 100, 333, 4096, 1 << 20] {
                assert_eq!(
                    scan_in_pieces(image, None, piece),
                    whole,
                    "image {i}, pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn a_resumed_scan_finds_the_records_from_its_start() {
        let img = segment(&[(5, b"a"), (6, &[7u8; 300]), (7, b"ccc")], 4096);
        let h = SegmentHeader::decode(&img).unwrap();
        let whole = scan_segment(&img, 1, None);
        let second = whole.records[1];
        // The bytes before the start are not looked at.
        let mut image = img.clone();
        image[SEGMENT_HEADER_LEN..second.offset].fill(0xee);
        let resumed = Scanner::resume(h, img.len(), second.offset, 6).finish(&image, 0);
        assert_eq!(resumed.records, whole.records[1..]);
        assert_eq!((resumed.end, &resumed.damage), (whole.end, &whole.damage));
        assert_eq!(resumed.last_seq(), Some(7));
        // Resumed at a record whose payload is bad: nothing good, and the last good record is
        // the one before the start.
        image[second.offset + RECORD_HEADER_LEN] ^= 1;
        let from = second.offset;
        let torn = Scanner::resume(h, img.len(), from, 6).finish(&image[from..], from);
        assert_eq!((torn.records.len(), torn.last_seq()), (0, Some(5)));
        assert_eq!(torn.damage.unwrap().kind, DamageKind::Hard, "a good record follows");
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
